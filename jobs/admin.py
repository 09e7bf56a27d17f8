"""Admin for jobs, events, queues and workers. Jobs are read-only here: the only writer of
a job is the lifecycle, which the actions below call.
"""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from emitrun.errors import DomainError
from jobs import lifecycle, queues
from jobs.models import Job, JobEvent, Queue, Worker


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


def _each(request: HttpRequest, jobs: QuerySet[Job], action: str) -> None:
    actor = lifecycle.Actor.user(request.user)
    done = 0
    for job in jobs.select_related("space"):
        try:
            getattr(lifecycle, action)(job, actor=actor)
            done += 1
        except DomainError as exc:
            messages.warning(request, f"{job.id}: {exc.message}")
    messages.info(request, f"{action}: {done} job(s)")


@admin.action(description="Kill selected jobs")
def kill_jobs(modeladmin: admin.ModelAdmin, request: HttpRequest, jobs: QuerySet[Job]) -> None:
    _each(request, jobs, "kill")


@admin.action(description="Retry selected jobs (dead, killed or cancelled)")
def retry_jobs(modeladmin: admin.ModelAdmin, request: HttpRequest, jobs: QuerySet[Job]) -> None:
    _each(request, jobs, "retry")


@admin.action(description="Cancel selected jobs (scheduled or pending)")
def cancel_jobs(modeladmin: admin.ModelAdmin, request: HttpRequest, jobs: QuerySet[Job]) -> None:
    _each(request, jobs, "cancel")


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "name",
        "status",
        "space",
        "priority",
        "attempts",
        "retry_count",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status"]
    search_fields = ["=id", "name", "idempotency_key"]
    raw_id_fields = ["space"]
    exclude = ["callback_headers", "callback_secret"]  # may hold secrets
    actions = [kill_jobs, retry_jobs, cancel_jobs]
    show_full_result_count = False  # no COUNT(*) over millions of rows


@admin.register(JobEvent)
class JobEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "type", "job", "status", "worker_id", "actor", "at"]
    list_filter = ["type"]
    search_fields = ["=job__id"]
    raw_id_fields = ["job", "space"]
    show_full_result_count = False


@admin.action(description="Pause selected queues")
def pause_queues(modeladmin: admin.ModelAdmin, request: HttpRequest, rows: QuerySet[Queue]) -> None:
    for queue in rows.select_related("space"):
        queues.pause(
            queue.space, queue.name, reason=f"paused by {request.user}", actor=request.user
        )


@admin.action(description="Resume selected queues")
def resume_queues(
    modeladmin: admin.ModelAdmin, request: HttpRequest, rows: QuerySet[Queue]
) -> None:
    for queue in rows.select_related("space"):
        queues.resume(queue.space, queue.name, actor=request.user)


@admin.register(Queue)
class QueueAdmin(ReadOnlyAdmin):
    list_display = [
        "name",
        "space",
        "paused",
        "max_retries",
        "default_timeout_seconds",
        "created_at",
    ]
    list_filter = ["paused"]
    search_fields = ["name"]
    actions = [pause_queues, resume_queues]


@admin.register(Worker)
class WorkerAdmin(ReadOnlyAdmin):
    list_display = [
        "worker_id",
        "space",
        "queue_name",
        "hostname",
        "status",
        "current_jobs",
        "last_heartbeat_at",
        "deregistered_at",
    ]
    search_fields = ["worker_id", "hostname", "queue_name"]
