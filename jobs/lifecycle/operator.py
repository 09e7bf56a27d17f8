"""What operators and producers do to jobs: kill, retry, cancel, re-prioritise, and the
dead-letter queue (retry in bulk, purge).
"""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from emitrun.errors import InvalidState
from jobs.lifecycle.core import Actor, apply, lock, record, record_many
from jobs.models import TERMINAL, Job, Status
from spaces import audit
from spaces.models import Space

_RETRYABLE = {Status.DEAD, Status.KILLED, Status.CANCELLED}
_ACTIVE = [s for s in Status if s not in TERMINAL]


@transaction.atomic
def kill(job: Job, *, actor: Actor, reason: str = "") -> Job:
    """any non-terminal state -> killed. The holder's next call answers JobKilled."""
    now = timezone.now()
    job = lock(job)
    if job.status in TERMINAL:
        raise InvalidState(f"Job is already {job.status}")
    apply(
        job,
        {
            "status": Status.KILLED,
            "lease_expires_at": None,
            "finished_at": now,
            "updated_at": now,
            "last_error": reason or job.last_error,
        },
        expect=_ACTIVE,
    )
    record(job, "job.killed", actor=actor, now=now, data={"reason": reason} if reason else None)
    audit.record(actor, "job.kill", space=job.space, target=job.pk, details=_named(job, reason))
    return job


@transaction.atomic
def retry(job: Job, *, actor: Actor) -> Job:
    """dead | killed | cancelled -> pending, with attempts and retry_count reset."""
    now = timezone.now()
    job = lock(job)
    if job.status not in _RETRYABLE:
        raise InvalidState(f"Job is {job.status}; only dead, killed or cancelled jobs are retried")
    _back_to_pending(job, now)
    record(job, "job.pending", actor=actor, now=now, data={"reason": "retry"})
    audit.record(actor, "job.retry", space=job.space, target=job.pk, details=_named(job))
    return job


def _named(job: Job, reason: str = "") -> dict[str, str]:
    return {"name": job.name, "reason": reason} if reason else {"name": job.name}


def _back_to_pending(job: Job, now: datetime) -> None:
    apply(
        job,
        {
            "status": Status.PENDING,
            "attempts": 0,
            "retry_count": 0,
            "run_at": now,
            "scheduled_for": None,
            "lease_id": None,
            "lease_expires_at": None,
            "worker_id": "",
            "result": None,
            "last_error": "",
            "progress_percent": None,
            "progress_message": "",
            "sub_progress": None,
            "delivered_at": None,
            "started_at": None,
            "completed_at": None,
            "finished_at": None,
            "updated_at": now,
        },
        expect=_RETRYABLE,
    )


@transaction.atomic
def cancel(job: Job, *, actor: Actor) -> Job:
    """scheduled | pending -> cancelled: the producer withdraws a job not yet started."""
    now = timezone.now()
    job = lock(job)
    if job.status not in (Status.SCHEDULED, Status.PENDING):
        raise InvalidState(f"Job is {job.status}; only scheduled or pending jobs can be cancelled")
    apply(
        job,
        {"status": Status.CANCELLED, "finished_at": now, "updated_at": now},
        expect=[Status.SCHEDULED, Status.PENDING],
    )
    record(job, "job.cancelled", actor=actor, now=now)
    audit.record(actor, "job.cancel", space=job.space, target=job.pk, details=_named(job))
    return job


@transaction.atomic
def set_priority(job: Job, *, priority: int, actor: Actor) -> tuple[Job, int]:
    """Changes the priority of a job not yet finished; returns it with the old priority."""
    now = timezone.now()
    job = lock(job)
    if job.status in TERMINAL:
        raise InvalidState(f"Job is already {job.status}")
    old = job.priority
    apply(job, {"priority": priority, "updated_at": now}, expect=job.status)
    record(job, "job.priority", actor=actor, now=now, data={"old": old, "new": priority})
    return job, old


@transaction.atomic
def retry_dead(
    space: Space,
    *,
    actor: Actor,
    queue_name: str | None = None,
    job_ids: list[str] | None = None,
    limit: int = 100,
) -> tuple[list[Job], list[str]]:
    """dead -> pending for dead jobs of the space (by name and/or ids, oldest death first).

    Returns the retried jobs and the requested ids that were skipped (not dead, or
    not found in this space).
    """
    now = timezone.now()
    qs = Job.objects.filter(space=space, status=Status.DEAD)
    if queue_name:
        qs = qs.filter(name=queue_name)
    if job_ids is not None:
        qs = qs.filter(pk__in=job_ids)
    jobs = list(qs.select_for_update(skip_locked=True).order_by("finished_at", "id")[:limit])
    for job in jobs:
        job.space = space
        _back_to_pending(job, now)
    if jobs:
        record_many(
            [(job, "job.pending", {"reason": "dlq_retry"}) for job in jobs], actor=actor, now=now
        )
        audit.record(
            actor,
            "dlq.retry",
            space=space,
            target=queue_name or "",
            details={"count": len(jobs), "ids": [str(j.pk) for j in jobs[:20]]},
        )
    retried = {str(job.pk) for job in jobs}
    skipped = [i for i in (job_ids or []) if i not in retried]
    return jobs, skipped


@transaction.atomic
def purge_dead(
    space: Space,
    *,
    queue_name: str | None = None,
    older_than: datetime | None = None,
    limit: int = 1000,
    actor: Actor | str = "system",
    job_ids: list[str] | None = None,
) -> int:
    """Deletes dead jobs of the space (and their history), oldest death first;
    with job_ids, only those of them that are dead.
    """
    qs = Job.objects.filter(space=space, status=Status.DEAD)
    if queue_name:
        qs = qs.filter(name=queue_name)
    if job_ids is not None:
        qs = qs.filter(pk__in=job_ids)
    if older_than is not None:
        qs = qs.filter(finished_at__lt=older_than)
    ids = list(
        qs.select_for_update(skip_locked=True)
        .order_by("finished_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    if not ids:
        return 0
    Job.objects.filter(pk__in=ids, status=Status.DEAD).delete()
    audit.record(
        actor, "dlq.purge", space=space, target=queue_name or "", details={"count": len(ids)}
    )
    return len(ids)


@transaction.atomic
def delete_jobs_of_queue(space: Space, name: str) -> int:
    """Deletes every job of one queue (name) in the space, with its history."""
    ids = list(Job.objects.filter(space=space, name=name).values_list("id", flat=True))
    if ids:
        Job.objects.filter(pk__in=ids).delete()
    return len(ids)
