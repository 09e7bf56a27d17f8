"""The official Spooled SDK (spooled==1.6.0), unmodified, against the live server: every
client call it makes, with the database and the SDK's own models as the judges.
"""

import socket
import uuid
from datetime import timedelta

import httpx
import pytest
import time_machine
from django.utils import timezone
from spooled import CircuitBreakerConfig, RetryConfig, SpooledClient
from spooled.errors import (
    AuthenticationError,
    AuthorizationError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    ValidationError,
)
from spooled.types.jobs import PurgeDlqParams

from jobs.models import Job, Status
from spaces.actions import issue_token
from tests.factories import SpaceFactory

pytestmark = pytest.mark.django_db(transaction=True)

Q, W = "mail", "w-1"


def sdk_client(url: str, secret: str) -> SpooledClient:
    # No retries and no breaker: every answer of the server reaches the test as it is.
    return SpooledClient(
        api_key=secret,
        base_url=url,
        retry=RetryConfig(max_retries=0),
        circuit_breaker=CircuitBreakerConfig(enabled=False),
    )


@pytest.fixture
def connect(live_server):
    """connect(space, *scopes) -> an SDK client holding a fresh token (jobs:admin by default)."""
    # See test_concurrency: without TCP_NODELAY each kept-alive answer waits ~40 ms.
    live_server.thread.httpd.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    opened: list[SpooledClient] = []

    def make(space, *scopes: str) -> SpooledClient:
        _, secret = issue_token(space=space, name="sdk", scopes=list(scopes or ["jobs:admin"]))
        opened.append(sdk_client(live_server.url, secret))
        return opened[-1]

    yield make
    for client in opened:
        client.close()


@pytest.fixture
def sdk(connect, space) -> SpooledClient:
    return connect(space)


def claim(sdk: SpooledClient, queue: str = Q, **params: object) -> list:
    return sdk.jobs.claim({"queue_name": queue, "worker_id": W, **params}).jobs


def dead_job(sdk: SpooledClient, queue: str = Q) -> str:
    job_id = sdk.jobs.create({"queue_name": queue, "payload": None, "max_retries": 0}).id
    (job,) = claim(sdk, queue)
    sdk.jobs.fail(job_id, {"worker_id": W, "lease_id": job.lease_id, "error": "boom"})
    return job_id


def test_health_and_idempotent_create(sdk, space):
    assert sdk.health.get().status == "healthy"
    assert sdk.health.liveness() is True
    assert sdk.health.readiness() is True
    body = {"queue_name": Q, "payload": {"n": 1}, "idempotency_key": "order-1", "max_retries": 1}
    first = sdk.jobs.create({**body, "tags": ["alpha"]})
    again = sdk.jobs.create({**body, "tags": ["alpha"]})
    assert (first.created, again.created) == (True, False)
    assert again.id == first.id
    assert Job.objects.filter(space=space, idempotency_key="order-1").count() == 1
    job = sdk.jobs.get(first.id)
    assert (job.status, job.max_retries, job.retry_count, job.tags) == ("pending", 1, 0, ["alpha"])
    assert (job.queue_name, job.payload) == (Q, {"n": 1})
    assert job.organization_id == str(space.organization_id)
    made = sdk.jobs.create_and_get({"queue_name": Q, "payload": {"camelKey": 2}})
    assert (made.priority, made.max_retries, made.timeout_seconds) == (0, 3, 300)
    assert (made.status, made.payload, made.idempotency_key) == ("pending", {"camelKey": 2}, None)


def test_list_by_tag_and_spooled_status_names_with_paging(connect):
    sdk = connect(SpaceFactory(backoff_base_seconds=60, backoff_cap_seconds=60))
    alpha = {
        sdk.jobs.create({"queue_name": Q, "payload": i, "tags": ["alpha"]}).id for i in range(5)
    }
    team = sdk.jobs.create({"queue_name": Q, "payload": 9, "tags": {"team": "ops"}}).id
    ids = {name: sdk.jobs.create({"queue_name": name, "payload": None}).id for name in "rfc"}
    claim(sdk, "r")
    (failing,) = claim(sdk, "f")
    sdk.jobs.fail(ids["f"], {"worker_id": W, "lease_id": failing.lease_id, "error": "x"})
    sdk.jobs.cancel(ids["c"])
    ids["d"] = dead_job(sdk, "d")

    pages = [sdk.jobs.list({"tag": "alpha", "limit": 2, "offset": n}) for n in (0, 2, 4)]
    assert [page.has_more for page in pages] == [True, True, False]
    seen = [job.id for page in pages for job in page]
    assert (len(seen), set(seen)) == (5, alpha)
    assert [job.id for job in sdk.jobs.list({"tag": "team"})] == [team]
    assert len(sdk.jobs.list()) == 10  # no query string at all

    def listed(**params: object) -> set[tuple[str, str]]:
        return {(job.id, job.status) for job in sdk.jobs.list(params)}

    assert listed(status="processing") == {(ids["r"], "running")}
    assert listed(status="failed") == {(ids["f"], "scheduled")}
    assert listed(status="deadletter,cancelled") == {(ids["d"], "dead"), (ids["c"], "cancelled")}
    assert listed(status=["pending", "processing"], tag="alpha") == {(i, "pending") for i in alpha}
    assert listed(status="pending", queue_name="r") == set()
    (retrying,) = sdk.jobs.list({"status": "failed"})
    assert (retrying.retry_count, retrying.last_error) == (1, "x")


def test_claim_heartbeat_fail_retry_dead_letter_and_back(sdk):
    job_id = sdk.jobs.create({"queue_name": Q, "payload": {"n": 1}, "max_retries": 1}).id
    (first,) = claim(sdk, lease_duration_secs=30)
    assert (first.id, first.retry_count, first.max_retries) == (job_id, 0, 1)
    sdk.jobs.heartbeat(
        job_id, {"worker_id": W, "lease_id": first.lease_id, "lease_duration_secs": 120}
    )
    assert sdk.jobs.get(job_id).lease_expires_at > first.lease_expires_at
    with pytest.raises(ConflictError) as wrong:
        sdk.jobs.complete(job_id, {"worker_id": W, "lease_id": str(uuid.uuid4()), "result": {}})
    assert (wrong.value.status_code, wrong.value.code) == (409, "LEASE_EXPIRED")
    assert sdk.jobs.fail(
        job_id, {"worker_id": W, "lease_id": first.lease_id, "error": "boom 1"}
    ).success
    job = sdk.jobs.get(job_id)
    assert (job.status, job.retry_count, job.last_error) == ("pending", 1, "boom 1")

    (second,) = claim(sdk)
    assert (second.id, second.retry_count) == (job_id, 1)
    with pytest.raises(ConflictError) as stale:
        sdk.jobs.heartbeat(job_id, {"worker_id": W, "lease_id": first.lease_id})
    assert stale.value.code == "LEASE_EXPIRED"
    sdk.jobs.fail(job_id, {"worker_id": W, "lease_id": second.lease_id, "error": "boom 2"})
    job = sdk.jobs.get(job_id)
    assert (job.status, job.retry_count, job.last_error) == ("dead", 1, "boom 2")

    dlq = sdk.jobs.dlq.list({"queue_name": Q})
    assert [(d.id, d.status, d.last_error) for d in dlq] == [(job_id, "dead", "boom 2")]
    assert dlq.has_more is False
    retried = sdk.jobs.dlq.retry({"job_ids": [job_id]})
    assert (retried.retried_count, retried.retried_jobs) == (1, [job_id])
    assert (sdk.jobs.get(job_id).status, sdk.jobs.get(job_id).retry_count) == ("pending", 0)
    assert list(sdk.jobs.dlq.list()) == []

    (third,) = claim(sdk)
    done = {"worker_id": W, "lease_id": third.lease_id, "result": {"ok": True}}
    assert sdk.jobs.complete(job_id, done).success is True
    with pytest.raises(ConflictError) as replay:
        sdk.jobs.complete(job_id, done)
    assert replay.value.status_code == 409
    assert "already completed" in replay.value.message.lower()
    job = sdk.jobs.get(job_id)
    assert (job.status, job.result) == ("completed", {"ok": True})

    history = sdk.jobs.history(job_id)
    types = [event.event_type for event in history]
    assert (types[0], types[-1], history.has_more) == ("job.created", "job.completed", False)
    assert [t for t in types if t in ("job.started", "job.dead")] == ["job.started"] * 2 + [
        "job.dead",
        "job.started",
    ]
    newest = sdk.jobs.history(job_id, {"order_dir": "desc", "limit": 1})
    assert ([e.event_type for e in newest], newest.has_more) == (["job.completed"], True)


def test_dlq_purge_refuses_without_confirm(sdk, live_server):
    dead = {dead_job(sdk), dead_job(sdk)}
    other = dead_job(sdk, "other")
    with pytest.raises(ValueError, match="confirm"):  # the SDK will not even send it
        PurgeDlqParams(confirm=False, queue_name=Q).to_payload()
    headers = {"Authorization": f"Bearer {sdk.get_config().api_key}"}
    raw = httpx.post(
        f"{live_server.url}/api/v1/jobs/dlq/purge", json={"confirm": False}, headers=headers
    )
    assert (raw.status_code, raw.json()["code"]) == (400, "VALIDATION_ERROR")
    assert {job.id for job in sdk.jobs.dlq.list()} == {*dead, other}

    assert sdk.jobs.dlq.purge({"confirm": True, "queue_name": Q}).purged_count == 2
    assert [job.id for job in sdk.jobs.dlq.list()] == [other]
    assert not Job.objects.filter(pk__in=dead).exists()


def test_bulk_enqueue_creates_the_valid_items(sdk, space):
    items = [{"payload": {"i": i}} for i in range(100)]
    items[10]["priority"] = 101  # the SDK does not bound an item's priority; we do
    items[20]["idempotency_key"] = "k" * 256
    items[40]["idempotency_key"] = items[41]["idempotency_key"] = "same"
    answer = sdk.jobs.bulk_enqueue({"queue_name": Q, "jobs": items, "default_max_retries": 2})
    assert (answer.total, answer.success_count, answer.failure_count) == (100, 98, 2)
    assert [(f.index, f.error.split(":")[0]) for f in answer.failed] == [
        (10, "priority"),
        (20, "idempotency_key"),
    ]
    by_index = {item.index: item for item in answer.succeeded}
    assert set(by_index) == set(range(100)) - {10, 20}
    assert (by_index[40].created, by_index[41].created) == (True, False)
    assert by_index[40].job_id == by_index[41].job_id
    jobs = Job.objects.filter(space=space, name=Q)
    assert (jobs.count(), set(jobs.values_list("max_retries", flat=True))) == (97, {2})
    assert sdk.queues.get_stats(Q).pending_jobs == 97


def test_queue_pause_resume_config_stats_and_delete(sdk):
    job_id = sdk.jobs.create({"queue_name": Q, "payload": None}).id
    paused = sdk.queues.pause(Q, reason="deploy")
    assert (paused.queue_name, paused.paused, paused.reason) == (Q, True, "deploy")
    assert claim(sdk) == []
    assert sdk.queues.get(Q).enabled is False
    resumed = sdk.queues.resume(Q)
    assert (resumed.resumed, resumed.paused_duration_secs >= 0) == (True, True)
    assert [job.id for job in claim(sdk)] == [job_id]

    listed = {queue.queue_name: queue for queue in sdk.queues.list()}
    assert (listed[Q].max_retries, listed[Q].default_timeout, listed[Q].enabled) == (3, 300, True)
    config = sdk.queues.update_config(
        Q, {"max_retries": 7, "default_timeout": 120, "settings": {"team": "ops"}}
    )
    assert (config.queue_name, config.max_retries, config.default_timeout) == (Q, 7, 120)
    assert (config.settings, sdk.queues.get(Q).max_retries) == ({"team": "ops"}, 7)
    made = sdk.jobs.create_and_get({"queue_name": Q, "payload": None})
    assert (made.max_retries, made.timeout_seconds) == (7, 120)
    assert sdk.queues.update_config(Q, {"enabled": False}).enabled is False
    assert claim(sdk) == []
    sdk.queues.update_config(Q, {"enabled": True})

    stats = sdk.queues.get_stats(Q)
    assert (stats.queue_name, stats.pending_jobs, stats.processing_jobs) == (Q, 1, 1)
    assert (stats.completed_jobs_24h, stats.failed_jobs_24h) == (0, 0)
    with pytest.raises(ConflictError) as busy:
        sdk.queues.delete(Q)
    assert busy.value.status_code == 409
    sdk.queues.delete(Q, delete_jobs=True)
    with pytest.raises(NotFoundError):
        sdk.queues.get(Q)
    assert Q not in {queue.queue_name for queue in sdk.queues.list()}
    with pytest.raises(NotFoundError):
        sdk.jobs.get(job_id)


def test_operator_calls(sdk):
    a, b, c = (sdk.jobs.create({"queue_name": Q, "payload": n}).id for n in range(3))
    boosted = sdk.jobs.boost_priority(c, 50)
    assert (boosted.job_id, boosted.old_priority, boosted.new_priority) == (c, 0, 50)
    assert [job.id for job in claim(sdk)] == [c]
    sdk.jobs.cancel(b)
    assert sdk.jobs.get(b).status == "cancelled"
    with pytest.raises(ConflictError):
        sdk.jobs.cancel(c)  # running: only pending or scheduled jobs cancel
    stats = sdk.jobs.get_stats()
    assert (stats.pending, stats.processing, stats.cancelled, stats.total) == (1, 1, 1, 3)
    assert (stats.completed, stats.deadletter, stats.failed, stats.scheduled) == (0, 0, 0, 0)
    statuses = {
        s.id: (s.status, s.queue_name, s.retry_count) for s in sdk.jobs.batch_status([a, b, c])
    }
    assert statuses == {a: ("pending", Q, 0), b: ("cancelled", Q, 0), c: ("running", Q, 0)}
    assert sdk.jobs.batch_status([]) == []

    again = sdk.jobs.retry(b)
    assert (again.id, again.status, again.retry_count) == (b, "pending", 0)
    types = [event.event_type for event in sdk.jobs.history(b)]
    assert types == ["job.created", "job.cancelled", "job.pending"]
    with pytest.raises(ConflictError) as not_dead:
        sdk.jobs.retry(a)
    assert not_dead.value.code == "INVALID_STATE"


def test_workers_register_heartbeat_list_get_deregister(sdk):
    params = {"queue_name": Q, "hostname": "box-1", "worker_id": "w-1", "max_concurrency": 4}
    registered = sdk.workers.register({**params, "worker_type": "python", "version": "1.6.0"})
    assert (registered.id, registered.queue_name) == ("w-1", Q)
    assert registered.heartbeat_interval_secs > 0
    assert registered.lease_duration_secs > 0
    minted = sdk.workers.register({"queue_name": Q, "hostname": "box-2"}).id
    assert uuid.UUID(minted)
    sdk.workers.heartbeat("w-1", {"current_jobs": 2, "status": "healthy"})
    listed = {w.id: w for w in sdk.workers.list()}
    assert set(listed) == {"w-1", minted}
    one = listed["w-1"]
    assert (one.status, one.current_jobs, one.max_concurrency) == ("healthy", 2, 4)
    assert one.hostname == "box-1"
    worker = sdk.workers.get("w-1")
    assert (worker.queue_name, worker.worker_type, worker.version) == (Q, "python", "1.6.0")
    assert (worker.current_jobs, worker.max_concurrency, worker.status) == (2, 4, "healthy")
    assert sdk.queues.get_stats(Q).active_workers == 2

    silent = timedelta(seconds=2 * registered.heartbeat_interval_secs + 2)
    with time_machine.travel(timezone.now() + silent):
        assert sdk.workers.get("w-1").status == "offline"
        assert sdk.queues.get_stats(Q).active_workers == 0
        sdk.workers.heartbeat("w-1", {"current_jobs": 0})
        assert sdk.workers.get("w-1").status == "healthy"
    sdk.workers.deregister(minted)
    assert sdk.workers.get(minted).status == "offline"
    again = sdk.workers.register({**params, "hostname": "box-3"})
    assert again.id == "w-1"
    assert [w.hostname for w in sdk.workers.list() if w.id == "w-1"] == ["box-3"]
    with pytest.raises(NotFoundError):
        sdk.workers.get("nobody")


def test_errors_map_to_the_sdk_exception_types(connect, live_server, space, other_space):
    sdk = connect(space)
    job_id = sdk.jobs.create({"queue_name": Q, "payload": None}).id
    with pytest.raises(AuthenticationError) as bad_key:
        sdk_client(live_server.url, "emr_" + "x" * 43).jobs.get(job_id)
    assert (bad_key.value.status_code, bad_key.value.code) == (401, "UNAUTHENTICATED")

    reader = connect(space, "jobs:read")
    assert reader.jobs.get(job_id).id == job_id
    with pytest.raises(AuthorizationError) as forbidden:
        reader.jobs.create({"queue_name": Q, "payload": None})
    assert (forbidden.value.status_code, forbidden.value.code) == (403, "FORBIDDEN")
    assert forbidden.value.request_id  # from X-Request-Id
    with pytest.raises(AuthorizationError):
        reader.queues.pause(Q)

    foreign = connect(other_space)
    for call in (foreign.jobs.get, foreign.jobs.history, foreign.jobs.cancel, foreign.jobs.retry):
        with pytest.raises(NotFoundError) as missing:
            call(job_id)
        assert (missing.value.status_code, missing.value.code) == (404, "NOT_FOUND")
    with pytest.raises(NotFoundError):
        foreign.queues.get_stats(Q)
    assert foreign.jobs.batch_status([job_id]) == []
    sdk.workers.register({"queue_name": Q, "hostname": "ours", "worker_id": "w-9"})
    with pytest.raises(NotFoundError):
        foreign.workers.get("w-9")
    # Worker ids are per space (docs/spooled.md, Differences): theirs is another worker.
    foreign.workers.register({"queue_name": Q, "hostname": "theirs", "worker_id": "w-9"})
    assert sdk.workers.get("w-9").hostname == "ours"

    with pytest.raises(ValidationError) as invalid:
        sdk.jobs.create({"queue_name": "Bad Queue", "payload": None})
    assert (invalid.value.status_code, invalid.value.code) == (400, "VALIDATION_ERROR")
    assert "name" in invalid.value.message
    with pytest.raises(PayloadTooLargeError) as too_large:
        sdk.jobs.create({"queue_name": Q, "payload": "x" * (1024 * 1024 + 1)})
    assert (too_large.value.status_code, too_large.value.code) == (413, "PAYLOAD_TOO_LARGE")
    assert list(Job.objects.filter(space=space).values_list("status", flat=True)) == [
        Status.PENDING
    ]
