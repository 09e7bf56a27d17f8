import datetime as dt
import uuid

import pytest
from django.conf import settings
from django.utils import timezone

from jobs import lifecycle
from jobs.models import Job, Status
from tests.conftest import SYSTEM, create_job
from tests.factories import SpaceFactory

MIB = 1024 * 1024


@pytest.fixture
def unchanged(db):
    # Checked after the test body: a refused request writes no job.
    before = Job.objects.count()
    yield
    assert Job.objects.count() == before


def assert_invalid(r, field: str | None = None) -> None:
    assert r.status_code == 400, r.content
    body = r.json()
    assert body["code"] == "VALIDATION_ERROR"
    if field is not None:
        assert field in body["details"], body


# --- Create ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "a", "priority": "high"}, "priority"),
        ({"name": "a", "priority": "5"}, "priority"),
        ({"name": "a", "max_retries": True}, "max_retries"),
        ({"name": "a", "timeout_seconds": 1.5}, "timeout_seconds"),
        ({"name": "a", "tags": "x"}, "tags"),
        ({"name": 5}, "name"),
        ({"name": "Upper"}, "name"),
        ({"name": "has space"}, "name"),
        ({"name": "a" * 65}, "name"),
        ({"name": "-leading"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "a", "priority": 101}, "priority"),
        ({"name": "a", "priority": -101}, "priority"),
        ({"name": "a", "max_retries": 101}, "max_retries"),
        ({"name": "a", "max_retries": -1}, "max_retries"),
        ({"name": "a", "timeout_seconds": 0}, "timeout_seconds"),
        ({"name": "a", "timeout_seconds": 86401}, "timeout_seconds"),
        ({"name": "a", "idempotency_key": "k" * 256}, "idempotency_key"),
        ({"name": "a", "scheduled_for": "tomorrow"}, "scheduled_for"),
        ({"name": "a", "callback_url": "ftp://x"}, "callback_url"),
        ({"name": "a", "callback_url": "ftp://example.com/hook"}, "callback_url"),
        ({"name": "a", "callback_url": "not a url"}, "callback_url"),
        ({"name": "a", "callback_headers": {"X-Sig": "a\nb"}}, "callback_headers"),
        ({"name": "a", "callback_headers": {"X-Sig": "a\r\nInjected: 1"}}, "callback_headers"),
        ({"name": "a", "callback_headers": {"Bad Header": "v"}}, "callback_headers"),
        ({"name": "a", "callback_headers": {"X:Y": "v"}}, "callback_headers"),
        ({"name": "a", "callback_headers": {"X-N": 5}}, "callback_headers"),
        ({"name": "a", "queue_name": "b"}, "queue_name"),
        ({"name": "a", "queueName": "b"}, "queue_name"),
    ],
)
def test_create_refuses_bad_fields(api, unchanged, body, field):
    assert_invalid(api.producer.post("/api/v1/jobs", body), field)


def test_create_accepts_camel_case_spellings(api):
    when = (timezone.now() + dt.timedelta(hours=1)).replace(microsecond=0)
    body = {
        "queueName": "mail",
        "maxRetries": 7,
        "timeoutSeconds": 60,
        "scheduledFor": when.isoformat().replace("+00:00", "Z"),
        "idempotencyKey": "order-42",
        "callbackUrl": "https://example.com/hook",
        "callbackHeaders": {"X-Sig": "s"},
    }
    r = api.producer.post("/api/v1/jobs", body)
    assert r.status_code == 201, r.content
    job = Job.objects.get(pk=r.json()["id"])
    assert (job.name, job.max_retries, job.timeout_seconds) == ("mail", 7, 60)
    assert (job.scheduled_for, job.status) == (when, Status.SCHEDULED)
    assert (job.idempotency_key, job.callback_url) == ("order-42", "https://example.com/hook")
    assert job.callback_headers == {"X-Sig": "s"}
    again = api.producer.post("/api/v1/jobs", body)
    assert (again.status_code, again.json()["id"]) == (200, str(job.id))


# --- Bodies ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "a",',
        b'[{"name": "a"}]',
        b'"a"',
        b'{"name": "a", "payload": NaN}',
        b'{"name": "a", "payload": Infinity}',
        b'{"name": "a\xff"}',
    ],
    ids=["truncated", "array", "string", "nan", "infinity", "bad-utf8"],
)
def test_a_body_that_is_not_a_json_object_is_refused(api, unchanged, raw):
    r = api.producer.generic("POST", "/api/v1/jobs", raw, content_type="application/json")
    assert_invalid(r)


def test_an_empty_create_body_asks_for_a_name(api, unchanged):
    assert_invalid(api.producer.post("/api/v1/jobs"), "name")
    r = api.producer.generic("POST", "/api/v1/jobs", b"", content_type="application/json")
    assert_invalid(r, "name")


def test_an_empty_kill_body_is_an_empty_object(api, pending_job):
    r = api.operator.generic(
        "POST", f"/api/v1/jobs/{pending_job.id}/kill", b"", content_type="application/json"
    )
    assert r.status_code == 200, r.content
    assert r.json()["job"]["status"] == "killed"


def test_a_payload_over_one_mib_is_too_large(api, unchanged):
    r = api.producer.post("/api/v1/jobs", {"name": "a", "payload": "x" * (MIB + 1)})
    assert (r.status_code, r.json()["code"]) == (413, "PAYLOAD_TOO_LARGE")


def test_a_result_over_one_mib_is_too_large_and_the_job_keeps_running(api, running_job):
    r = api.worker.post(
        f"/api/v1/jobs/{running_job.id}/complete",
        {"lease_id": str(running_job.lease_id), "result": "x" * (MIB + 1)},
    )
    assert (r.status_code, r.json()["code"]) == (413, "PAYLOAD_TOO_LARGE")
    running_job.refresh_from_db()
    assert (running_job.status, running_job.result) == (Status.RUNNING, None)


def test_a_body_over_the_request_limit_is_too_large(api, unchanged):
    filler = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    r = api.producer.post("/api/v1/jobs", {"name": "a", "payload": 1, "filler": filler})
    assert (r.status_code, r.json()["code"]) == (413, "PAYLOAD_TOO_LARGE")


def test_a_bulk_body_over_the_request_limit_is_too_large(api, unchanged):
    item = {"payload": "x" * (MIB - 100)}
    count = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // MIB + 1
    r = api.producer.post("/api/v1/jobs/bulk", {"name": "a", "jobs": [item] * count})
    assert (r.status_code, r.json()["code"]) == (413, "PAYLOAD_TOO_LARGE")


# --- List queries ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=bogus", "status"),
        ("status=pending,bogus", "status"),
        ("limit=-1", "limit"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("created_after=yesterday", "created_after"),
        ("created_before=2024-13-01", "created_before"),
        ("order_by=payload", "order_by"),
        ("order_dir=sideways", "order_dir"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=e30", "cursor"),
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/jobs", "/api/v1/jobs/dlq"])
def test_a_bad_list_query_is_refused(api, path, query, field):
    assert_invalid(api.producer.get(f"{path}?{query}"), field)


def one_job_per_state(space) -> None:
    def run(name: str) -> Job:
        create_job(space, name)
        (job,) = lifecycle.poll(space, limit=1, names=[name], actor=SYSTEM)
        return lifecycle.ack(job, actor=SYSTEM, lease_id=str(job.lease_id))

    create_job(space, "p")
    lifecycle.poll(space, limit=1, names=[create_job(space, "d").name], actor=SYSTEM)
    run("r")
    lifecycle.fail(run("f"), error="x", actor=SYSTEM)
    lifecycle.fail(run("x"), error="x", retry=False, actor=SYSTEM)
    lifecycle.kill(create_job(space, "k"), actor=SYSTEM)
    lifecycle.cancel(create_job(space, "c"), actor=SYSTEM)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("processing", {"d", "r"}),
        ("deadletter", {"x"}),
        ("failed", {"f"}),
        ("cancelled", {"k", "c"}),
        ("pending,processing", {"p", "d", "r"}),
    ],
)
def test_spooled_status_names_are_accepted(make_client, status, expected):
    # A real backoff, so that a failed job waits (scheduled) instead of going straight back.
    space = SpaceFactory(backoff_base_seconds=600, backoff_cap_seconds=600)
    one_job_per_state(space)
    r = make_client("jobs:read", space=space).get(f"/api/v1/jobs?status={status}")
    assert r.status_code == 200, r.content
    assert {row["name"] for row in r.json()} == expected


@pytest.mark.parametrize(
    "ids",
    ["", ",", ",".join(str(uuid.uuid4()) for _ in range(101)), "not-a-uuid"],
    ids=["empty", "commas", "101", "non-uuid"],
)
def test_a_bad_status_batch_is_refused(api, ids):
    assert_invalid(api.producer.get(f"/api/v1/jobs/status?ids={ids}"), "ids")


def test_a_status_batch_of_100_ids_is_accepted(api, pending_job):
    ids = ",".join([str(pending_job.id)] + [str(uuid.uuid4()) for _ in range(99)])
    r = api.producer.get(f"/api/v1/jobs/status?ids={ids}")
    assert r.status_code == 200, r.content
    assert [row["id"] for row in r.json()] == [str(pending_job.id)]


def test_a_status_batch_without_ids_is_refused(api):
    assert_invalid(api.producer.get("/api/v1/jobs/status"), "ids")


# --- Bulk ------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 101])
def test_a_bulk_of_the_wrong_size_creates_nothing(api, unchanged, count):
    r = api.producer.post("/api/v1/jobs/bulk", {"name": "a", "jobs": [{}] * count})
    assert_invalid(r, "jobs")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "a", "jobs": "x"}, "jobs"),
        ({"name": "a"}, "jobs"),
        ({"name": "Bad", "jobs": [{}]}, "name"),
        ({"name": "a", "jobs": [{}], "default_priority": 101}, "default_priority"),
    ],
)
def test_a_malformed_bulk_creates_nothing(api, unchanged, body, field):
    assert_invalid(api.producer.post("/api/v1/jobs/bulk", body), field)


def test_a_bulk_creates_the_valid_items_and_lists_the_others(api, space):
    before = Job.objects.count()
    items = [
        {"payload": {"n": 0}},
        {"payload": {"n": 1}, "priority": "high"},
        {"payload": {"n": 2}, "name": "Bad Name"},
        {"payload": {"n": 3}, "name": "other", "priority": 9},
        "not an object",
    ]
    body = {
        "queue_name": "batch",
        "jobs": items,
        "default_priority": 5,
        "default_max_retries": 1,
        "default_timeout_seconds": 30,
    }
    r = api.producer.post("/api/v1/jobs/bulk", body)
    assert r.status_code == 200, r.content
    out = r.json()
    assert (out["total"], out["success_count"], out["failure_count"]) == (5, 2, 3)
    assert [f["index"] for f in out["failed"]] == [1, 2, 4]
    assert "priority" in out["failed"][0]["error"]
    assert "name" in out["failed"][1]["error"]
    assert all(f["error"] for f in out["failed"])
    assert [s["index"] for s in out["succeeded"]] == [0, 3]
    assert Job.objects.count() == before + 2
    first, fourth = (Job.objects.get(pk=s["job_id"]) for s in out["succeeded"])
    assert (first.name, first.priority, first.max_retries, first.timeout_seconds) == (
        "batch",
        5,
        1,
        30,
    )
    assert (fourth.name, fourth.priority, fourth.payload) == ("other", 9, {"n": 3})


# --- Worker and operator inputs --------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 51}, "limit"),
        ({"wait_seconds": 31}, "wait_seconds"),
        ({"wait_seconds": -1}, "wait_seconds"),
        ({"names": ["ok", "Bad Name"]}, "names"),
        ({"names": "work"}, "names"),
    ],
)
def test_a_bad_poll_delivers_nothing(api, space, pending_job, body, field):
    assert_invalid(api.worker.post(f"/api/v1/spaces/{space.id}/jobs/poll", body), field)
    pending_job.refresh_from_db()
    assert pending_job.status == Status.PENDING


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"percent": 101, "message": "m"}, "percent"),
        ({"percent": -1, "message": "m"}, "percent"),
        ({"percent": "50", "message": "m"}, "percent"),
        ({"percent": 50, "message": ""}, "message"),
        ({"percent": 50, "message": "m" * 501}, "message"),
        ({"percent": 50}, "message"),
    ],
)
def test_bad_progress_changes_nothing(api, running_job, body, field):
    body = {**body, "lease_id": str(running_job.lease_id)}
    assert_invalid(api.worker.post(f"/api/v1/jobs/{running_job.id}/progress", body), field)
    running_job.refresh_from_db()
    assert running_job.progress_percent is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"error": ""}, "error"),
        ({"error": "e" * 2049}, "error"),
        ({}, "error"),
        ({"error": "e", "retry": "no"}, "retry"),
    ],
)
def test_a_bad_fail_leaves_the_job_running(api, running_job, body, field):
    body = {**body, "lease_id": str(running_job.lease_id)}
    assert_invalid(api.worker.post(f"/api/v1/jobs/{running_job.id}/fail", body), field)
    running_job.refresh_from_db()
    assert (running_job.status, running_job.retry_count) == (Status.RUNNING, 0)


@pytest.mark.parametrize("body", [{}, {"confirm": False}, {"confirm": "true"}])
def test_dlq_purge_without_confirm_deletes_nothing(api, running_job, body):
    lifecycle.fail(
        running_job, error="x", retry=False, actor=SYSTEM, lease_id=str(running_job.lease_id)
    )
    assert_invalid(api.operator.post("/api/v1/jobs/dlq/purge", body), "confirm")
    assert Job.objects.filter(pk=running_job.pk, status=Status.DEAD).exists()


@pytest.mark.parametrize("priority", [101, -101, "5", None, 1.5])
def test_a_bad_priority_changes_nothing(api, pending_job, priority):
    r = api.operator.put(f"/api/v1/jobs/{pending_job.id}/priority", {"priority": priority})
    assert_invalid(r, "priority")
    pending_job.refresh_from_db()
    assert pending_job.priority == 0


# --- Routing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/nope", "/api/v1/jobs/", "/api/v2/jobs", "/api/v1/jobs/x/y/z"]
)
def test_an_unknown_api_route_answers_json_404(api, path):
    r = api.admin.get(path)
    assert r.status_code == 404
    assert r["Content-Type"].startswith("application/json")
    assert r.json()["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("delete", "/api/v1/jobs"),
        ("put", "/api/v1/jobs/stats"),
        ("patch", "/api/v1/jobs/{id}"),
        ("post", "/api/v1/jobs/{id}/history"),
        ("get", "/api/v1/jobs/{id}/kill"),
    ],
)
def test_a_wrong_method_answers_json_405(api, pending_job, method, path):
    r = getattr(api.admin, method)(path.format(id=pending_job.id), {}, format="json")
    assert r.status_code == 405, r.content
    assert r["Content-Type"].startswith("application/json")
    assert r.json()["code"] == "METHOD_NOT_ALLOWED"
    pending_job.refresh_from_db()
    assert pending_job.status == Status.PENDING
