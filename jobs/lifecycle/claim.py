"""Handing jobs to workers: pending -> delivered (poll, claim by id), pending -> running
(claim that acks at once), and settling a space's due and expired jobs first.
"""

import uuid
from datetime import datetime
from functools import partial

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from emitrun.errors import InvalidState
from jobs.lifecycle import rows
from jobs.lifecycle.core import SWEEPER, Actor, apply, iso, lease_deadline, lock, record_many
from jobs.lifecycle.sweep import requeue_undelivered, settle
from jobs.models import Job, Queue, Status
from notifications import outbox
from spaces.models import Space


def poll(
    space: Space, *, limit: int, names: list[str] | None = None, worker_id: str = "", actor: Actor
) -> list[Job]:
    """pending -> delivered for up to `limit` jobs, highest priority then oldest first.

    The delivery deadline (the space's delivery timeout) starts now; each job gets
    a fresh lease id. Paused queues hand out nothing.
    """
    return _claim(
        space,
        limit=limit,
        names=names,
        worker_id=worker_id,
        actor=actor,
        to=Status.DELIVERED,
        lease_seconds=space.delivery_timeout_seconds,
    )


def claim_running(
    space: Space,
    *,
    limit: int,
    names: list[str] | None = None,
    worker_id: str = "",
    lease_seconds: int,
    actor: Actor,
) -> list[Job]:
    """pending -> running in one step (claim acks): the attempt starts now, under a lease of
    `lease_seconds` that heartbeats extend.
    """
    return _claim(
        space,
        limit=limit,
        names=names,
        worker_id=worker_id,
        actor=actor,
        to=Status.RUNNING,
        lease_seconds=lease_seconds,
    )


@transaction.atomic
def claim_one(job: Job, *, worker_id: str = "", actor: Actor) -> Job:
    """pending (or a due scheduled job, or an expired delivery) -> delivered, for a worker
    woken about this job. Raises InvalidState when someone else has it.
    """
    now = timezone.now()
    job = lock(job)
    if job.status == Status.DELIVERED and job.lease_expires_at and job.lease_expires_at <= now:
        requeue_undelivered(job, now=now)
    due = job.status == Status.SCHEDULED and job.run_at <= now
    if job.status != Status.PENDING and not due:
        raise InvalidState(f"Job is {job.status}; it is no longer waiting to be claimed")
    if Queue.objects.filter(space_id=job.space_id, name=job.name, paused=True).exists():
        raise InvalidState(f"Queue {job.name} is paused")
    apply(
        job,
        {
            "status": Status.DELIVERED,
            "lease_id": uuid.uuid4(),
            "lease_expires_at": lease_deadline(now, job.space.delivery_timeout_seconds),
            "worker_id": worker_id,
            "delivered_at": now,
            "updated_at": now,
        },
        expect=[Status.PENDING, Status.SCHEDULED],
    )
    record_many([(job, "job.delivered", _delivered_data(job))], actor=actor, now=now)
    return job


def _claim(
    space: Space,
    *,
    limit: int,
    names: list[str] | None,
    worker_id: str,
    actor: Actor,
    to: Status,
    lease_seconds: int,
) -> list[Job]:
    now = timezone.now()
    overdue, waiting, paused = _space_state(space, now, names)
    if not overdue and not waiting:
        return []  # nothing to hand out: no transaction, one read
    names = [n for n in (names or []) if n not in paused] if names else None
    if names == []:
        return []
    if not overdue and connection.vendor == "postgresql" and not outbox.may_write(space, _kind(to)):
        # The claim and its events in one statement, committed on its own.
        return _take(space, limit, names, paused, worker_id, actor, to, lease_seconds, now, True)
    with transaction.atomic():
        if overdue:
            settle(now=now, space=space, actor=SWEEPER)
        return _take(space, limit, names, paused, worker_id, actor, to, lease_seconds, now)


def _kind(to: Status) -> str:
    return "job.started" if to == Status.RUNNING else "job.delivered"


def _changes(to: Status, lease_seconds: int, worker_id: str, now: datetime) -> dict:
    changes = {
        "status": to,
        "lease_expires_at": lease_deadline(now, lease_seconds),
        "worker_id": worker_id,
        "delivered_at": now,
        "updated_at": now,
    }
    if to == Status.RUNNING:
        changes["started_at"] = now
    return changes


def _take(
    space: Space,
    limit: int,
    names: list[str] | None,
    paused: list[str],
    worker_id: str,
    actor: Actor,
    to: Status,
    lease_seconds: int,
    now: datetime,
    at_once: bool = False,
) -> list[Job]:
    """Claims and records the events; `at_once` (PostgreSQL, nothing to settle, no delivery
    the events could call for) stores both with one statement: one round trip where BEGIN,
    the claim, the events' INSERT and COMMIT took four. A woken long-poll takes its job so.
    """
    changes = _changes(to, lease_seconds, worker_id, now)
    kind, insert = _kind(to), None
    if at_once:
        taken = _claim_with_events(space, limit, names, paused, changes, kind, actor, now)
        jobs = [job for job, _ in taken]
        insert = partial(rows.events_stored, {job.pk: seq for job, seq in taken})
    elif connection.vendor == "postgresql":
        jobs = rows.fetch_jobs(*_claim_sql(space, limit, names, paused, changes))
    else:
        jobs = _claim_guarded(space, limit, names, paused, changes, started=to == Status.RUNNING)
    for job in jobs:
        job.space = space
    jobs.sort(key=lambda j: (-j.priority, j.run_at, str(j.id)))
    if jobs:
        entries = [(job, kind, _delivered_data(job)) for job in jobs]
        record_many(entries, actor=actor, now=now, insert=insert)
    return jobs


def _claim_with_events(
    space: Space,
    limit: int,
    names: list[str] | None,
    paused: list[str],
    changes: dict,
    kind: str,
    actor: Actor,
    now: datetime,
) -> list[tuple[Job, int]]:
    """The claim below and its events' INSERT as one statement: each job with its event's id.
    Each event is built from its claimed row as _delivered_data builds it.
    """
    claim, params = _claim_sql(space, limit, names, paused, changes)
    sql = (
        f"WITH claimed AS ({claim}),"  # noqa: S608 - fixed fragments and column names only
        " events AS (INSERT INTO jobs_jobevent"
        " (job_id, space_id, type, status, data, worker_id, actor, at)"
        " SELECT c.id, c.space_id, %s, c.status, jsonb_build_object('worker_id', c.worker_id,"
        " 'lease_expires_at', %s::text, 'attempt', c.attempts), c.worker_id, %s, %s"
        " FROM claimed AS c ORDER BY c.priority DESC, c.run_at, c.id RETURNING id, job_id)"
        f" SELECT {', '.join('c.' + c for c in rows.COLUMNS)}, e.id"
        " FROM claimed AS c JOIN events AS e ON e.job_id = c.id"
    )
    lease = iso(changes["lease_expires_at"])
    return rows.fetch_jobs_with(sql, [*params, kind, lease, actor.label, now])


def _space_state(
    space: Space, now: datetime, names: list[str] | None
) -> tuple[bool, bool, list[str]]:
    """(whether any job of the space is due or past its lease, whether a pending job (of
    `names`) waits, the paused queue names) in one round trip through the partial indexes:
    a poll settles only when there is something to settle, and an empty queue costs no
    transaction at all.
    """
    if connection.vendor != "postgresql":
        paused = Queue.objects.filter(space=space, paused=True).values_list("name", flat=True)
        return True, True, list(paused)
    sql, params = _SPACE_STATE_SQL, [space.pk, now, space.pk, now, space.pk]
    if names:
        sql, params = sql + _WAITING_NAMED_SQL, [*params, space.pk, list(names)]
    else:
        sql, params = sql + _WAITING_SQL, [*params, space.pk]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        overdue, paused, waiting = cursor.fetchone()
    return overdue, waiting, list(paused)


# Each check reads the first row of a partial index in that index's order, so its plan does
# not depend on how many rows the planner expects a range to match: a prepared statement's
# generic plan (DB_PREPARE_THRESHOLD) keeps the index scan that a custom plan would choose.
_SPACE_STATE_SQL = (
    "SELECT COALESCE((SELECT run_at FROM jobs_job WHERE space_id = %s AND status = 'scheduled'"
    " ORDER BY run_at LIMIT 1) <= %s, false) OR COALESCE((SELECT lease_expires_at FROM jobs_job"
    " WHERE space_id = %s AND status IN ('delivered', 'running') ORDER BY lease_expires_at"
    " LIMIT 1) <= %s, false),"
    " ARRAY(SELECT name FROM jobs_queue WHERE space_id = %s AND paused),"
)
# A pending job (of the named queues, when given); the claim itself skips paused queues.
_WAITING_SQL = (
    " (SELECT 1 FROM jobs_job WHERE space_id = %s AND status = 'pending'"
    " ORDER BY priority DESC, run_at, id LIMIT 1) IS NOT NULL"
)
_WAITING_NAMED_SQL = (
    " (SELECT 1 FROM jobs_job WHERE space_id = %s AND status = 'pending' AND name = ANY(%s)"
    " ORDER BY name LIMIT 1) IS NOT NULL"
)


def _claim_sql(
    space: Space,
    limit: int,
    names: list[str] | None,
    paused: list[str],
    changes: dict,
) -> tuple[str, list]:
    """The claim: pick with FOR UPDATE SKIP LOCKED through the partial claim index, update,
    and return every column (its parameters with it). Concurrent pollers skip each other's
    rows, never wait. A claim to running counts the attempt.
    """
    started = changes["status"] == Status.RUNNING
    where, params = ["space_id = %s", "status = 'pending'"], [space.pk]
    if names:
        where.append("name = ANY(%s)")
        params.append(names)
    if paused:
        where.append("NOT (name = ANY(%s))")
        params.append(paused)
    sets = ", ".join(f"{col} = %s" for col in changes)
    if started:
        sets += ", attempts = attempts + 1"
    # Only fixed fragments and our own column names are formatted in; values are parameters.
    sql = (
        "WITH picked AS MATERIALIZED ("  # noqa: S608
        f" SELECT id FROM jobs_job WHERE {' AND '.join(where)}"
        f" ORDER BY priority DESC, run_at, id LIMIT {int(limit)} FOR UPDATE SKIP LOCKED)"
        f" UPDATE jobs_job AS j SET {sets}, lease_id = gen_random_uuid()"
        " FROM picked WHERE j.id = picked.id"
        f" RETURNING {', '.join('j.' + c for c in rows.COLUMNS)}"
    )
    return sql, [*params, *changes.values()]


def _claim_guarded(
    space: Space,
    limit: int,
    names: list[str] | None,
    paused: list[str],
    changes: dict,
    *,
    started: bool,
) -> list[Job]:
    """Portable claim (SQLite): pick candidates, then take each with an UPDATE guarded by
    status = pending. A row someone else took first updates nothing and is skipped.
    """
    candidates = Job.objects.filter(space=space, status=Status.PENDING).exclude(name__in=paused)
    if names:
        candidates = candidates.filter(name__in=names)
    ids = list(
        candidates.order_by("-priority", "run_at", "id").values_list("id", flat=True)[:limit]
    )
    taken = []
    extra = {"attempts": F("attempts") + 1} if started else {}
    for job_id in ids:
        if Job.objects.filter(pk=job_id, status=Status.PENDING).update(
            lease_id=uuid.uuid4(), **changes, **extra
        ):
            taken.append(job_id)
    return list(Job.objects.filter(pk__in=taken))


def _delivered_data(job: Job) -> dict:
    return {
        "worker_id": job.worker_id,
        "lease_expires_at": iso(job.lease_expires_at),
        "attempt": job.attempts,
    }
