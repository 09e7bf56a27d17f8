"""Time-driven transitions: scheduled jobs coming due, deliveries never acked, executions
past their timeout. Claim settles its own space first; the sweeper settles every space.

Each batch locks its rows with FOR UPDATE SKIP LOCKED, so two sweepers (or a sweeper
and a claim) never move the same job twice; they split the work.
"""

import time
from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from jobs.lifecycle.core import SWEEPER, Actor, apply, fail_attempt, iso, record_many
from jobs.models import LEASED, Job, Status
from spaces.models import Space


def settle(
    *, now: datetime, space: Space | None = None, actor: Actor = SWEEPER, batch: int = 100
) -> dict[str, int]:
    """One batch of each time-driven transition, in the caller's transaction."""
    return {
        "due": _promote_due(now, space, actor, batch),
        **_expire_leases(now, space, actor, batch),
    }


def expire_overdue(
    *, now: datetime | None = None, batch: int = 500, max_seconds: float = 10.0
) -> dict[str, int]:
    """The sweeper: settles every space in batches (one transaction each) until nothing
    is overdue or `max_seconds` pass. Safe to run in several processes at once.

    - scheduled, due            -> pending (job.pending, reason "due")
    - delivered, never acked    -> pending (job.pending, reason "delivery_timeout")
    - running, past its timeout -> failed as an attempt with error "timeout": retried
                                   after backoff, or dead
    """
    totals = {"due": 0, "delivery_timeout": 0, "execution_timeout": 0}
    started = time.monotonic()
    while time.monotonic() - started < max_seconds:
        with transaction.atomic():
            counts = settle(now=now or timezone.now(), batch=batch)
        for key, value in counts.items():
            totals[key] += value
        if max(counts.values()) < batch:
            break
    return totals


def _locked(qs: QuerySet, batch: int, order: str) -> list[Job]:
    return list(
        qs.select_related("space__settings")
        .select_for_update(skip_locked=True, of=("self",))
        .order_by(order)[:batch]
    )


def _promote_due(now: datetime, space: Space | None, actor: Actor, batch: int) -> int:
    qs = Job.objects.filter(status=Status.SCHEDULED, run_at__lte=now)
    if space is not None:
        qs = qs.filter(space=space)
    jobs = _locked(qs, batch, "run_at")
    if not jobs:
        return 0
    Job.objects.filter(pk__in=[j.pk for j in jobs], status=Status.SCHEDULED).update(
        status=Status.PENDING, updated_at=now
    )
    for job in jobs:
        job.status, job.updated_at = Status.PENDING, now
    reason = {"reason": "due"}
    record_many(
        [(job, "job.pending", {**reason, "retry_count": job.retry_count}) for job in jobs],
        actor=actor,
        now=now,
    )
    return len(jobs)


def _expire_leases(now: datetime, space: Space | None, actor: Actor, batch: int) -> dict[str, int]:
    qs = Job.objects.filter(status__in=LEASED, lease_expires_at__lte=now)
    if space is not None:
        qs = qs.filter(space=space)
    counts = {"delivery_timeout": 0, "execution_timeout": 0}
    for job in _locked(qs, batch, "lease_expires_at"):
        if job.status == Status.DELIVERED:
            requeue_undelivered(job, now=now, actor=actor)
            counts["delivery_timeout"] += 1
        else:
            fail_attempt(job, error="timeout", now=now, actor=actor, reason="timeout")
            counts["execution_timeout"] += 1
    return counts


def requeue_undelivered(job: Job, *, now: datetime, actor: Actor = SWEEPER) -> None:
    """delivered -> pending: the worker never acked. The attempt does not count."""
    worker, deadline = job.worker_id, job.lease_expires_at
    apply(
        job,
        {
            "status": Status.PENDING,
            "lease_id": None,
            "lease_expires_at": None,
            "worker_id": "",
            "delivered_at": None,
            "updated_at": now,
        },
        expect=Status.DELIVERED,
    )
    record_many(
        [
            (
                job,
                "job.pending",
                {"reason": "delivery_timeout", "worker_id": worker, "deadline": iso(deadline)},
            )
        ],
        actor=actor,
        now=now,
    )
