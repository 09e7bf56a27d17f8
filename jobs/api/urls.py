"""Routes under /api/v1. Literal /jobs/... routes come before /jobs/<id> routes they could
be mistaken for (jobs/dlq/retry before jobs/<id>/retry). Django tries the patterns in
order on every request: the worker's hot routes come first.
"""

from django.urls import path

from jobs.api import batch, operator, producer, queues, worker, workers

J = "jobs/<str:job_id>"

urlpatterns = [
    # Hot: what workers and producers call for every job.
    path("spaces/<str:space_id>/jobs/poll", worker.PollView.as_view()),
    path(f"{J}/ack", worker.AckView.as_view()),
    path(f"{J}/complete", worker.CompleteView.as_view()),
    path("jobs/claim", worker.ClaimView.as_view()),
    path("spaces/<str:space_id>/jobs/ack", batch.BatchAckView.as_view()),
    path("spaces/<str:space_id>/jobs/complete", batch.BatchCompleteView.as_view()),
    path("spaces/<str:space_id>/jobs", producer.JobsView.as_view()),
    path("spaces/<str:space_id>/jobs/bulk", producer.JobBulkView.as_view()),
    path(f"{J}/fail", worker.FailView.as_view()),
    path(f"{J}/progress", worker.ProgressView.as_view()),
    path(f"{J}/keepalive", worker.KeepaliveView.as_view()),
    path(f"{J}/heartbeat", worker.KeepaliveView.as_view()),
    # The rest.
    path("jobs", producer.JobsView.as_view()),
    path("jobs/bulk", producer.JobBulkView.as_view()),
    path("jobs/status", producer.JobStatusBatchView.as_view()),
    path("jobs/stats", operator.StatsView.as_view()),
    path("jobs/dlq", operator.DlqListView.as_view()),
    path("jobs/dlq/retry", operator.DlqRetryView.as_view()),
    path("jobs/dlq/purge", operator.DlqPurgeView.as_view()),
    path(J, producer.JobDetailView.as_view()),
    path(f"{J}/events", producer.JobEventsView.as_view()),
    path(f"{J}/history", producer.JobEventsView.as_view(http_method_names=["get", "options"])),
    path(f"{J}/cancel", producer.JobCancelView.as_view()),
    path(f"{J}/claim", worker.ClaimOneView.as_view()),
    path(f"{J}/checkpoint", worker.CheckpointView.as_view()),
    path(f"{J}/kill", operator.KillView.as_view()),
    path(f"{J}/retry", operator.RetryView.as_view()),
    path(f"{J}/priority", operator.PriorityView.as_view()),
    path("queues", queues.QueuesView.as_view()),
    path("queues/<str:name>", queues.QueueDetailView.as_view()),
    path("queues/<str:name>/config", queues.QueueConfigView.as_view()),
    path("queues/<str:name>/stats", queues.QueueStatsView.as_view()),
    path("queues/<str:name>/pause", queues.QueuePauseView.as_view()),
    path("queues/<str:name>/resume", queues.QueueResumeView.as_view()),
    path("workers", workers.WorkersView.as_view()),
    path("workers/register", workers.WorkerRegisterView.as_view()),
    path("workers/<str:worker_id>", workers.WorkerDetailView.as_view()),
    path("workers/<str:worker_id>/heartbeat", workers.WorkerHeartbeatView.as_view()),
    path("workers/<str:worker_id>/deregister", workers.WorkerDeregisterView.as_view()),
]
