"""Multi-row INSERTs of new jobs, their tags and events, for the lifecycle's batch writes.

On PostgreSQL the rows travel as one JSON array read by `jsonb_to_recordset`: Python
formats one parameter per statement instead of one per column and row (the ORM's
bulk_create spent more time preparing 100 jobs than PostgreSQL spent storing them).
Values are never formatted into the SQL. Other databases (SQLite in development) take
the ORM's bulk_create.

Every column that is not listed below must be nullable or hold the model's default for
a new row (attempts 0, empty worker and error): tests/test_bulk_create.py compares the
stored rows with the objects field by field.
"""

import json
from datetime import datetime

from django.db import connection

from jobs.models import Job, JobEvent, JobTag

_JOBS = """
INSERT INTO jobs_job (
    id, space_id, name, status, payload, priority, tags, idempotency_key,
    attempts, retry_count, max_retries, timeout_seconds, scheduled_for, run_at,
    worker_id, progress_message, last_error,
    callback_url, callback_headers, callback_secret, created_at, updated_at
)
SELECT
    r.id, r.space_id, r.name, r.status, r.payload, r.priority, r.tags, r.idempotency_key,
    0, 0, r.max_retries, r.timeout_seconds, r.scheduled_for, r.run_at,
    '', '', '',
    r.callback_url, r.callback_headers, r.callback_secret, r.created_at, r.updated_at
FROM jsonb_to_recordset(%s::jsonb) AS r(
    id uuid, space_id uuid, name text, status text, payload jsonb, priority int, tags jsonb,
    idempotency_key text, max_retries int, timeout_seconds int, scheduled_for timestamptz,
    run_at timestamptz, callback_url text, callback_headers jsonb, callback_secret text,
    created_at timestamptz, updated_at timestamptz
)
"""

_TAGS = """
INSERT INTO jobs_jobtag (job_id, space_id, tag)
SELECT (t->>0)::uuid, (t->>1)::uuid, t->>2 FROM jsonb_array_elements(%s::jsonb) AS t
"""

# Identities are drawn in the order the function yields the rows, which is the array's:
# RETURNING answers them in that order (the ORM's own bulk_create relies on the same).
_EVENTS = """
INSERT INTO jobs_jobevent (job_id, space_id, type, status, data, worker_id, actor, at)
SELECT r.job_id, r.space_id, r.type, r.status, r.data, r.worker_id, r.actor, r.at
FROM jsonb_to_recordset(%s::jsonb) AS r(
    job_id uuid, space_id uuid, type text, status text, data jsonb, worker_id text,
    actor text, at timestamptz
)
RETURNING id
"""


def insert_jobs(jobs: list[Job]) -> None:
    """Stores new jobs (status pending or scheduled, nothing run yet) in one INSERT."""
    if connection.vendor != "postgresql":
        Job.objects.bulk_create(jobs)
        return
    rows = [
        {
            "id": str(job.id),
            "space_id": str(job.space_id),
            "name": job.name,
            "status": job.status,
            "payload": job.payload,
            "priority": job.priority,
            "tags": job.tags,
            "idempotency_key": job.idempotency_key,
            "max_retries": job.max_retries,
            "timeout_seconds": job.timeout_seconds,
            "scheduled_for": _iso(job.scheduled_for),
            "run_at": _iso(job.run_at),
            "callback_url": job.callback_url,
            "callback_headers": job.callback_headers,
            "callback_secret": job.callback_secret,
            "created_at": _iso(job.created_at),
            "updated_at": _iso(job.updated_at),
        }
        for job in jobs
    ]
    _execute(_JOBS, rows)
    _stored(jobs)


def insert_tags(tags: list[JobTag]) -> None:
    if connection.vendor != "postgresql":
        JobTag.objects.bulk_create(tags)
        return
    _execute(_TAGS, [[str(t.job_id), str(t.space_id), t.tag] for t in tags])
    _stored(tags)


def insert_events(events: list[JobEvent]) -> list[JobEvent]:
    """Stores events in one INSERT and gives each its id (the stream's seq), in order."""
    if connection.vendor != "postgresql":
        return JobEvent.objects.bulk_create(events)
    rows = [
        {
            "job_id": str(e.job_id),
            "space_id": str(e.space_id),
            "type": e.type,
            "status": e.status,
            "data": e.data,
            "worker_id": e.worker_id,
            "actor": e.actor,
            "at": _iso(e.at),
        }
        for e in events
    ]
    ids = _execute(_EVENTS, rows, returning=True)
    for event, (pk,) in zip(events, ids, strict=True):
        event.pk = pk
    _stored(events)
    return events


def _execute(sql: str, rows: list, *, returning: bool = False) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(rows, separators=(",", ":"))])
        return cursor.fetchall() if returning else []


def _stored(objs: list) -> None:
    """Marks the objects as saved rows, as bulk_create does."""
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
