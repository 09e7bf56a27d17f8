import datetime as dt
import time

import pytest
import time_machine
from django.test import override_settings
from django.urls import URLPattern
from django.utils import timezone

from jobs import lifecycle
from jobs.api import urls as api_urls
from jobs.models import Job, JobEvent, Queue
from spaces import actions as space_actions
from spaces import scopes
from spaces.models import ApiToken
from tests.conftest import SYSTEM, client_with, create_job

JOB = "jobs/<str:job_id>"
SPACE = "spaces/<str:space_id>"

# (method, route as in jobs/api/urls.py, scopes any of which opens it, a valid body)
ROUTES = [
    ("GET", "jobs", [scopes.READ], None),
    ("POST", "jobs", [scopes.CREATE], {"name": "made"}),
    ("POST", "jobs/bulk", [scopes.CREATE], {"name": "made", "jobs": [{}]}),
    ("GET", "jobs/status", [scopes.READ], None),
    ("GET", "jobs/stats", [scopes.READ], None),
    ("POST", "jobs/claim", [scopes.POLL], {}),
    ("GET", "jobs/dlq", [scopes.READ], None),
    ("POST", "jobs/dlq/retry", [scopes.MANAGE], {}),
    ("POST", "jobs/dlq/purge", [scopes.MANAGE], {"confirm": True}),
    ("GET", f"{SPACE}/jobs", [scopes.READ], None),
    ("POST", f"{SPACE}/jobs", [scopes.CREATE], {"name": "made"}),
    ("POST", f"{SPACE}/jobs/bulk", [scopes.CREATE], {"name": "made", "jobs": [{}]}),
    ("POST", f"{SPACE}/jobs/poll", [scopes.POLL], {}),
    ("POST", f"{SPACE}/jobs/ack", [scopes.ACK], {"jobs": []}),
    ("POST", f"{SPACE}/jobs/complete", [scopes.COMPLETE], {"jobs": []}),
    ("GET", JOB, [scopes.READ, scopes.READ_PROGRESS], None),
    ("DELETE", JOB, [scopes.MANAGE], None),
    ("GET", f"{JOB}/events", [scopes.READ], None),
    ("POST", f"{JOB}/events", [scopes.EVENT], {"type": "note"}),
    ("GET", f"{JOB}/history", [scopes.READ], None),
    ("POST", f"{JOB}/cancel", [scopes.MANAGE], {}),
    ("POST", f"{JOB}/claim", [scopes.POLL], {}),
    ("POST", f"{JOB}/ack", [scopes.ACK], {}),
    ("POST", f"{JOB}/progress", [scopes.PROGRESS], {"percent": 5, "message": "m"}),
    ("POST", f"{JOB}/checkpoint", [scopes.EVENT], {"data": {"step": 1}}),
    ("POST", f"{JOB}/keepalive", [scopes.KEEPALIVE], {}),
    ("POST", f"{JOB}/heartbeat", [scopes.KEEPALIVE], {}),
    ("POST", f"{JOB}/complete", [scopes.COMPLETE], {}),
    ("POST", f"{JOB}/fail", [scopes.FAIL], {"error": "boom"}),
    ("POST", f"{JOB}/kill", [scopes.KILL], {}),
    ("POST", f"{JOB}/retry", [scopes.MANAGE], {}),
    ("PUT", f"{JOB}/priority", [scopes.MANAGE], {"priority": 5}),
    ("POST", "queues/<str:name>/pause", [scopes.MANAGE], {}),
    ("POST", "queues/<str:name>/resume", [scopes.MANAGE], {}),
    ("GET", "queues", [scopes.READ], None),
    ("GET", "queues/<str:name>", [scopes.READ], None),
    ("DELETE", "queues/<str:name>", [scopes.MANAGE], None),
    ("PUT", "queues/<str:name>/config", [scopes.MANAGE], {"max_retries": 2}),
    ("GET", "queues/<str:name>/stats", [scopes.READ], None),
    ("GET", "workers", [scopes.READ], None),
    ("POST", "workers/register", [scopes.POLL], {"queue_name": "made"}),
    ("GET", "workers/<str:worker_id>", [scopes.READ], None),
    ("POST", "workers/<str:worker_id>/heartbeat", [scopes.POLL], {"current_jobs": 0}),
    ("POST", "workers/<str:worker_id>/deregister", [scopes.POLL], {}),
]


def route_id(route: tuple) -> str:
    return f"{route[0]} {route[1]}"


def url_for(route: str, job: Job) -> str:
    path = (
        route.replace("<str:job_id>", str(job.id))
        .replace("<str:space_id>", str(job.space_id))
        .replace("<str:name>", job.name)
        .replace("<str:worker_id>", "w-1")
    )
    if path == "jobs/status":
        path += f"?ids={job.id}"
    return f"/api/v1/{path}"


def call(client, method: str, url: str, body=None):
    return getattr(client, method.lower())(url, body, format="json")


def snapshot(job: Job) -> tuple[dict, int]:
    row = Job.objects.get(pk=job.pk)
    fields = {f.attname: getattr(row, f.attname) for f in Job._meta.concrete_fields}
    return fields, JobEvent.objects.filter(job_id=job.pk).count()


def test_the_route_table_covers_every_route():
    served = set()
    for pattern in api_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        view = pattern.callback.view_class
        allowed = pattern.callback.view_initkwargs.get("http_method_names", view.http_method_names)
        for method in ("get", "post", "put", "patch", "delete"):
            if method in allowed and hasattr(view, method):
                served.add((method.upper(), str(pattern.pattern)))
    assert served == {(method, route) for method, route, _, _ in ROUTES}


@pytest.mark.parametrize("route", ROUTES, ids=route_id)
def test_a_token_without_the_scope_gets_403(make_client, pending_job, route):
    method, path, required, body = route
    client = make_client(*[s for s in scopes.GRANULAR if s not in required])
    before, jobs = snapshot(pending_job), Job.objects.count()
    r = call(client, method, url_for(path, pending_job), body)
    assert r.status_code == 403, r.content
    assert r.json()["code"] == "FORBIDDEN"
    assert r.json()["details"]["required_scope"] in required
    if len(required) == 1:
        assert r.json()["details"]["required_scope"] == required[0]
    assert (snapshot(pending_job), Job.objects.count()) == (before, jobs)


@pytest.mark.parametrize("route", [r for r in ROUTES if r[:2] != ("GET", JOB)], ids=route_id)
def test_read_progress_token_is_refused_everywhere_else(make_client, pending_job, route):
    method, path, _, body = route
    client = make_client(scopes.READ_PROGRESS)
    r = call(client, method, url_for(path, pending_job), body)
    assert (r.status_code, r.json()["code"]) == (403, "FORBIDDEN"), r.content


def test_read_progress_token_sees_only_id_status_and_progress(make_client, running_job):
    job = lifecycle.progress(
        running_job,
        percent=40,
        message="half-way",
        actor=SYSTEM,
        lease_id=str(running_job.lease_id),
    )
    r = make_client(scopes.READ_PROGRESS).get(f"/api/v1/jobs/{job.id}")
    assert r.status_code == 200, r.content
    body = r.json()
    assert set(body) == {"id", "status", "progress"}
    assert (body["id"], body["status"]) == (str(job.id), "running")
    assert (body["progress"]["percent"], body["progress"]["message"]) == (40, "half-way")


def test_read_progress_token_cannot_read_a_foreign_job(make_client, other_space):
    foreign = create_job(other_space)
    r = make_client(scopes.READ_PROGRESS).get(f"/api/v1/jobs/{foreign.id}")
    assert (r.status_code, r.json()["code"]) == (404, "NOT_FOUND")


# --- Another space's jobs ------------------------------------------------------------


def foreign_job(space, state: str) -> Job:
    job = create_job(space, "foreign", payload={"secret": 1})
    if state == "pending":
        return job
    (job,) = lifecycle.poll(space, limit=1, worker_id="w-f", actor=SYSTEM)
    if state == "delivered":
        return job
    job = lifecycle.ack(job, actor=SYSTEM, lease_id=str(job.lease_id))
    if state == "running":
        return job
    return lifecycle.fail(job, error="x", retry=False, actor=SYSTEM, lease_id=str(job.lease_id))


def lease(job: Job) -> dict:
    return {"lease_id": str(job.lease_id), "worker_id": "w-f"}


# Each route on a foreign job in the state where it would succeed, were it our own.
FOREIGN_CALLS = [
    ("GET", "", "pending", lambda j: None),
    ("GET", "/events", "pending", lambda j: None),
    ("GET", "/history", "pending", lambda j: None),
    ("POST", "/claim", "pending", lambda j: {"worker_id": "thief"}),
    ("POST", "/ack", "delivered", lease),
    ("POST", "/progress", "running", lambda j: {**lease(j), "percent": 9, "message": "m"}),
    ("POST", "/checkpoint", "running", lambda j: {**lease(j), "data": {"x": 1}}),
    ("POST", "/events", "running", lambda j: {**lease(j), "type": "note"}),
    ("POST", "/keepalive", "running", lease),
    ("POST", "/heartbeat", "running", lease),
    ("POST", "/complete", "running", lambda j: {**lease(j), "result": {"ok": 1}}),
    ("POST", "/fail", "running", lambda j: {**lease(j), "error": "boom", "retry": False}),
    ("POST", "/kill", "running", lambda j: None),
    ("POST", "/retry", "dead", lambda j: None),
    ("POST", "/cancel", "pending", lambda j: None),
    ("DELETE", "", "pending", lambda j: None),
    ("PUT", "/priority", "pending", lambda j: {"priority": 99}),
]


@pytest.mark.parametrize(
    ("method", "suffix", "state", "body"),
    FOREIGN_CALLS,
    ids=[f"{m} {s or '/'} ({st})" for m, s, st, _ in FOREIGN_CALLS],
)
def test_another_spaces_job_is_not_found_and_untouched(
    api, other_space, method, suffix, state, body
):
    job = foreign_job(other_space, state)
    before = snapshot(job)
    r = call(api.admin, method, f"/api/v1/jobs/{job.id}{suffix}", body(job))
    assert r.status_code == 404, r.content
    assert r.json()["code"] == "NOT_FOUND"
    assert str(other_space.id) not in r.content.decode()
    assert snapshot(job) == before


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "/jobs", None),
        ("POST", "/jobs", {"name": "intruder"}),
        ("POST", "/jobs/bulk", {"name": "intruder", "jobs": [{}]}),
        ("POST", "/jobs/poll", {"limit": 5}),
    ],
)
def test_routes_naming_another_space_are_not_found(api, other_space, method, suffix, body):
    job = foreign_job(other_space, "pending")
    before, jobs = snapshot(job), Job.objects.count()
    r = call(api.admin, method, f"/api/v1/spaces/{other_space.id}{suffix}", body)
    assert (r.status_code, r.json()["code"]) == (404, "NOT_FOUND")
    assert (snapshot(job), Job.objects.count()) == (before, jobs)


def test_lists_stats_dlq_and_status_never_show_a_foreign_job(api, space, other_space):
    foreign = [foreign_job(other_space, state) for state in ("pending", "running", "dead")]
    own = foreign_job(space, "dead")
    foreign_ids = {str(j.id) for j in foreign}

    for url in (
        "/api/v1/jobs",
        "/api/v1/jobs?status=pending,processing,deadletter",
        "/api/v1/jobs?name=foreign",
        f"/api/v1/jobs?q={foreign[0].id}",
        f"/api/v1/spaces/{space.id}/jobs",
        "/api/v1/jobs/dlq",
    ):
        r = api.admin.get(url)
        assert r.status_code == 200, (url, r.content)
        assert not foreign_ids & {row["id"] for row in r.json()}, url

    assert [row["id"] for row in api.admin.get("/api/v1/jobs/dlq").json()] == [str(own.id)]
    stats = api.admin.get("/api/v1/jobs/stats").json()
    assert (stats["total"], stats["deadletter"], stats["pending"]) == (1, 1, 0)
    ids = ",".join([str(own.id), *foreign_ids])
    r = api.admin.get(f"/api/v1/jobs/status?ids={ids}")
    assert [row["id"] for row in r.json()] == [str(own.id)]


def test_pausing_a_queue_name_never_pauses_another_spaces_queue(api, other_space):
    job = foreign_job(other_space, "pending")
    assert api.admin.post("/api/v1/queues/foreign/pause", {}).status_code == 200
    assert not Queue.objects.get(space=other_space, name="foreign").paused
    (delivered,) = lifecycle.poll(other_space, limit=1, actor=SYSTEM)
    assert delivered.id == job.id


# --- Authentication ------------------------------------------------------------------


def issue(space, **kwargs) -> tuple[ApiToken, str]:
    return space_actions.issue_token(space=space, name="t", scopes=["jobs:admin"], **kwargs)


def assert_401(r) -> None:
    assert r.status_code == 401, r.content
    assert r.json()["code"] == "UNAUTHENTICATED"


def test_a_revoked_token_is_refused(space):
    token, secret = issue(space)
    client = client_with(secret)
    assert client.get("/api/v1/jobs").status_code == 200
    space_actions.revoke_token(token)
    assert_401(client.get("/api/v1/jobs"))


def test_an_expired_token_is_refused(space):
    _, secret = issue(space, expires_at=timezone.now() + dt.timedelta(hours=1))
    client = client_with(secret)
    assert client.get("/api/v1/jobs").status_code == 200
    with time_machine.travel(timezone.now() + dt.timedelta(hours=2)):
        assert_401(client.get("/api/v1/jobs"))


def test_a_missing_header_asks_for_a_bearer_token(client, db):
    r = client.get("/api/v1/jobs")
    assert_401(r)
    assert r.headers["WWW-Authenticate"].lower().startswith("bearer")


@pytest.mark.parametrize("header", ["Token x", "Bearer emr_" + "A" * 43])
def test_a_refused_token_is_told_to_use_bearer(client, db, header):
    r = client.get("/api/v1/jobs", HTTP_AUTHORIZATION=header)
    assert_401(r)
    assert r.headers.get("WWW-Authenticate", "").lower().startswith("bearer")


@pytest.mark.parametrize(
    "header",
    ["Token x", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer a b", "bearer"],
)
def test_a_malformed_header_is_refused(client, space, header):
    assert_401(client.get("/api/v1/jobs", HTTP_AUTHORIZATION=header))


@pytest.mark.parametrize("secret", ["emr_" + "A" * 43, "nope", "emr_"])
def test_an_unknown_secret_is_refused(space, secret):
    issue(space)
    assert_401(client_with(secret).get("/api/v1/jobs"))


def test_a_secret_with_one_character_changed_is_refused(space):
    _, secret = issue(space)
    wrong = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    assert_401(client_with(wrong).get("/api/v1/jobs"))


def test_tokens_are_stored_hashed_and_record_last_use(space):
    token, secret = issue(space)
    row = ApiToken.objects.get(pk=token.pk)
    stored = [str(getattr(row, f.attname)) for f in ApiToken._meta.concrete_fields]
    assert not any(secret in value or secret[12:] in value for value in stored)
    assert row.last_used_at is None

    assert client_with(secret).get("/api/v1/jobs").status_code == 200
    row.refresh_from_db()
    assert row.last_used_at is not None
    assert abs((timezone.now() - row.last_used_at).total_seconds()) < 30


# --- Throttling ----------------------------------------------------------------------

# Mid-minute, so the fixed window cannot roll over between the requests.
MID_MINUTE = dt.datetime.fromtimestamp((time.time() // 60 + 1) * 60 + 20, tz=dt.UTC)


@override_settings(EMITRUN_TOKEN_RATE="3/min")
def test_the_fourth_request_in_a_minute_is_rate_limited(space):
    _, secret = issue(space)
    client = client_with(secret)
    with time_machine.travel(MID_MINUTE):
        codes = [client.get("/api/v1/jobs").status_code for _ in range(3)]
        r = client.get("/api/v1/jobs")
        assert codes == [200, 200, 200]
        assert r.status_code == 429, r.content
        assert r.json()["code"] == "RATE_LIMITED"
        assert 1 <= int(r.headers["Retry-After"]) <= 60


@override_settings(EMITRUN_TOKEN_RATE="3/min")
def test_the_rate_limit_is_per_token(space):
    _, first = issue(space)
    _, second = issue(space)
    with time_machine.travel(MID_MINUTE):
        for _ in range(4):
            client_with(first).get("/api/v1/jobs")
        assert client_with(first).get("/api/v1/jobs").status_code == 429
        assert client_with(second).get("/api/v1/jobs").status_code == 200
