"""What the worker holding a job does with it: ack, progress, checkpoint, custom events,
keepalive, complete, fail. Each call may name its lease (lease_id, else worker_id);
a caller whose lease expired or moved on gets LeaseExpired, after a kill JobKilled.
"""

from datetime import datetime
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


def _hold(
    job: Job, action: str, lease: dict[str, str | None], allowed: set[str] = _RUNNING
) -> tuple[Job, datetime]:
    """The job, locked, once the caller is shown to hold it; and the time of the call."""
    now = timezone.now()
    job = lock(job)
    check_holder(job, allowed=allowed, action=action, now=now, **lease)
    return job, now


def _touch(job: Job, now: datetime, changes: dict[str, Any] | None = None) -> None:
    """running -> running with `changes`; the execution timeout window starts again."""
    apply(
        job,
        {
            **(changes or {}),
            "updated_at": now,
            "lease_expires_at": lease_deadline(now, job.timeout_seconds),
        },
        expect=Status.RUNNING,
    )


@transaction.atomic
def ack(
    job: Job, *, actor: Actor, lease_id: str | None = None, worker_id: str | None = None
) -> Job:
    """delivered -> running. The attempt counts from here; the execution timeout starts."""
    lease = {"lease_id": lease_id, "worker_id": worker_id}
    job, now = _hold(job, "ack", lease, allowed={Status.DELIVERED})
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
    job, now = _hold(job, "report progress", {"lease_id": lease_id, "worker_id": worker_id})
    _touch(
        job,
        now,
        {"progress_percent": percent, "progress_message": message, "sub_progress": sub_progress},
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
    job, now = _hold(job, "checkpoint", {"lease_id": lease_id, "worker_id": worker_id})
    _touch(job, now, {"checkpoint": data})
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
    job, now = _hold(job, "publish events", {"lease_id": lease_id, "worker_id": worker_id})
    _touch(job, now)
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
    job, now = _hold(job, "keep alive", {"lease_id": lease_id, "worker_id": worker_id})
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
    job, now = _hold(job, "complete", {"lease_id": lease_id, "worker_id": worker_id})
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
    job, now = _hold(job, "fail", {"lease_id": lease_id, "worker_id": worker_id})
    return fail_attempt(job, error=error, now=now, actor=actor, retry=retry)
