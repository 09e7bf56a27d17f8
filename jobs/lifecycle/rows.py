"""Reading and writing job rows on the lifecycle's hot path with fixed SQL statements.

The ORM compiles every query anew, and on a worker's ack or complete that compilation
cost more CPU than PostgreSQL spent running the statements. These helpers build each
statement from the model's own column names and pass every value as a parameter,
converted by the model field exactly as the ORM would. Other databases (SQLite, for
`make run`) take the ORM path.

New jobs and their tags (up to 100 per bulk, ~20 columns each) travel instead as one
JSON array read by `jsonb_to_recordset`: Python formats one parameter per statement
rather than one per column and row. Columns not listed there must be nullable or hold
the model's default for a new row; tests/test_bulk_create.py compares the stored rows
with the objects field by field.
"""

from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.db.models import Model
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init

from emitrun import jsontext
from emitrun.errors import NotFound
from jobs.models import Job, JobEvent, JobTag

_FIELDS = {f.name: f for f in Job._meta.concrete_fields}
COLUMNS = [f.column for f in Job._meta.concrete_fields]  # every column, in model order
_COLUMNS = ", ".join(f'"{c}"' for c in COLUMNS)
_TABLE = Job._meta.db_table

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

# Rows are inserted (and take their ids) in the order of the array.
_EVENTS = """
INSERT INTO jobs_jobevent (job_id, space_id, type, status, data, worker_id, actor, at)
SELECT (e->>0)::uuid, (e->>1)::uuid, e->>2, e->>3, NULLIF(e->4, 'null'::jsonb), e->>5,
    e->>6, (e->>7)::timestamptz
FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS r(e, n) ORDER BY n
RETURNING id
"""

# Data-modifying CTEs always run, referenced or not; the events' job_id foreign key is
# checked when the statement (its own transaction) commits, the jobs inserted by then.
_JOBS_AND_EVENTS = "WITH new_jobs AS (" + _JOBS + ")" + _EVENTS

_TAGS = """
INSERT INTO jobs_jobtag (job_id, space_id, tag)
SELECT (t->>0)::uuid, (t->>1)::uuid, t->>2 FROM jsonb_array_elements(%s::jsonb) AS t
"""


def build(model: type[Model], values: list[Any]) -> Model:
    """A new instance of `model` from values in its concrete fields' order: what
    `model(*values)` builds, without Model.__init__'s call per field and its pre_init and
    post_init signals, which nobody receives (with a receiver connected, the constructor
    runs). A bulk create builds a hundred jobs and a hundred events this way.
    """
    if _listened(pre_init, model) or _listened(post_init, model):
        return model(*values)
    names = _ATTNAMES.get(model)
    if names is None:
        names = _ATTNAMES[model] = [f.attname for f in model._meta.concrete_fields]
    obj = model.__new__(model)
    obj.__dict__.update(zip(names, values, strict=True))
    obj._state = ModelState()
    return obj


_ATTNAMES: dict[type[Model], list[str]] = {}


def _listened(signal: Any, model: type[Model]) -> bool:
    return bool(signal.receivers) and signal.has_listeners(model)  # no receiver: no lookup


def postgres() -> bool:
    return connection.vendor == "postgresql"


_converters: list[tuple[int, list[Any], Any]] | None = None


def _row_converters() -> list[tuple[int, list[Any], Any]]:
    """(column index, converters, column expression) for the columns whose database value
    the ORM converts on the way in (JSON text to Python, for one), worked out once the way
    Django's compiler does it for every query.
    """
    global _converters
    if _converters is None:
        found = []
        for i, field in enumerate(Job._meta.concrete_fields):
            col = field.get_col(_TABLE)
            funcs = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            if funcs:
                found.append((i, funcs, col))
        _converters = found
    return _converters


def fetch_jobs(sql: str, params: list[Any]) -> list[Job]:
    """Jobs from a statement returning every column in model order (COLUMNS), built as the
    ORM builds them (`Model.from_db`, field converters applied) without a RawQuerySet,
    which maps the cursor's columns to fields anew on every call.
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return _jobs_of(cursor.fetchall())


def fetch_jobs_with(sql: str, params: list[Any]) -> list[tuple[Job, Any]]:
    """fetch_jobs for a statement that returns one more column after the job's: each job
    with that value (the id of an event stored by the same statement, say).
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return list(zip(_jobs_of([row[:-1] for row in rows]), [row[-1] for row in rows], strict=True))


def _jobs_of(rows: list[tuple]) -> list[Job]:
    if not rows:
        return []
    converters = _row_converters()
    jobs = []
    for row in rows:
        values = list(row)
        for i, funcs, col in converters:
            value = values[i]
            for func in funcs:
                value = func(value, col, connection)
            values[i] = value
        jobs.append(Job.from_db(connection.alias, None, values))
    return jobs


def lock_one(space_id: Any, job_id: Any) -> Job:
    """The job of this space under a row lock (FOR UPDATE); NotFound if there is none."""
    if postgres():
        sql = f"SELECT {_COLUMNS} FROM {_TABLE} WHERE id = %s AND space_id = %s FOR UPDATE"  # noqa: S608 - column names only
        jobs = fetch_jobs(sql, [job_id, space_id])
    else:
        jobs = list(Job.objects.select_for_update().filter(pk=job_id, space_id=space_id))
    if not jobs:
        raise NotFound(f"No job {job_id}")
    return jobs[0]


def lock_many(space_id: Any, ids: Iterable[Any]) -> list[Job]:
    """The space's jobs with these ids, locked in id order (two lockers cannot deadlock)."""
    ids = sorted(set(ids))
    if postgres():
        sql = (
            f"SELECT {_COLUMNS} FROM {_TABLE} WHERE space_id = %s AND id = ANY(%s)"  # noqa: S608
            " ORDER BY id FOR UPDATE"
        )
        return fetch_jobs(sql, [space_id, ids])
    qs = Job.objects.select_for_update().filter(space_id=space_id, pk__in=ids).order_by("pk")
    return list(qs)


def update(
    ids: list[Any], changes: dict[str, Any], *, expect: Iterable[str], count_attempt: bool = False
) -> int:
    """One UPDATE of these rows with `changes` (field name -> value), guarded by status.

    Returns the number of rows changed. `count_attempt` adds attempts = attempts + 1.
    """
    statuses = [str(s) for s in expect]
    if not postgres():
        from django.db.models import F

        extra = {"attempts": F("attempts") + 1} if count_attempt else {}
        return Job.objects.filter(pk__in=ids, status__in=statuses).update(**changes, **extra)
    fields = [_FIELDS[name] for name in changes]
    sets = [f'"{f.column}" = %s' for f in fields]
    if count_attempt:
        sets.append('"attempts" = "attempts" + 1')
    params = [
        f.get_db_prep_save(v, connection) for f, v in zip(fields, changes.values(), strict=True)
    ]
    where = "id = %s" if len(ids) == 1 else "id = ANY(%s)"
    sql = f"UPDATE {_TABLE} SET {', '.join(sets)} WHERE {where} AND status = ANY(%s)"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, ids[0] if len(ids) == 1 else list(ids), statuses])
        return cursor.rowcount


def update_each(
    rows: list[tuple[Any, dict[str, Any]]], same: dict[str, Any], *, expect: Iterable[str]
) -> int:
    """One UPDATE giving every row the `same` changes plus its own (the same fields for
    every row, e.g. each job's result), guarded by status. Returns rows changed.
    """
    statuses = [str(s) for s in expect]
    if not rows:
        return 0
    own_names = list(rows[0][1])
    if not postgres():
        changed = 0
        for job_id, own in rows:
            qs = Job.objects.filter(pk=job_id, status__in=statuses)
            changed += qs.update(**same, **own)
        return changed
    same_fields = [_FIELDS[name] for name in same]
    own_fields = [_FIELDS[name] for name in own_names]
    sets = [f'"{f.column}" = %s' for f in same_fields]
    sets += [f'"{f.column}" = v."{f.column}"' for f in own_fields]
    params: list[Any] = [
        f.get_db_prep_save(v, connection) for f, v in zip(same_fields, same.values(), strict=True)
    ]
    # One array per column, unnested side by side: one statement whatever the batch size.
    arrays, casts = [], []
    for f in own_fields:
        arrays.append([f.get_db_prep_save(own[f.name], connection) for _, own in rows])
        casts.append(f"%s::{f.db_type(connection)}[]")
    columns = ", ".join(f'"{f.column}"' for f in own_fields)
    sql = (
        f"UPDATE {_TABLE} AS j SET {', '.join(sets)}"  # noqa: S608 - column names only
        f" FROM unnest(%s::uuid[], {', '.join(casts)}) AS v(id, {columns})"
        " WHERE j.id = v.id AND j.status = ANY(%s)"
    )
    ids = [job_id for job_id, _ in rows]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, ids, *arrays, statuses])
        return cursor.rowcount


def insert_events(events: list[JobEvent]) -> None:
    """Inserts the events in one statement, their rows as one JSON parameter, and gives
    each its id (its stream seq), in the order given.
    """
    if not events:
        return
    if not postgres():
        JobEvent.objects.bulk_create(events)
        return
    _inserted(events, _EVENTS, [_events_param(events)])


def insert_jobs_and_events(jobs: list[Job], events: list[JobEvent]) -> None:
    """New jobs and their events in one statement (PostgreSQL): committed on its own when
    no transaction is open, so a create is one round trip instead of BEGIN, two INSERTs and
    COMMIT. The events' job rows are inserted by the same statement.
    """
    _inserted(events, _JOBS_AND_EVENTS, [_jobs_param(jobs), _events_param(events)])
    _stored(jobs)


def events_stored(seqs: dict[Any, int], events: list[JobEvent]) -> None:
    """Gives events that a statement already stored (one per job) their ids: `seqs` maps
    each event's job id to its event id.
    """
    for event in events:
        event.pk = seqs[event.job_id]
    _stored(events)


def _events_param(events: list[JobEvent]) -> str:
    rows = [
        [e.job_id, e.space_id, e.type, e.status, e.data, e.worker_id, e.actor, e.at] for e in events
    ]
    return jsontext.dumps(rows)


def _inserted(events: list[JobEvent], sql: str, params: list[str]) -> None:
    """Runs an INSERT returning the events' ids in order, and gives each event its id."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    for event, pk in zip(events, ids, strict=True):
        event.pk = pk
    _stored(events)


def insert_jobs(jobs: list[Job]) -> None:
    """Stores new jobs (status pending or scheduled, nothing run yet) in one INSERT."""
    if not postgres():
        Job.objects.bulk_create(jobs)
        return
    with connection.cursor() as cursor:
        cursor.execute(_JOBS, [_jobs_param(jobs)])
    _stored(jobs)


def _jobs_param(jobs: list[Job]) -> str:
    rows = [
        {
            "id": job.id,
            "space_id": job.space_id,
            "name": job.name,
            "status": job.status,
            "payload": job.payload,
            "priority": job.priority,
            "tags": job.tags,
            "idempotency_key": job.idempotency_key,
            "max_retries": job.max_retries,
            "timeout_seconds": job.timeout_seconds,
            "scheduled_for": job.scheduled_for,
            "run_at": job.run_at,
            "callback_url": job.callback_url,
            "callback_headers": job.callback_headers,
            "callback_secret": job.callback_secret,
            "created_at": job.created_at,
            "updated_at": job.updated_at,
        }
        for job in jobs
    ]
    return jsontext.dumps(rows)


def insert_tags(tags: list[JobTag]) -> None:
    if not postgres():
        JobTag.objects.bulk_create(tags)
        return
    _execute(_TAGS, [[t.job_id, t.space_id, t.tag] for t in tags])
    _stored(tags)


def _execute(sql: str, rows: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, [jsontext.dumps(rows)])


def _stored(objs: list) -> None:
    """Marks the objects as saved rows, as bulk_create does."""
    alias = connection.alias  # a lookup through the connection proxy each time otherwise
    for obj in objs:
        obj._state.adding = False
        obj._state.db = alias
