"""What the worker holding a job does with it: ack, progress, checkpoint, custom events,
keepalive, complete, fail. Each call may name its lease (lease_id, else worker_id);
a caller whose lease expired or moved on gets LeaseExpired, after a kill JobKilled.
"""

from typing import Any

from django.db import transaction
from django.utils import timezone

from jobs.lifecycle.core import (
    Actor,
    apply,
    check_holder,
    fail_attempt,
    iso,
    lease_deadline,
    lock,
    record,
)
from jobs.models import Job, JobEvent, Status

_RUNNING = {Status.RUNNING}


@transaction.atomic
def ack(
    job: Job, *, actor: Actor, lease_id: str | None = None, worker_id: str | None = None
) -> Job:
    """delivered -> running. The attempt counts from here; the execution timeout starts."""
    now = timezone.now()
    job = lock(job)
    check_holder(
        job,
        allowed={Status.DELIVERED},
        action="ack",
        now=now,
        lease_id=lease_id,
        worker_id=worker_id,
    )
    apply(
        job,
        {
            "status": Status.RUNNING,
            "attempts": job.attempts + 1,
            "started_at": now,
            "lease_expires_at": lease_deadline(now, job.timeout_seconds),
            "worker_id": job.worker_id or worker_id or "",
            "updated_at": now,
        },
        expect=Status.DELIVERED,
    )
    record(
        job,
        "job.started",
        actor=actor,
        now=now,
        data={"attempt": job.attempts, "timeout_at": iso(job.lease_expires_at)},
    )
    return job


@transaction.atomic
def progress(
    job: Job,
    *,
    percent: float,
    message: str,
    actor: Actor,
    sub_progress: dict[str, float] | None = None,
    lease_id: str | None = None,
    worker_id: str | None = None,
) -> Job:
    """running -> running with new progress; resets the execution timeout."""
    now = timezone.now()
    job = lock(job)
    check_holder(
        job,
        allowed=_RUNNING,
        action="report progress",
        now=now,
        lease_id=lease_id,
        worker_id=worker_id,
    )
    apply(
        job,
        {
            "progress_percent": percent,
            "progress_message": message,
            "sub_progress": sub_progress,
            "updated_at": now,
            "lease_expires_at": lease_deadline(now, job.timeout_seconds),
        },
        expect=Status.RUNNING,
    )
    data: dict[str, Any] = {"percent": percent, "message": message}
    if sub_progress is not None:
        data["sub_progress"] = sub_progress
    record(job, "job.progress", actor=actor, now=now, data=data)
    return job


@transaction.atomic
def checkpoint(
    job: Job,
    *,
    data: Any,
    size: int,
    actor: Actor,
    lease_id: str | None = None,
    worker_id: str | None = None,
) -> Job:
    """running -> running, storing `data` for the next attempt; resets the timeout."""
    now = timezone.now()
    job = lock(job)
    check_holder(
        job, allowed=_RUNNING, action="checkpoint", now=now, lease_id=lease_id, worker_id=worker_id
    )
    apply(
        job,
        {
            "checkpoint": data,
            "updated_at": now,
            "lease_expires_at": lease_deadline(now, job.timeout_seconds),
        },
        expect=Status.RUNNING,
    )
    record(job, "job.checkpoint", actor=actor, now=now, data={"bytes": size})
    return job


@transaction.atomic
def add_event(
    job: Job,
    *,
    type_: str,
    data: Any,
    actor: Actor,
    lease_id: str | None = None,
    worker_id: str | None = None,
) -> JobEvent:
    """A custom event on a running job (its history and streams); resets the timeout."""
    now = timezone.now()
    job = lock(job)
    check_holder(
        job,
        allowed=_RUNNING,
        action="publish events",
        now=now,
        lease_id=lease_id,
        worker_id=worker_id,
    )
    apply(
        job,
        {"updated_at": now, "lease_expires_at": lease_deadline(now, job.timeout_seconds)},
        expect=Status.RUNNING,
    )
    return record(job, "job.event", actor=actor, now=now, data={"type": type_, "data": data})


@transaction.atomic
def keepalive(
    job: Job,
    *,
    actor: Actor,
    lease_id: str | None = None,
    worker_id: str | None = None,
    lease_seconds: int | None = None,
) -> Job:
    """running -> running: the timeout window starts again (lease_seconds, else the job's
    timeout_seconds).
    """
    now = timezone.now()
    job = lock(job)
    check_holder(
        job, allowed=_RUNNING, action="keep alive", now=now, lease_id=lease_id, worker_id=worker_id
    )
    deadline = lease_deadline(now, lease_seconds or job.timeout_seconds)
    apply(job, {"lease_expires_at": deadline, "updated_at": now}, expect=Status.RUNNING)
    record(job, "job.keepalive", actor=actor, now=now, data={"lease_expires_at": iso(deadline)})
    return job


@transaction.atomic
def complete(
    job: Job,
    *,
    result: Any,
    actor: Actor,
    lease_id: str | None = None,
    worker_id: str | None = None,
) -> Job:
    """running -> completed. A replay answers InvalidState "Job is already completed"."""
    now = timezone.now()
    job = lock(job)
    check_holder(
        job, allowed=_RUNNING, action="complete", now=now, lease_id=lease_id, worker_id=worker_id
    )
    apply(
        job,
        {
            "status": Status.COMPLETED,
            "result": result,
            "lease_expires_at": None,
            "completed_at": now,
            "finished_at": now,
            "updated_at": now,
        },
        expect=Status.RUNNING,
    )
    record(job, "job.completed", actor=actor, now=now, data={"attempt": job.attempts})
    return job


@transaction.atomic
def fail(
    job: Job,
    *,
    error: str,
    actor: Actor,
    retry: bool = True,
    lease_id: str | None = None,
    worker_id: str | None = None,
) -> Job:
    """running -> scheduled (retry after backoff, while retry_count < max_retries) or dead.

    retry=False sends the job to dead at once.
    """
    now = timezone.now()
    job = lock(job)
    check_holder(
        job, allowed=_RUNNING, action="fail", now=now, lease_id=lease_id, worker_id=worker_id
    )
    return fail_attempt(job, error=error, now=now, actor=actor, retry=retry)
