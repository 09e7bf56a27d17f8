"""Spooled's realtime, driven by the real SDK (spooled==1.6.0) against the live ASGI app:
login for a realtime token, the WebSocket with subscriptions, and SSE.
"""

import queue
import time

import httpx
import pytest
from spooled import CircuitBreakerConfig, RetryConfig, SpooledClient
from spooled.errors import AuthenticationError
from spooled.realtime.unified import SpooledRealtime, SubscriptionFilter

from spaces.actions import issue_token, revoke_token
from tests.test_streams import WAIT, close_code, live  # noqa: F401 - `live` is a fixture

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sdk(live, space):  # noqa: F811 - the imported fixture
    _, secret = issue_token(space=space, name="sdk", scopes=["jobs:admin"])
    client = SpooledClient(
        api_key=secret,
        base_url=f"http://{live.host}",
        retry=RetryConfig(max_retries=0),
        circuit_breaker=CircuitBreakerConfig(enabled=False),
    )
    yield client
    client.close()


def collect(rt: SpooledRealtime) -> "queue.Queue":
    seen: queue.Queue = queue.Queue()
    rt.on_event(seen.put)
    return seen


def until(seen: "queue.Queue", job_id: str, new_status: str) -> list:
    """The events of job_id up to its JobStatusChange to new_status."""
    got = []
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        event = seen.get(timeout=WAIT)
        if event.data.get("job_id") != job_id:
            continue
        got.append(event)
        if event.type == "job.status_changed" and event.data["new_status"] == new_status:
            return got
    raise AssertionError(f"no {new_status} for {job_id}: {got}")


def run_job(sdk: SpooledClient, queue_name: str) -> str:
    job_id = sdk.jobs.create({"queue_name": queue_name, "payload": {"to": "a@b.c"}}).id
    sdk.jobs.claim({"queue_name": queue_name, "worker_id": "w", "limit": 1})
    sdk.jobs.complete(job_id, {"worker_id": "w", "result": {"ok": True}})
    return job_id


def test_the_sdk_websocket_client_receives_its_queues_job_events(sdk):
    rt = sdk.realtime(type="websocket", auto_reconnect=False)
    seen = collect(rt)
    rt.subscribe(SubscriptionFilter(queue="mail"))
    rt.connect()
    try:
        time.sleep(0.3)  # the subscribe command is fire-and-forget
        sdk.jobs.create({"queue_name": "other", "payload": None})
        job_id = run_job(sdk, "mail")
        got = until(seen, job_id, "completed")
    finally:
        rt.disconnect()
    assert [(e.type, e.data.get("new_status")) for e in got] == [
        ("job.created", None),
        ("job.status_changed", "processing"),  # a Spooled claim starts the job at once
        ("job.completed", None),
        ("job.status_changed", "completed"),
    ]
    assert {e.data["queue_name"] for e in got} == {"mail"}
    assert all(e.data.get("job_id") for e in got)
    while not seen.empty():
        assert seen.get().data.get("queue_name") != "other"


def test_the_sdk_sse_client_follows_one_job_to_its_end(sdk):
    job_id = sdk.jobs.create({"queue_name": "mail", "payload": None}).id
    rt = sdk.realtime(type="sse", auto_reconnect=False)
    seen = collect(rt)
    rt.connect(SubscriptionFilter(job_id=job_id))
    try:
        time.sleep(0.3)
        sdk.jobs.claim({"queue_name": "mail", "worker_id": "w", "limit": 1})
        sdk.jobs.complete(job_id, {"worker_id": "w", "result": None})
        got = until(seen, job_id, "completed")
    finally:
        rt.disconnect()
    assert [e.data["new_status"] for e in got if e.type == "job.status_changed"] == [
        "processing",
        "completed",
    ]


def test_login_refresh_and_refusals(live, space, other_space):  # noqa: F811
    token, secret = issue_token(space=space, name="r", scopes=["jobs:read"])
    http = httpx.Client(base_url=f"http://{live.host}/api/v1", timeout=WAIT)
    assert http.post("/auth/login", json={"api_key": "emr_nope"}).status_code == 401
    body = http.post("/auth/login", json={"api_key": secret}).json()
    assert set(body) == {
        "access_token",
        "refresh_token",
        "token_type",
        "expires_in",
        "refresh_expires_in",
    }
    again = http.post("/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert set(again.json()) == {"access_token", "token_type", "expires_in"}
    assert http.post("/auth/refresh", json={"refresh_token": body["access_token"]}).status_code == (
        401
    )
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    with http.stream("GET", "/events", headers=bearer) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert next(stream.iter_lines()) == ": connected"
    revoke_token(token)
    with live.ws(f"/api/v1/ws?token={body['access_token']}") as ws:
        assert close_code(ws) == 4401
    refused = http.get("/events", headers=bearer)
    assert refused.status_code == 401
    with pytest.raises(AuthenticationError):
        SpooledClient(api_key=secret, base_url=f"http://{live.host}").realtime()
