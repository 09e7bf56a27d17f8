"""Live event streams over real WebSockets: the real ASGI app under uvicorn in a thread of
the test process (transactional DB, the suite's Redis layer), jobs driven through REST.
"""

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from django.test import Client
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from emitrun.asgi import application
from jobs import consumers
from jobs.models import JobEvent
from spaces.actions import issue_token, revoke_token
from spaces.models import Space

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 10.0


@dataclass
class Live:
    host: str

    def ws(self, path: str, **kwargs: object) -> ClientConnection:
        if not path.startswith("/"):
            path = f"/api/v1/realtime/{path}"
        return connect(f"ws://{self.host}{path}", open_timeout=WAIT, **kwargs)

    def http(self, secret: str) -> httpx.Client:
        return httpx.Client(
            base_url=f"http://{self.host}/api/v1",
            headers={"Authorization": f"Bearer {secret}"},
            timeout=WAIT,
        )


@pytest.fixture
def live(transactional_db) -> Iterator[Live]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(application, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    yield Live(f"127.0.0.1:{sock.getsockname()[1]}")
    server.should_exit = True
    thread.join(WAIT)
    sock.close()


@pytest.fixture
def secret(space) -> Callable[..., str]:
    def make(*scopes: str, space: Space = space) -> str:
        return issue_token(space=space, name="s", scopes=list(scopes))[1]

    return make


def recv(ws: ClientConnection, timeout: float = WAIT) -> dict:
    return json.loads(ws.recv(timeout=timeout))


def events(ws: ClientConnection, count: int) -> list[dict]:
    """The next `count` job events, skipping pings."""
    out: list[dict] = []
    while len(out) < count:
        msg = recv(ws)
        if msg["type"] != "ping":
            out.append(msg)
    return out


def close_code(ws: ClientConnection) -> int:
    """The code the server closed with, skipping whatever it sent before."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            ws.recv(timeout=WAIT)
        except ConnectionClosed as closed:
            return closed.rcvd.code
    raise AssertionError("the server did not close the socket")


def quiet(ws: ClientConnection, seconds: float = 0.7) -> None:
    with pytest.raises(TimeoutError):
        ws.recv(timeout=seconds)


def ok(r: httpx.Response, status: int = 200) -> dict:
    assert r.status_code == status, r.text
    return r.json()


def drive(http: httpx.Client, space: Space, *, payload: dict | None = None) -> str:
    """Creates a job and runs it to completion with progress; returns its id."""
    job_id = ok(http.post("/jobs", json={"name": "resize", "payload": payload or {}}), 201)["id"]
    (polled,) = ok(
        http.post(f"/spaces/{space.id}/jobs/poll", json={"worker_id": "w1", "names": ["resize"]})
    )["jobs"]
    lease = {"lease_id": polled["lease_id"]}
    ok(http.post(f"/jobs/{job_id}/ack", json=lease))
    ok(http.post(f"/jobs/{job_id}/progress", json={**lease, "percent": 50, "message": "half"}))
    ok(http.post(f"/jobs/{job_id}/complete", json={**lease, "result": {"secret": "r"}}))
    return job_id


def create(http: httpx.Client, count: int) -> None:
    ok(http.post("/jobs/bulk", json={"jobs": [{"name": "n", "payload": {}}] * count}))


def trickle(http: httpx.Client, count: int) -> None:
    for n in range(count):
        ok(http.post("/jobs", json={"name": f"t{n}"}), 201)


LIFE = ["job.created", "job.delivered", "job.started", "job.progress", "job.completed"]


def test_space_and_job_streams_follow_a_job_through_the_rest_api(live, space, secret):
    admin = secret("jobs:admin")
    first = live.http(admin)
    ok(first.post("/jobs", json={"name": "before"}), 201)
    with live.ws(f"spaces/{space.id}?token={admin}") as ws:
        hello = recv(ws)
        assert hello["type"] == "stream.hello"
        assert hello["counts"]["pending"] == 1
        assert hello["seq"] == JobEvent.objects.latest("id").id
        job_id = drive(first, space)
        seen = events(ws, 5)
    assert [m["type"] for m in seen] == LIFE
    assert {m["job_id"] for m in seen} == {job_id}
    assert {m["space_id"] for m in seen} == {str(space.id)}
    seqs = [m["seq"] for m in seen]
    assert seqs == sorted(seqs)
    assert seqs[0] > hello["seq"]
    assert seen[-1]["status"] == "completed"
    assert seen[-1]["at"].endswith("Z")


def test_job_stream_sees_only_its_job(live, space, secret):
    admin = secret("jobs:admin")
    http = live.http(admin)
    job_id = ok(http.post("/jobs", json={"name": "mine"}), 201)["id"]
    headers = {"Authorization": f"Bearer {admin}"}
    with live.ws(job_id, additional_headers=headers) as ws:
        ok(http.post("/jobs", json={"name": "other"}), 201)
        ok(http.post(f"/jobs/{job_id}/cancel"))
        (msg,) = events(ws, 1)
        assert (msg["type"], msg["job_id"]) == ("job.cancelled", job_id)
        quiet(ws)


def test_resume_replays_exactly_the_missed_events_then_goes_live(live, space, secret):
    admin = secret("jobs:admin")
    http = live.http(admin)
    with live.ws(f"spaces/{space.id}?token={admin}") as ws:
        recv(ws)
        ok(http.post("/jobs", json={"name": "a"}), 201)
        (last,) = events(ws, 1)
    create(http, 50)
    # Jobs keep landing while the stream connects and replays: the seam must hold.
    writer = threading.Thread(target=trickle, args=(live.http(admin), 30))
    writer.start()
    with live.ws(f"spaces/{space.id}?token={admin}&since={last['seq']}") as ws:
        assert recv(ws)["type"] == "stream.hello"
        got = events(ws, 80)
        writer.join()
        stored = list(
            JobEvent.objects.filter(space=space, id__gt=last["seq"]).values_list("id", flat=True)
        )
        assert [m["seq"] for m in got] == sorted(stored)
        ok(http.post("/jobs", json={"name": "live"}), 201)
        (live_msg,) = events(ws, 1)
        assert live_msg["seq"] > got[-1]["seq"]
        quiet(ws)


def test_a_client_too_far_behind_is_told_to_reset(live, space, secret, monkeypatch):
    monkeypatch.setattr(consumers, "REPLAY_MAX", 5)
    admin = secret("jobs:admin")
    create(live.http(admin), 8)
    with live.ws(f"spaces/{space.id}?token={admin}&since=0") as ws:
        hello = recv(ws)
        reset = recv(ws)
        assert reset == {"type": "stream.reset", "seq": hello["seq"], "counts": hello["counts"]}
        assert reset["counts"]["pending"] == 8
        quiet(ws)


def test_progress_only_token_gets_no_space_stream_and_no_payloads(live, space, secret):
    admin = live.http(secret("jobs:admin"))
    progress = secret("jobs:read:progress")
    with live.ws(f"spaces/{space.id}?token={progress}") as ws:
        assert close_code(ws) == 4403
    job_id = ok(admin.post("/jobs", json={"name": "p", "payload": {"card": "4242"}}), 201)["id"]
    with live.ws(f"{job_id}?token={progress}&since=0") as ws:
        (created,) = events(ws, 1)
        assert (created["type"], created["data"]) == ("job.created", None)
        (polled,) = ok(admin.post(f"/spaces/{space.id}/jobs/poll", json={}))["jobs"]
        lease = {"lease_id": polled["lease_id"]}
        ok(admin.post(f"/jobs/{job_id}/ack", json=lease))
        ok(admin.post(f"/jobs/{job_id}/checkpoint", json={**lease, "data": {"step": 1}}))
        ok(admin.post(f"/jobs/{job_id}/progress", json={**lease, "percent": 10, "message": "m"}))
        ok(admin.post(f"/jobs/{job_id}/complete", json={**lease, "result": {"pan": "4242"}}))
        seen = events(ws, 4)
    assert [m["type"] for m in seen] == [
        "job.delivered",
        "job.started",
        "job.progress",
        "job.completed",
    ]
    assert seen[2]["data"] == {"percent": 10, "message": "m"}
    assert all(m["data"] is None for m in seen if m["type"] != "job.progress")


def test_tokens_of_another_space_bad_or_missing_are_refused(live, space, other_space, secret):
    foreign = secret("jobs:admin", space=other_space)
    job_id = ok(live.http(secret("jobs:admin")).post("/jobs", json={"name": "x"}), 201)["id"]
    cases = {
        f"spaces/{space.id}?token={foreign}": 4403,
        f"{job_id}?token={foreign}": 4404,
        f"spaces/{space.id}?token=emr_nope": 4401,
        f"spaces/{space.id}": 4401,
        f"spaces/not-a-uuid?token={secret('jobs:read')}": 4403,
        f"{job_id}?token={secret('jobs:create')}": 4403,
    }
    for path, code in cases.items():
        with live.ws(path) as ws:
            assert close_code(ws) == code, path


def test_a_revoked_token_is_dropped_within_seconds(live, space):
    token, secret = issue_token(space=space, name="r", scopes=["jobs:read"])
    with live.ws(f"spaces/{space.id}", subprotocols=[f"bearer.{secret}"]) as ws:
        assert ws.subprotocol == f"bearer.{secret}"
        recv(ws)
        revoke_token(token)
        started = time.monotonic()
        assert close_code(ws) == 4401
        assert time.monotonic() - started < consumers.RECHECK_EVERY + 2


def test_malformed_client_messages_are_ignored_and_pings_answered(live, space, secret):
    admin = secret("jobs:admin")
    with (
        live.ws(f"spaces/{space.id}?token={admin}") as rude,
        live.ws(f"spaces/{space.id}?token={admin}") as polite,
    ):
        recv(rude), recv(polite)
        for junk in ["{", "[]", '{"type": 7}', "null", b"\x00\xff"]:
            rude.send(junk)
        rude.send(json.dumps({"type": "ping"}))
        assert recv(rude) == {"type": "pong"}
        ok(live.http(admin).post("/jobs", json={"name": "x"}), 201)
        assert events(rude, 1)[0]["type"] == "job.created"
        assert events(polite, 1)[0]["type"] == "job.created"


def test_idle_streams_get_heartbeats(live, space, secret, monkeypatch):
    monkeypatch.setattr(consumers.StreamConsumer, "ping_every", 0.5)
    with live.ws(f"spaces/{space.id}?token={secret('jobs:read')}") as ws:
        recv(ws)
        assert recv(ws, timeout=3) == {"type": "ping"}


def test_a_members_dashboard_session_opens_the_stream(live, space, member, stranger):
    def cookie(user: object) -> dict[str, str]:
        client = Client()
        client.force_login(user)
        return {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}

    with live.ws(f"spaces/{space.id}", additional_headers=cookie(member)) as ws:
        assert recv(ws)["type"] == "stream.hello"
    with live.ws(f"spaces/{space.id}", additional_headers=cookie(stranger)) as ws:
        assert close_code(ws) == 4403
    cross_site = {**cookie(member), "Origin": "https://evil.example"}
    with live.ws(f"spaces/{space.id}", additional_headers=cross_site) as ws:
        assert close_code(ws) == 4401


def test_without_redis_the_stream_tails_the_database_once_per_event(live, space, secret, settings):
    settings.REDIS_URL = ""  # the embedded default; the layer still delivers here too
    admin = secret("jobs:admin")
    with live.ws(f"spaces/{space.id}?token={admin}") as ws:
        recv(ws)
        job_id = drive(live.http(admin), space)
        seen = events(ws, 5)
        quiet(ws, 1.2)
    assert [m["type"] for m in seen] == LIFE
    assert {m["job_id"] for m in seen} == {job_id}
