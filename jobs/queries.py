"""Reads of jobs, always scoped to one space. A foreign id and a missing id look alike."""

import base64
import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.db import OperationalError, connection, transaction
from django.db.models import CharField, Count, Max, Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils.dateparse import parse_datetime

from emitrun.errors import NotFound, ValidationFailed
from jobs.models import Job, JobEvent, JobTag, Status
from notifications.models import Delivery, Kind
from spaces.models import Space

# Filter names: ours, plus Spooled's (processing, deadletter, failed; cancelled
# covers killed too).
STATUS_FILTERS: dict[str, Q] = {
    **{s.value: Q(status=s) for s in Status},
    "cancelled": Q(status__in=[Status.CANCELLED, Status.KILLED]),
    "processing": Q(status__in=[Status.DELIVERED, Status.RUNNING]),
    "deadletter": Q(status=Status.DEAD),
    "failed": Q(status=Status.SCHEDULED, retry_count__gt=0),
}
ORDER_FIELDS = ("created_at", "updated_at", "priority", "name", "status")  # never NULL
_HEXISH = re.compile(r"^[0-9a-fA-F-]{1,36}$")


def get_job_for_space(space: Space, job_id: Any) -> Job:
    """The job with this id in this space; NotFound for a bad, missing or foreign id."""
    try:
        pk = uuid.UUID(str(job_id))
    except (TypeError, ValueError):
        raise NotFound(f"No job {job_id}") from None
    job = Job.objects.filter(pk=pk, space=space).first()
    if job is None:
        raise NotFound(f"No job {job_id}")
    job.space = space
    return job


@dataclass
class JobFilter:
    statuses: list[str] | None = None
    names: list[str] | None = None
    tag: str | None = None
    q: str | None = None
    job_type: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    order_by: str = "created_at"
    descending: bool = True


def filter_jobs(space: Space, f: JobFilter) -> QuerySet[Job]:
    """The space's jobs matching `f`, ordered (ties broken by id)."""
    qs = Job.objects.filter(space=space)
    if f.statuses:
        cond = Q()
        for name in f.statuses:
            cond |= STATUS_FILTERS[name]
        qs = qs.filter(cond)
    if f.names:
        qs = qs.filter(name__in=f.names)
    if f.tag is not None:
        qs = qs.filter(pk__in=JobTag.objects.filter(space=space, tag=f.tag).values("job_id"))
    if f.job_type is not None:
        qs = qs.filter(payload__job_type=f.job_type)
    if f.created_after is not None:
        qs = qs.filter(created_at__gte=f.created_after)
    if f.created_before is not None:
        qs = qs.filter(created_at__lt=f.created_before)
    if f.q:
        qs = _search(qs, f.q)
    sign = "-" if f.descending else ""
    return qs.order_by(f"{sign}{f.order_by}", f"{sign}id")


def _search(qs: QuerySet[Job], q: str) -> QuerySet[Job]:
    """Free search: an id prefix, a substring of the name, or of the payload's JSON text."""
    cond = Q(name__icontains=q) | Q(payload_text__icontains=q)
    qs = qs.annotate(payload_text=Cast("payload", TextField()))
    if _HEXISH.match(q):
        qs = qs.annotate(id_text=Cast("id", CharField()))
        cond |= Q(id_text__startswith=q.lower())
    return qs.filter(cond)


def after_cursor(qs: QuerySet[Job], f: JobFilter, cursor: str) -> QuerySet[Job]:
    """Keyset paging: rows strictly after the one the cursor names, in `f`'s order."""
    field, value, last_id = decode_cursor(cursor, f)
    later = "lt" if f.descending else "gt"
    return qs.filter(
        Q(**{f"{field}__{later}": value}) | Q(**{field: value, f"id__{later}": last_id})
    )


def encode_cursor(job: Job, f: JobFilter) -> str:
    value = getattr(job, f.order_by)
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps({"o": f.order_by, "d": f.descending, "v": value, "id": str(job.pk)})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, f: JobFilter) -> tuple[str, Any, uuid.UUID]:
    bad = ValidationFailed(
        "Invalid cursor; use the X-Next-Cursor value of the previous page",
        {"cursor": ["invalid cursor"]},
    )
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        field, value, last_id = data["o"], data["v"], uuid.UUID(data["id"])
    except (ValueError, KeyError, TypeError):
        raise bad from None
    if field != f.order_by or data.get("d") != f.descending:
        raise ValidationFailed(
            "The cursor belongs to another ordering", {"cursor": ["ordering changed"]}
        )
    if field in ("created_at", "updated_at"):
        value = parse_datetime(str(value))
        if value is None:
            raise bad
    return field, value, last_id


def stats(space: Space) -> dict[str, int]:
    """Counts in Spooled's names: processing = delivered + running, failed = waiting
    to retry, cancelled = cancelled + killed, deadletter = dead.
    """
    rows = (
        Job.objects.filter(space=space)
        .values("status")
        .annotate(n=Count("id"), retrying=Count("id", filter=Q(retry_count__gt=0)))
    )
    by = {row["status"]: row for row in rows}

    def n(status: str) -> int:
        return by.get(status, {}).get("n", 0)

    failed = by.get(Status.SCHEDULED, {}).get("retrying", 0)
    out = {
        "pending": n(Status.PENDING),
        "scheduled": n(Status.SCHEDULED) - failed,
        "processing": n(Status.DELIVERED) + n(Status.RUNNING),
        "completed": n(Status.COMPLETED),
        "failed": failed,
        "deadletter": n(Status.DEAD),
        "cancelled": n(Status.CANCELLED) + n(Status.KILLED),
    }
    out["total"] = sum(row["n"] for row in by.values())
    return out


def counts_by_status(space: Space) -> dict[str, int]:
    """Counts in our own status names (every status present, zero or not)."""
    rows = Job.objects.filter(space=space).values("status").annotate(n=Count("id"))
    out = {s.value: 0 for s in Status}
    out.update({row["status"]: row["n"] for row in rows})
    return out


def events_of(job: Job, *, descending: bool = False) -> QuerySet[JobEvent]:
    return JobEvent.objects.filter(job=job).order_by("-id" if descending else "id")


def jobs_by_ids(space: Space, ids: list[uuid.UUID]) -> list[Job]:
    return list(Job.objects.filter(space=space, pk__in=ids))


# --- Dashboard reads ---------------------------------------------------------------


class TooSlow(Exception):
    """A read ran past its time limit and was cancelled by the database."""


@contextmanager
def time_limit(milliseconds: int) -> Iterator[None]:
    """Runs the reads inside under a PostgreSQL statement timeout, so a free-text search
    over a million jobs answers "narrow it down" instead of holding a connection for
    half a minute. Raises TooSlow when a statement is cancelled. No limit on SQLite.
    """
    postgres = connection.vendor == "postgresql"
    with transaction.atomic():
        if postgres:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('statement_timeout', %s, true)", [str(milliseconds)]
                )
        try:
            yield
        except OperationalError as error:
            if postgres and type(error.__cause__).__name__ == "QueryCanceled":
                raise TooSlow from None
            raise


@dataclass
class JobPage:
    """One keyset page of a job listing, with the cursors of its neighbours."""

    jobs: list[Job]
    next_cursor: str | None  # rows after the last one, or None on the last page
    prev_cursor: str | None  # rows before the first one, or None on the first page


def _flipped(f: JobFilter) -> JobFilter:
    return replace(f, descending=not f.descending)


def page_of_jobs(
    space: Space, f: JobFilter, *, after: str = "", before: str = "", size: int = 50
) -> JobPage:
    """`size` jobs matching `f`, after (or before) a cursor, and cursors both ways.

    Keyset only (never OFFSET), so any page costs one index range scan at a million
    rows. A page before a cursor is read in the reverse order and turned round; its
    cursors are encoded for the forward order again.
    """
    if before:
        back = _flipped(f)
        rows = list(after_cursor(filter_jobs(space, back), back, before)[: size + 1])
        more_before = len(rows) > size
        jobs = rows[:size][::-1]
        return JobPage(
            jobs,
            next_cursor=encode_cursor(jobs[-1], f) if jobs else None,
            prev_cursor=encode_cursor(jobs[0], back) if jobs and more_before else None,
        )
    qs = filter_jobs(space, f)
    if after:
        qs = after_cursor(qs, f, after)
    rows = list(qs[: size + 1])
    jobs = rows[:size]
    return JobPage(
        jobs,
        next_cursor=encode_cursor(jobs[-1], f) if len(rows) > size else None,
        prev_cursor=encode_cursor(jobs[0], _flipped(f)) if after and jobs else None,
    )


def capped_count(qs: QuerySet[Job], cap: int = 1000) -> int:
    """Rows of `qs`, counting no further than cap + 1: a full COUNT of a million-row
    space costs a scan of all of it, and the table only says "more than 1,000".
    """
    return qs.order_by()[: cap + 1].count()


def ids_matching(space: Space, f: JobFilter, *, limit: int) -> list[uuid.UUID]:
    """The ids of the first `limit` jobs matching `f`, in its order (bulk actions)."""
    return list(filter_jobs(space, f).values_list("id", flat=True)[:limit])


def jobs_in_space(space: Space, ids: list[uuid.UUID]) -> QuerySet[Job]:
    """The jobs of this space among `ids` (a foreign or unknown id is simply absent)."""
    return Job.objects.filter(space=space, pk__in=ids)


def recent_events_of(job: Job, *, limit: int = 100) -> tuple[list[JobEvent], int]:
    """The job's last `limit` events, oldest first, and how many it has in all."""
    newest = list(JobEvent.objects.filter(job=job).order_by("-id")[:limit])
    total = len(newest)
    if total == limit:
        total = JobEvent.objects.filter(job=job).count()
    return newest[::-1], total


def callback_deliveries_of(job: Job, *, limit: int = 20) -> list[Delivery]:
    """The job's callback deliveries (outbox rows), newest first."""
    return list(
        Delivery.objects.filter(job=job, kind=Kind.CALLBACK).order_by("-created_at")[:limit]
    )


@dataclass
class DeadGroup:
    name: str
    last_error: str
    count: int
    newest_at: datetime | None


def dead_groups(space: Space, *, limit: int = 200) -> list[DeadGroup]:
    """The space's dead jobs grouped by name and last error, the latest deaths first."""
    rows = (
        Job.objects.filter(space=space, status=Status.DEAD)
        .values("name", "last_error")
        .annotate(n=Count("id"), newest=Max("finished_at"))
        .order_by("-newest", "name")[:limit]
    )
    return [DeadGroup(r["name"], r["last_error"], r["n"], r["newest"]) for r in rows]


def dead_jobs(
    space: Space, *, name: str | None = None, last_error: str | None = None, limit: int = 50
) -> QuerySet[Job]:
    """Dead jobs of the space, optionally of one group, the latest deaths first."""
    qs = Job.objects.filter(space=space, status=Status.DEAD)
    if name is not None:
        qs = qs.filter(name=name)
    if last_error is not None:
        qs = qs.filter(last_error=last_error)
    return qs.order_by("-finished_at", "-id")[:limit]


def dead_ids_of_group(space: Space, *, name: str, last_error: str, limit: int) -> list[str]:
    """Ids of the dead jobs of one group (name and last error), oldest death first."""
    ids = (
        Job.objects.filter(space=space, status=Status.DEAD, name=name, last_error=last_error)
        .order_by("finished_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    return [str(i) for i in ids]
