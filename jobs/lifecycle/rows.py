"""Reading and writing job rows on the lifecycle's hot path with fixed SQL statements.

The ORM compiles every query anew, and on a worker's ack or complete that compilation
cost more CPU than PostgreSQL spent running the statements. These helpers build each
statement from the model's own column names and pass every value as a parameter,
converted by the model field exactly as the ORM would. Other databases (SQLite, for
`make run`) take the ORM path.
"""

from collections.abc import Iterable
from typing import Any

from django.db import connection

from emitrun.errors import NotFound
from jobs.models import Job, JobEvent

_FIELDS = {f.name: f for f in Job._meta.concrete_fields}
_COLUMNS = ", ".join(f'"{f.column}"' for f in Job._meta.concrete_fields)
_TABLE = Job._meta.db_table
_EVENT_FIELDS = [f for f in JobEvent._meta.concrete_fields if not f.primary_key]
_EVENT_INSERT = (
    f"INSERT INTO {JobEvent._meta.db_table}"  # noqa: S608 - column names only
    f" ({', '.join(chr(34) + f.column + chr(34) for f in _EVENT_FIELDS)}) VALUES "
)
_EVENT_ROW = "(" + ", ".join(["%s"] * len(_EVENT_FIELDS)) + ")"


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def lock_one(space_id: Any, job_id: Any) -> Job:
    """The job of this space under a row lock (FOR UPDATE); NotFound if there is none."""
    if _postgres():
        sql = f"SELECT {_COLUMNS} FROM {_TABLE} WHERE id = %s AND space_id = %s FOR UPDATE"  # noqa: S608 - column names only
        jobs = list(Job.objects.raw(sql, [job_id, space_id]))
    else:
        jobs = list(Job.objects.select_for_update().filter(pk=job_id, space_id=space_id))
    if not jobs:
        raise NotFound(f"No job {job_id}")
    return jobs[0]


def lock_many(space_id: Any, ids: Iterable[Any]) -> list[Job]:
    """The space's jobs with these ids, locked in id order (two lockers cannot deadlock)."""
    ids = sorted(set(ids))
    if _postgres():
        sql = (
            f"SELECT {_COLUMNS} FROM {_TABLE} WHERE space_id = %s AND id = ANY(%s)"  # noqa: S608
            " ORDER BY id FOR UPDATE"
        )
        return list(Job.objects.raw(sql, [space_id, ids]))
    qs = Job.objects.select_for_update().filter(space_id=space_id, pk__in=ids).order_by("pk")
    return list(qs)


def update(
    ids: list[Any], changes: dict[str, Any], *, expect: Iterable[str], count_attempt: bool = False
) -> int:
    """One UPDATE of these rows with `changes` (field name -> value), guarded by status.

    Returns the number of rows changed. `count_attempt` adds attempts = attempts + 1.
    """
    statuses = [str(s) for s in expect]
    if not _postgres():
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
    if not _postgres():
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
    """Inserts the events in one statement and gives each its id (its stream seq)."""
    if not events:
        return
    if not _postgres():
        JobEvent.objects.bulk_create(events)
        return
    params = [
        f.get_db_prep_save(getattr(event, f.attname), connection)
        for event in events
        for f in _EVENT_FIELDS
    ]
    sql = _EVENT_INSERT + ", ".join([_EVENT_ROW] * len(events)) + " RETURNING id"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    for event, pk in zip(events, ids, strict=True):  # VALUES rows come back in order
        event.pk = pk
        event._state.adding = False
        event._state.db = connection.alias
