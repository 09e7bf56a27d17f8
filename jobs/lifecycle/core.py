"""Shared machinery of the lifecycle: actors, row locks, holder checks, events, backoff.

Nothing outside jobs/lifecycle imports this module's private helpers.
"""

import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone

from emitrun import metrics, realtime
from emitrun.errors import InvalidState, JobKilled, LeaseExpired, NotFound
from jobs import wakeup
from jobs.lifecycle import rows
from jobs.models import LEASED, TERMINAL, Job, JobEvent, Status
from notifications import outbox
from spaces.models import Space


@dataclass(frozen=True)
class Actor:
    """Who made a change, as recorded on the job's events (never a secret)."""

    label: str

    @classmethod
    def token(cls, token: Any) -> "Actor":
        return cls(f"token:{token.name} ({token.prefix})")

    @classmethod
    def user(cls, user: Any) -> "Actor":
        return cls(f"user:{user.email}")

    @classmethod
    def system(cls, what: str) -> "Actor":
        return cls(f"system:{what}")


SWEEPER = Actor.system("sweeper")

# record_many builds events positionally, in this column order.
_EVENT_COLUMNS = ["id", "job_id", "space_id", "type", "status", "data", "worker_id", "actor", "at"]
if [f.attname for f in JobEvent._meta.concrete_fields] != _EVENT_COLUMNS:
    raise ImproperlyConfigured("JobEvent's columns changed: update record_many's order")


def lock(job: Job) -> Job:
    """The job re-read under a row lock (on SQLite the IMMEDIATE transaction holds the lock).

    `job` may be a reference that was never read (see `ref`): the lock is the first read,
    and a job that is not in `job.space_id` raises NotFound.
    """
    locked = rows.lock_one(job.space_id, job.pk)
    if Job.space.is_cached(job):
        locked.space = job.space
    return locked


def ref(space: Space, job_id: Any) -> Job:
    """A reference to the job with this id in this space, for a call that locks it first
    (lock() reads it then, once). A malformed id raises NotFound at once.
    """
    try:
        pk = job_id if isinstance(job_id, uuid.UUID) else uuid.UUID(str(job_id))
    except (TypeError, ValueError):
        raise NotFound(f"No job {job_id}") from None
    # Only the id and the space are set; any other field would be read from the database
    # if touched (deferred), not answered with a default. `Job(pk=..., space=...)` spent
    # ~100 Python calls giving each of the 32 fields its default.
    job = Job.from_db(DEFAULT_DB_ALIAS, ["id", "space_id"], [pk, space.pk])
    Job.space.field.set_cached_value(job, space)
    return job


def check_holder(
    job: Job,
    *,
    allowed: Iterable[str],
    action: str,
    now: datetime,
    lease_id: str | None = None,
    worker_id: str | None = None,
) -> None:
    """Raises the 409 that says why this caller may not `action` the job now.

    The caller proves it holds the job by its lease id (or, lacking one, its
    worker id); a caller that gives neither is trusted to be the holder. A lease
    past its deadline is expired even before the sweeper notices. A finished job
    keeps its last lease, so its last holder replaying a call hears "already
    <status>" while a worker whose lease went to someone else hears LeaseExpired.
    """
    if job.status == Status.KILLED:
        raise JobKilled(f"Job {job.id} was killed; stop working on it")
    if (lease_id or worker_id) and not _holds(job, lease_id, worker_id):
        raise LeaseExpired(
            "Lease expired or lease_id mismatch: the job was handed to another worker "
            "or went back to the queue"
        )
    if job.status in allowed:
        if job.status in LEASED and job.lease_expires_at and job.lease_expires_at <= now:
            raise LeaseExpired(f"Lease expired at {job.lease_expires_at.isoformat()}")
        return
    if job.status in TERMINAL:
        raise InvalidState(f"Job is already {job.status}")
    raise InvalidState(f"Job is {job.status}; cannot {action}")


def _holds(job: Job, lease_id: str | None, worker_id: str | None) -> bool:
    if lease_id:
        return job.lease_id is not None and str(job.lease_id) == lease_id.lower()
    if worker_id:
        return job.worker_id == worker_id and (job.status in LEASED or job.status in TERMINAL)
    return True


def apply(job: Job, changes: dict[str, Any], *, expect: str | Iterable[str]) -> Job:
    """Writes `changes` with an UPDATE guarded by the job's expected status.

    The row is already locked, so the guard only fails on a bug; it is kept so a
    lost race could never be silent.
    """
    statuses = [expect] if isinstance(expect, str) else list(expect)
    updated = rows.update([job.pk], changes, expect=statuses)
    if updated != 1:
        raise InvalidState(f"Job {job.id} changed concurrently; retry")
    for field, value in changes.items():
        setattr(job, field, value)
    return job


def record(
    job: Job, type_: str, *, actor: Actor, data: dict | None = None, now: datetime | None = None
) -> JobEvent:
    """Appends one event (and its outbound deliveries); publishes it after commit."""
    return record_many([(job, type_, data)], actor=actor, now=now)[0]


def new_events(
    entries: list[tuple[Job, str, dict | None]], *, actor: Actor, at: datetime
) -> list[JobEvent]:
    """The events of `entries`, not stored yet."""
    label = actor.label
    # In _EVENT_COLUMNS order, built without Model.__init__ (rows.build): no keyword and
    # default handling per field (most of an event's cost in a bulk create).
    build = rows.build
    return [
        build(
            JobEvent,
            [None, job.pk, job.space_id, type_, job.status, data, job.worker_id, label, at],
        )
        for job, type_, data in entries
    ]


def record_many(
    entries: list[tuple[Job, str, dict | None]],
    *,
    actor: Actor,
    now: datetime | None = None,
    insert: Callable[[list[JobEvent]], None] | None = None,
) -> list[JobEvent]:
    """Appends events in one INSERT (`insert`, if given, is the statement that stores
    them), their deliveries in another, and hooks the fan-out.
    """
    at = now or timezone.now()
    events = new_events(entries, actor=actor, at=at)
    (insert or rows.insert_events)(events)
    outbox.enqueue_many([(job, event) for (job, _, _), event in zip(entries, events, strict=True)])
    metrics.job_events(entries, at=at)
    messages = [realtime.message(event) for event in events]
    transaction.on_commit(partial(realtime.publish, messages))
    # One wake per job that became claimable: each woken poller finds its own job.
    claimable = {
        job.pk: (job.space_id, job.name) for job, _, _ in entries if job.status == Status.PENDING
    }
    pending = Counter(claimable.values())
    for (space_id, name), count in pending.items():
        transaction.on_commit(partial(wakeup.notify, space_id, count, name))
    return events


def backoff_seconds(space: Space, retry_count: int) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**retry_count)].

    Full jitter spreads retries of jobs that failed together (an outage) instead
    of sending them back in waves.
    """
    ceiling = min(
        space.backoff_cap_seconds, space.backoff_base_seconds * (2 ** min(retry_count, 30))
    )
    return random.uniform(0, ceiling)  # noqa: S311 - jitter, not security


def lease_deadline(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=seconds)


def fail_attempt(
    job: Job, *, error: str, now: datetime, actor: Actor, retry: bool = True, reason: str = "failed"
) -> Job:
    """running -> scheduled/pending (retry after backoff) or dead. Job must be locked.

    Shared by a worker's fail and the execution timeout.
    """
    will_retry = retry and job.retry_count < job.max_retries
    if will_retry:
        delay = backoff_seconds(job.space, job.retry_count)
        run_at = now + timedelta(seconds=delay)
        changes = {
            "status": Status.SCHEDULED if delay > 0 else Status.PENDING,
            "retry_count": job.retry_count + 1,
            "run_at": run_at,
            "scheduled_for": run_at,
            "lease_id": None,
            "lease_expires_at": None,
            "worker_id": "",
            "last_error": error,
            "updated_at": now,
        }
    else:
        changes = {
            "status": Status.DEAD,
            "lease_expires_at": None,
            "last_error": error,
            "finished_at": now,
            "updated_at": now,
        }
    worker = job.worker_id
    apply(job, changes, expect=Status.RUNNING)
    failed = {
        "error": error,
        "attempt": job.attempts,
        "will_retry": will_retry,
        "reason": reason,
        "worker_id": worker,
    }
    if will_retry:
        follow = (
            "job.retrying",
            {
                "retry_at": iso(job.run_at),
                "retry_count": job.retry_count,
                "delay_seconds": round(delay, 3),
            },
        )
    else:
        follow = ("job.dead", {"error": error, "attempts": job.attempts})
    record_many([(job, "job.failed", failed), (job, *follow)], actor=actor, now=now)
    return job


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None
