"""Queues: made when a job names them; pausing one stops it handing out jobs.

A queue's state is not a job's state, so this lives beside the lifecycle, not in it.
"""

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Avg, Count, F, Min
from django.utils import timezone

from emitrun.errors import Conflict, NotFound
from jobs import lifecycle
from jobs.lifecycle.create import ensure_queues, forget_queue
from jobs.models import TERMINAL, Job, Queue, Status, Worker
from spaces import audit
from spaces.models import Space


@transaction.atomic
def pause(space: Space, name: str, *, reason: str = "", actor: Any = None) -> Queue:
    """Pauses the queue (made if new). Jobs stay pending; polls and claims skip them.

    With an `actor` (an Actor or a user), a pause that changes the queue is audited as
    "queue.pause".
    """
    ensure_queues(space, {name})
    queue = Queue.objects.select_for_update().get(space=space, name=name)
    if not queue.paused:
        now = timezone.now()
        Queue.objects.filter(pk=queue.pk).update(
            paused=True, paused_at=now, pause_reason=reason, updated_at=now
        )
        queue.refresh_from_db()
        if actor is not None:
            details = {"reason": reason} if reason else {}
            audit.record(_label(actor), "queue.pause", space=space, target=name, details=details)
    return queue


@transaction.atomic
def resume(space: Space, name: str, *, actor: Any = None) -> tuple[Queue, int]:
    """Resumes the queue; returns it and how many seconds it was paused.

    With an `actor`, a resume that changes the queue is audited as "queue.resume".
    """
    ensure_queues(space, {name})
    queue = Queue.objects.select_for_update().get(space=space, name=name)
    paused_for = 0
    if queue.paused:
        now = timezone.now()
        paused_for = int((now - queue.paused_at).total_seconds()) if queue.paused_at else 0
        Queue.objects.filter(pk=queue.pk).update(
            paused=False, paused_at=None, pause_reason="", updated_at=now
        )
        queue.refresh_from_db()
        if actor is not None:
            details = {"paused_seconds": paused_for}
            audit.record(_label(actor), "queue.resume", space=space, target=name, details=details)
    return queue, paused_for


def _label(actor: Any) -> Any:
    """Users are named as on job events ("user:<email>"); Actors pass through."""
    if hasattr(actor, "label"):
        return actor
    return lifecycle.Actor.user(actor) if hasattr(actor, "email") else actor


@transaction.atomic
def configure(
    space: Space,
    name: str,
    *,
    max_retries: int | None = None,
    default_timeout_seconds: int | None = None,
    enabled: bool | None = None,
    settings: dict | None = None,
) -> Queue:
    """Changes a queue's job defaults and settings (made if new); enabled=False pauses it."""
    if enabled is False:
        pause(space, name)
    elif enabled is True:
        resume(space, name)
    ensure_queues(space, {name})
    changes: dict[str, object] = {"updated_at": timezone.now()}
    if max_retries is not None:
        changes["max_retries"] = max_retries
    if default_timeout_seconds is not None:
        changes["default_timeout_seconds"] = default_timeout_seconds
    if settings is not None:
        changes["settings"] = settings
    Queue.objects.filter(space=space, name=name).update(**changes)
    forget_queue(space, name)
    return Queue.objects.get(space=space, name=name)


def stats(space: Space, queue: Queue) -> dict[str, object]:
    """Depth, the last day's throughput and run time, and active workers of one queue."""
    now = timezone.now()
    jobs = Job.objects.filter(space=space, name=queue.name)
    day = jobs.filter(finished_at__gte=now - timedelta(hours=24))
    done = day.filter(status=Status.COMPLETED).aggregate(
        n=Count("id"), run=Avg(F("completed_at") - F("started_at"))
    )
    oldest = jobs.filter(status=Status.PENDING).aggregate(at=Min("run_at"))["at"]
    active = [
        w
        for w in Worker.objects.filter(
            space=space, queue_name=queue.name, deregistered_at__isnull=True
        )
        if w.status_at(now) != "offline"
    ]
    return {
        "queue_name": queue.name,
        "pending_jobs": jobs.filter(status=Status.PENDING).count(),
        "scheduled_jobs": jobs.filter(status=Status.SCHEDULED).count(),
        "processing_jobs": jobs.filter(status__in=[Status.DELIVERED, Status.RUNNING]).count(),
        "completed_jobs_24h": done["n"],
        "failed_jobs_24h": day.filter(status=Status.DEAD).count(),
        "active_workers": len(active),
        "avg_processing_time_ms": done["run"].total_seconds() * 1000 if done["run"] else None,
        "max_job_age_seconds": int((now - oldest).total_seconds()) if oldest else None,
        "paused": queue.paused,
    }


@transaction.atomic
def delete(space: Space, name: str, *, delete_jobs: bool = False) -> int:
    """Deletes a queue. Refused (Conflict) while it has unfinished jobs, unless delete_jobs,
    which deletes every job of the queue. Returns how many jobs were deleted.
    """
    queue = Queue.objects.select_for_update().filter(space=space, name=name).first()
    if queue is None:
        raise NotFound(f"No queue {name}")
    deleted = 0
    if delete_jobs:
        deleted = lifecycle.delete_jobs_of_queue(space, name)
    else:
        active = Job.objects.filter(space=space, name=name).exclude(status__in=TERMINAL).count()
        if active:
            raise Conflict(
                f"Queue {name} has {active} unfinished job(s); pass delete_jobs=true "
                "to delete them too",
                {"unfinished_jobs": active},
            )
    queue.delete()
    forget_queue(space, name)
    return deleted
