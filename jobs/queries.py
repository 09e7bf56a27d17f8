"""Reads of jobs, always scoped to one space. A foreign id and a missing id look alike."""

import base64
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import CharField, Count, Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils.dateparse import parse_datetime

from emitrun.errors import NotFound, ValidationFailed
from jobs.models import Job, JobEvent, JobTag, Status
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
