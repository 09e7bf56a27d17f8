"""Dashboard pages of one space's jobs: overview, jobs table, job page, dead letters.
Mounted under o/<org>/s/<space>/."""

from django.urls import path

from jobs.views import dead, detail, jobs, overview

app_name = "jobs"

urlpatterns = [
    path("", overview.overview, name="overview"),
    path("overview/counts/", overview.overview_counts, name="overview-counts"),
    path("overview/queues/", overview.overview_queues, name="overview-queues"),
    path("overview/charts.json", overview.overview_charts, name="overview-charts"),
    path("queues/<str:name>/pause/", overview.queue_pause, name="queue-pause"),
    path("queues/<str:name>/resume/", overview.queue_resume, name="queue-resume"),
    path("jobs/", jobs.job_list, name="list"),
    path("jobs/bulk/", jobs.job_bulk, name="bulk"),
    path("jobs/<uuid:job_id>/", detail.job_detail, name="detail"),
    path("jobs/<uuid:job_id>/kill/", detail.job_kill, name="kill"),
    path("jobs/<uuid:job_id>/retry/", detail.job_retry, name="retry"),
    path("jobs/<uuid:job_id>/cancel/", detail.job_cancel, name="cancel"),
    path("dead/", dead.dead_letters, name="dead"),
    path("dead/retry/", dead.dead_retry, name="dead_retry"),
    path("dead/purge/", dead.dead_purge, name="dead_purge"),
]
