"""Prometheus metrics: counters and histograms kept by every process, gauges read from SQL.

Several processes serve one node (gunicorn and uvicorn workers, Celery workers), so
when PROMETHEUS_MULTIPROC_DIR is set every process writes its samples to files there
and a scrape of /metrics on any of them adds the files up (prometheus_client's
multiprocess mode). Give the processes of one machine one directory, emptied at
start (docs/deploy.md), and scrape every machine.

Queue depth and outbox backlog are not counted in-process: a scrape asks PostgreSQL,
with a short statement timeout, so they are right whichever node is asked.
"""

import collections
import ipaddress
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from hmac import compare_digest
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

log = logging.getLogger("emitrun.metrics")

# Event types that end or start something worth counting, and the outcome they count as.
OUTCOMES = {
    "job.created": "created",
    "job.completed": "completed",
    "job.failed": "failed",
    "job.dead": "dead",
    "job.killed": "killed",
    "job.cancelled": "cancelled",
}
_STARTS = {"job.delivered", "job.started"}
_ENDS = {"job.completed", "job.failed", "job.dead"}
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
WAIT_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600)

JOBS = Counter(
    "emitrun_jobs", "Jobs that reached an outcome, by space, name and outcome.",
    ["space", "name", "outcome"],
)  # fmt: skip
CLAIM_SECONDS = Histogram(
    "emitrun_claim_seconds", "Time one poll or claim call spends taking jobs.",
    buckets=LATENCY_BUCKETS,
)  # fmt: skip
WAIT_SECONDS = Histogram(
    "emitrun_job_wait_seconds", "From due (enqueued, or retry time) to delivered.",
    buckets=WAIT_BUCKETS,
)  # fmt: skip
RUN_SECONDS = Histogram(
    "emitrun_job_run_seconds", "From started to completed, failed or dead, per attempt.",
    buckets=WAIT_BUCKETS,
)  # fmt: skip
REQUEST_SECONDS = Histogram(
    "emitrun_http_request_seconds", "HTTP request latency by route, method and status class.",
    ["route", "method", "status"], buckets=LATENCY_BUCKETS,
)  # fmt: skip
WEBSOCKETS = Gauge(
    "emitrun_websocket_connections", "Open WebSocket streams.", multiprocess_mode="livesum"
)


def job_events(entries: list[tuple[Any, str, dict | None]], *, at: datetime) -> None:
    """Counts the events a lifecycle transaction writes, once it commits (a rollback counts
    nothing). One tuple per event, read now: the job objects change after this call.
    """
    rows = [
        (str(job.space_id), job.name, type_, job.run_at, job.delivered_at, job.started_at)
        for job, type_, _ in entries
        if type_ in OUTCOMES or type_ in _STARTS or type_ in _ENDS
    ]
    if rows:
        transaction.on_commit(partial(_observe, rows, at))


def _observe(rows: list[tuple], at: datetime) -> None:
    outcomes = collections.Counter(
        (space, name, OUTCOMES[type_]) for space, name, type_, *_ in rows if type_ in OUTCOMES
    )
    for labels, count in outcomes.items():  # a bulk of 100 creates: one increment of 100
        JOBS.labels(*labels).inc(count)
    for _, _, type_, run_at, delivered_at, started_at in rows:
        # A job waits until it is handed out: delivered, or started by a claim that acks (an
        # ack after a delivery starts a job that already stopped waiting).
        handed_out = type_ == "job.delivered" or (
            type_ == "job.started" and delivered_at == started_at
        )
        if handed_out and run_at is not None:
            WAIT_SECONDS.observe(max((at - run_at).total_seconds(), 0.0))
        if type_ in _ENDS and started_at is not None:
            RUN_SECONDS.observe(max((at - started_at).total_seconds(), 0.0))


@contextmanager
def claim_timer() -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        CLAIM_SECONDS.observe(time.perf_counter() - started)


def observe_request(request: HttpRequest, status: int, seconds: float) -> None:
    """Labels by the matched route pattern (bounded), never the raw path."""
    match = getattr(request, "resolver_match", None)
    route = match.route if match is not None and match.route else "unmatched"
    REQUEST_SECONDS.labels(route, request.method or "", f"{status // 100}xx").observe(seconds)


class DatabaseGauges(Collector):
    """Queue depth per space and status, and the outbox backlog, read at scrape time."""

    def describe(self) -> list:
        return []  # registering must not run the queries; the names are not checked

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "emitrun_queue_depth",
            "Jobs per space and non-final status.",
            labels=["space", "status"],
        )
        backlog = GaugeMetricFamily(
            "emitrun_outbox_deliveries",
            "Outbox rows by kind and status.",
            labels=["kind", "status"],
        )
        oldest = GaugeMetricFamily(
            "emitrun_outbox_oldest_pending_seconds", "Age of the oldest pending delivery."
        )
        try:
            jobs, deliveries, age = _read_gauges()
        except Exception:
            log.warning("metrics: could not read gauges from the database", exc_info=True)
            return
        for space, status, count in jobs:
            depth.add_metric([str(space), status], count)
        for kind, status, count in deliveries:
            backlog.add_metric([kind, status], count)
        oldest.add_metric([], age)
        yield from (depth, backlog, oldest)


_QUEUE_DEPTH = """
    SELECT space_id, status, count(*) FROM jobs_job
    WHERE status IN ('scheduled', 'pending', 'delivered', 'running', 'dead')
    GROUP BY space_id, status
"""
# sent rows are history, pruned by retention: only what is waiting or gave up is backlog.
_OUTBOX = """
    SELECT kind, status, count(*) FROM notifications_delivery
    WHERE status IN ('pending', 'sending', 'failed') GROUP BY kind, status
"""
_OLDEST = """
    SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)
    FROM notifications_delivery WHERE status = 'pending'
"""


def _read_gauges() -> tuple[list, list, float]:
    with transaction.atomic(), connection.cursor() as cursor:
        if settings.IS_POSTGRES:  # a slow scrape must not pile up on a busy database
            cursor.execute("SET LOCAL statement_timeout = '2s'")
        cursor.execute(_QUEUE_DEPTH)
        jobs = cursor.fetchall()
        cursor.execute(_OUTBOX)
        deliveries = cursor.fetchall()
        cursor.execute(_OLDEST)
        (age,) = cursor.fetchone()
    return jobs, deliveries, float(age or 0)


def _registry() -> CollectorRegistry:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        for collector in (REGISTRY, DatabaseGauges()):
            registry.register(collector)
        return registry
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    registry.register(DatabaseGauges())
    return registry


def allowed(request: HttpRequest) -> bool:
    """The metrics token (Authorization: Bearer) or a client address in the allowed networks."""
    token = settings.EMITRUN_METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    if token and compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    try:
        client = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(client in network for network in settings.EMITRUN_METRICS_NETWORKS)


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics in Prometheus text format. Anyone else gets a plain 404."""
    if not allowed(request):
        return HttpResponse("Not found\n", status=404, content_type="text/plain")
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)


def mark_process_dead(pid: int) -> None:
    """Drops a finished worker's live gauges (gunicorn's child_exit hook)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
