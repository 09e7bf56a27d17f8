"""Aggregates behind a space's overview: counts by status, throughput and latency over
time, and each queue's depth and rate. Reads only, always scoped to one space.

Everything about finished jobs is bounded by `finished_at` so it walks the partial index
`job_finished_idx` (space, finished_at) over one window, however many jobs the space has
kept. On PostgreSQL the buckets and percentiles are computed in SQL; elsewhere (the
embedded SQLite default) the window's rows are read and summarised in Python, with the
same interpolation as `percentile_cont`.
"""

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, TypedDict

from django.core.cache import cache
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from jobs.models import Job, Queue, Status
from spaces.models import Space

log = logging.getLogger("emitrun.insights")

WindowName = Literal["hour", "day"]


@dataclass(frozen=True)
class Window:
    span: timedelta
    bucket: timedelta
    cache_seconds: int  # how long one space's chart data is shared between viewers

    @property
    def bucket_seconds(self) -> int:
        return int(self.bucket.total_seconds())

    @property
    def size(self) -> int:
        return int(self.span / self.bucket)


WINDOWS: dict[str, Window] = {
    "hour": Window(span=timedelta(hours=1), bucket=timedelta(minutes=1), cache_seconds=5),
    "day": Window(span=timedelta(days=1), bucket=timedelta(minutes=15), cache_seconds=60),
}

# The queues table's rate: completions per minute, averaged over this span.
RATE_SPAN = timedelta(minutes=10)
# Statuses in the order the overview shows them.
STATUS_ORDER = [
    Status.SCHEDULED,
    Status.PENDING,
    Status.DELIVERED,
    Status.RUNNING,
    Status.COMPLETED,
    Status.DEAD,
    Status.KILLED,
    Status.CANCELLED,
]


class Series(TypedDict):
    """Chart data: `t` holds each bucket's start (Unix seconds); the other lists align
    with it. completed/failed are counts per bucket (failed = jobs that ended dead);
    wait (run_at -> started_at) and run (started_at -> finished_at) percentiles are
    seconds over the jobs that ended completed or dead in the bucket, None when none did.
    """

    window: str
    bucket_seconds: int
    t: list[int]
    completed: list[int]
    failed: list[int]
    wait_p50: list[float | None]
    wait_p95: list[float | None]
    run_p50: list[float | None]
    run_p95: list[float | None]


@dataclass(frozen=True)
class QueueRow:
    name: str
    pending: int
    running: int  # delivered or running: handed to a worker
    completed_per_minute: float
    paused: bool
    paused_at: datetime | None
    pause_reason: str


def counts(space: Space) -> dict[str, int]:
    """How many of the space's jobs are in each status (every status, zeros included)."""
    rows = Job.objects.filter(space=space).values_list("status").annotate(n=Count("id")).order_by()
    out = dict.fromkeys([s.value for s in STATUS_ORDER], 0)
    out.update(dict(rows))
    return out


def recent_series(space: Space, window: WindowName) -> Series:
    """series() as of now, shared briefly between viewers: every open overview refreshes
    on live events, and a busy space's day window reads a day of finished jobs.
    """
    key = f"insights:series:{space.pk}:{window}"
    try:
        hit = cache.get(key)
    except Exception:  # the cache (Redis) being down must not take the charts with it
        log.warning("chart cache unavailable", exc_info=True)
        hit = None
    if hit is not None:
        return hit
    data = series(space, window)
    try:
        cache.set(key, data, WINDOWS[window].cache_seconds)
    except Exception:
        log.warning("chart cache unavailable", exc_info=True)
    return data


def series(space: Space, window: WindowName, *, now: datetime | None = None) -> Series:
    """Throughput and latency of the space's jobs per bucket over the window ending now."""
    spec = WINDOWS[window]
    now = now or timezone.now()
    step = spec.bucket_seconds
    last = math.floor(now.timestamp() / step)
    slots = list(range(last - spec.size + 1, last + 1))
    start = datetime.fromtimestamp(slots[0] * step, tz=UTC)
    end = datetime.fromtimestamp((last + 1) * step, tz=UTC)
    if connection.vendor == "postgresql":
        found = _buckets_sql(space, start, end, step)
    else:
        found = _buckets_python(space, start, end, step)
    empty = (0, 0, None, None, None, None)
    rows = [found.get(slot, empty) for slot in slots]
    return Series(
        window=window,
        bucket_seconds=step,
        t=[slot * step for slot in slots],
        completed=[r[0] for r in rows],
        failed=[r[1] for r in rows],
        wait_p50=[_round(r[2]) for r in rows],
        wait_p95=[_round(r[3]) for r in rows],
        run_p50=[_round(r[4]) for r in rows],
        run_p95=[_round(r[5]) for r in rows],
    )


Bucket = tuple[int, int, float | None, float | None, float | None, float | None]

# Wait and run only count jobs that ran to an end (completed or dead): a killed or
# cancelled job's times say nothing about the workers. run_at is when the job became
# claimable (creation, its scheduled time, or its retry's due time). date_part, not
# extract: extract returns numeric since PostgreSQL 14, several times slower here. The
# covering index job_finished_idx makes this an index-only scan.
_SERIES_SQL = """
SELECT slot,
       count(*) FILTER (WHERE status = 'completed'),
       count(*) FILTER (WHERE status = 'dead'),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY wait),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY wait),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY run),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY run)
FROM (
    SELECT floor(date_part('epoch', finished_at) / %(step)s)::bigint AS slot,
           status,
           CASE WHEN status IN ('completed', 'dead') AND started_at IS NOT NULL
                THEN greatest(0, date_part('epoch', started_at - run_at)) END AS wait,
           CASE WHEN status IN ('completed', 'dead') AND started_at IS NOT NULL
                THEN greatest(0, date_part('epoch', finished_at - started_at)) END AS run
    FROM jobs_job
    WHERE space_id = %(space)s AND finished_at >= %(start)s AND finished_at < %(end)s
) finished
GROUP BY slot
"""


def _buckets_sql(space: Space, start: datetime, end: datetime, step: int) -> dict[int, Bucket]:
    params = {"space": space.pk, "start": start, "end": end, "step": step}
    with connection.cursor() as cursor:
        cursor.execute(_SERIES_SQL, params)
        return {row[0]: tuple(row[1:]) for row in cursor.fetchall()}


def _buckets_python(space: Space, start: datetime, end: datetime, step: int) -> dict[int, Bucket]:
    rows = Job.objects.filter(space=space, finished_at__gte=start, finished_at__lt=end)
    grouped: dict[int, list[tuple[str, float | None, float | None]]] = {}
    for status, finished, started, run_at in rows.values_list(
        "status", "finished_at", "started_at", "run_at"
    ):
        ran = status in (Status.COMPLETED, Status.DEAD) and started is not None
        wait = max(0.0, (started - run_at).total_seconds()) if ran else None
        run = max(0.0, (finished - started).total_seconds()) if ran else None
        slot = math.floor(finished.timestamp() / step)
        grouped.setdefault(slot, []).append((status, wait, run))
    return {slot: _summarise(items) for slot, items in grouped.items()}


def _summarise(items: list[tuple[str, float | None, float | None]]) -> Bucket:
    waits = sorted(w for _, w, _ in items if w is not None)
    runs = sorted(r for _, _, r in items if r is not None)
    return (
        sum(1 for s, _, _ in items if s == Status.COMPLETED),
        sum(1 for s, _, _ in items if s == Status.DEAD),
        percentile(waits, 0.5),
        percentile(waits, 0.95),
        percentile(runs, 0.5),
        percentile(runs, 0.95),
    )


def percentile(ordered: list[float], fraction: float) -> float | None:
    """PostgreSQL's percentile_cont over sorted values: linear between the closest two."""
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def queue_rows(space: Space, *, now: datetime | None = None) -> list[QueueRow]:
    """Each queue of the space, by name: jobs waiting, jobs out with workers, recent
    completions per minute (over RATE_SPAN), and whether it is paused.
    """
    now = now or timezone.now()
    active = (
        Job.objects.filter(
            space=space, status__in=[Status.PENDING, Status.DELIVERED, Status.RUNNING]
        )
        .values_list("name", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    depth: dict[tuple[str, str], int] = {(name, status): n for name, status, n in active}
    recent = dict(
        Job.objects.filter(space=space, finished_at__gte=now - RATE_SPAN, status=Status.COMPLETED)
        .values_list("name")
        .annotate(n=Count("id"))
        .order_by()
    )
    minutes = RATE_SPAN.total_seconds() / 60
    return [
        QueueRow(
            name=q.name,
            pending=depth.get((q.name, Status.PENDING), 0),
            running=depth.get((q.name, Status.DELIVERED), 0)
            + depth.get((q.name, Status.RUNNING), 0),
            completed_per_minute=round(recent.get(q.name, 0) / minutes, 1),
            paused=q.paused,
            paused_at=q.paused_at,
            pause_reason=q.pause_reason,
        )
        for q in Queue.objects.filter(space=space).order_by("name")
    ]
