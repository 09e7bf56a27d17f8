"""A worker's ack and complete for many jobs at once: one transaction, one row lock per
job, one UPDATE per group of alike jobs, one event per job in one INSERT.

Each item is judged on its own, exactly as the single call would judge it (the same
holder checks, the same errors): the answer says per item whether it took effect.
Items that fail change nothing; the others commit together.
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from emitrun.errors import DomainError, InvalidState, NotFound
from jobs.lifecycle import rows
from jobs.lifecycle.core import Actor, check_holder, iso, lease_deadline, record_many
from jobs.models import Job, Status
from spaces.models import Space


@dataclass(frozen=True)
class LeaseItem:
    """One job of a batch call, named by id, with the caller's proof that it holds it."""

    job_id: uuid.UUID
    lease_id: str | None = None
    worker_id: str | None = None
    result: Any = None


@dataclass
class ItemOutcome:
    """The job once moved, or the error that says why this item was refused."""

    item: LeaseItem
    job: Job | None = None
    error: DomainError | None = None


@transaction.atomic
def ack_many(space: Space, items: list[LeaseItem], *, actor: Actor) -> list[ItemOutcome]:
    """delivered -> running for each item, like ack(). Outcomes follow the items' order."""
    now = timezone.now()
    outcomes, held = _hold_all(space, items, action="ack", allowed={Status.DELIVERED}, now=now)
    groups: dict[tuple[int, str], list[Job]] = defaultdict(list)
    for job, item in held:
        job.worker_id = job.worker_id or item.worker_id or ""
        groups[(job.timeout_seconds, job.worker_id)].append(job)
    for (timeout, worker_id), jobs in groups.items():
        deadline = lease_deadline(now, timeout)
        changes = {
            "status": Status.RUNNING,
            "started_at": now,
            "lease_expires_at": deadline,
            "worker_id": worker_id,
            "updated_at": now,
        }
        _update(jobs, changes, expect=Status.DELIVERED)
        for job in jobs:
            job.attempts += 1  # the UPDATE counted it with attempts = attempts + 1
    entries = [
        (
            job,
            "job.started",
            {"attempt": job.attempts, "timeout_at": iso(job.lease_expires_at)},
        )
        for job, _ in held
    ]
    if entries:
        record_many(entries, actor=actor, now=now)
    return outcomes


@transaction.atomic
def complete_many(space: Space, items: list[LeaseItem], *, actor: Actor) -> list[ItemOutcome]:
    """running -> completed for each item, like complete(), storing each item's result."""
    now = timezone.now()
    outcomes, held = _hold_all(space, items, action="complete", allowed={Status.RUNNING}, now=now)
    same = {
        "status": Status.COMPLETED,
        "lease_expires_at": None,
        "completed_at": now,
        "finished_at": now,
        "updated_at": now,
    }
    for job, item in held:
        job.result = item.result
        for field, value in same.items():
            setattr(job, field, value)
    if held:
        jobs = [job for job, _ in held]
        # The rows are locked: the status guard only trips on a bug, never silently.
        updated = rows.update_each(
            [(job.pk, {"result": job.result}) for job in jobs], same, expect=[Status.RUNNING]
        )
        if updated != len(jobs):
            raise InvalidState("Jobs changed concurrently; retry")
        record_many(
            [(job, "job.completed", {"attempt": job.attempts}) for job in jobs],
            actor=actor,
            now=now,
        )
    return outcomes


def _hold_all(
    space: Space, items: list[LeaseItem], *, action: str, allowed: set[str], now: datetime
) -> tuple[list[ItemOutcome], list[tuple[Job, LeaseItem]]]:
    """Locks the space's jobs named by the items (in id order, so two batches cannot
    deadlock) and checks the caller holds each. Returns every outcome and the held jobs.
    """
    locked = {job.pk: job for job in rows.lock_many(space.pk, [item.job_id for item in items])}
    outcomes, held, seen = [], [], set()
    for item in items:
        outcome = ItemOutcome(item)
        outcomes.append(outcome)
        job = locked.get(item.job_id)
        if job is None:
            outcome.error = NotFound(f"No job {item.job_id}")
            continue
        if item.job_id in seen:
            outcome.error = InvalidState(f"Job {item.job_id} is listed twice in this batch")
            continue
        seen.add(item.job_id)
        job.space = space
        try:
            check_holder(
                job,
                allowed=allowed,
                action=action,
                now=now,
                lease_id=item.lease_id,
                worker_id=item.worker_id,
            )
        except DomainError as exc:
            outcome.error = exc
            continue
        outcome.job = job
        held.append((job, item))
    return outcomes, held


def _update(jobs: list[Job], changes: dict[str, Any], *, expect: str) -> None:
    """One guarded UPDATE for jobs that take the same changes; counts the attempt."""
    updated = rows.update([j.pk for j in jobs], changes, expect=[expect], count_attempt=True)
    if updated != len(jobs):
        raise InvalidState("Jobs changed concurrently; retry")
    for job in jobs:
        for field, value in changes.items():
            setattr(job, field, value)
