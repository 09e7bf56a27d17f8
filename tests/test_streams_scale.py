"""Live streams at scale: real uvicorn processes sharing the suite's Redis channel layer,
hundreds of concurrent WebSocket clients, and a channel layer that is down.
"""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.test import override_settings
from websockets.asyncio.client import connect as aconnect

from emitrun import realtime
from jobs.models import Job, JobEvent
from spaces.actions import issue_token
from tests.test_background_celery import database_url
from tests.test_streams import LIFE, WAIT, Live, drive, events, recv

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 200
# Reduced from the issue's 1,000 jobs: 200 clients x 1,000 jobs took 48-62 s here (one
# uvicorn process fans out ~4,500 messages/s on this 2-core machine, while the REST bulk
# posts compete with the fan-out), past the ~40 s budget; 200 x 500 takes ~22 s.
BULKS = 5  # x 100 jobs per bulk request


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_live(proc: subprocess.Popen, host: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(f"http://{host}/health/live", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"uvicorn on {host} never became live: {log.read_text()[-3000:]}")


@pytest.fixture
def servers(transactional_db, tmp_path) -> Iterator[Callable[[], Live]]:
    """start() -> a running `uvicorn emitrun.asgi:application` process on this test's
    database and the suite's Redis; every process started is killed at teardown.
    """
    assert settings.REDIS_URL, "the cross-process channel layer needs Redis"
    started: list[subprocess.Popen] = []
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "emitrun.settings",
    }

    def start() -> Live:
        port = free_port()
        log = tmp_path / f"uvicorn-{port}.log"
        cmd = [sys.executable, "-m", "uvicorn", "emitrun.asgi:application"]
        cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        cmd += ["--lifespan", "off"]
        with log.open("w") as out:
            # The arguments are ours, not input: S603 does not apply.
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
        started.append(proc)
        host = f"127.0.0.1:{port}"
        wait_live(proc, host, log)
        return Live(host)

    yield start
    for proc in started:
        proc.send_signal(signal.SIGTERM)
    for proc in started:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.django_db(transaction=True)
def test_a_client_on_one_server_sees_jobs_driven_through_another(servers, space):
    a, b = servers(), servers()
    admin = issue_token(space=space, name="s", scopes=["jobs:admin"])[1]
    with a.ws(f"spaces/{space.id}?token={admin}") as ws:
        hello = recv(ws)
        assert hello["type"] == "stream.hello"
        with b.http(admin) as http:
            job_id = drive(http, space)
        seen = events(ws, len(LIFE))
    assert [m["type"] for m in seen] == LIFE
    assert {m["job_id"] for m in seen} == {job_id}
    seqs = [m["seq"] for m in seen]
    assert seqs == sorted(seqs)
    assert seqs[0] > hello["seq"]
    stored = JobEvent.objects.filter(job_id=job_id).order_by("id").values_list("id", flat=True)
    assert seqs == list(stored)


async def created_seqs(url: str, want: int, ready: asyncio.Event, counter: list[int]) -> list[int]:
    """Connects, reads the hello, then collects seqs of job.created until `want` of them."""
    async with aconnect(url, open_timeout=90, max_queue=None) as ws:
        assert json.loads(await ws.recv())["type"] == "stream.hello"
        counter[0] += 1
        if counter[0] == CLIENTS:
            ready.set()
        got: list[int] = []
        while len(got) < want:
            msg = json.loads(await ws.recv())
            if msg["type"] == "job.created":
                got.append(msg["seq"])
        return got


async def burst(live: Live, space_id: str, secret: str) -> list[list[int]]:
    url = f"ws://{live.host}/api/v1/realtime/spaces/{space_id}?token={secret}"
    ready, counter = asyncio.Event(), [0]
    want = BULKS * 100
    clients = [asyncio.create_task(created_seqs(url, want, ready, counter)) for _ in range(CLIENTS)]
    # Generous bounds: this checks that every event arrives, in order, not how fast; a
    # busy 2-core machine (the whole suite running beside it) can take minutes.
    await asyncio.wait_for(ready.wait(), 90)
    headers = {"Authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(
        base_url=f"http://{live.host}/api/v1", headers=headers, timeout=WAIT
    ) as http:
        for _ in range(BULKS):
            r = await http.post("/jobs/bulk", json={"jobs": [{"name": "n"}] * 100})
            assert r.status_code == 200, r.text
            assert r.json()["success_count"] == 100
    return await asyncio.wait_for(asyncio.gather(*clients), 180)


@pytest.mark.django_db(transaction=True)
def test_two_hundred_clients_each_receive_every_event_of_a_job_burst(servers, space):
    live = servers()
    secret = issue_token(space=space, name="s", scopes=["jobs:admin"])[1]
    per_client = asyncio.run(burst(live, str(space.id), secret))
    stored = list(
        JobEvent.objects.filter(space=space, type="job.created")
        .order_by("id")
        .values_list("id", flat=True)
    )
    assert len(stored) == BULKS * 100
    assert len(per_client) == CLIENTS
    for seqs in per_client:
        assert seqs == stored  # all of them, in order, none duplicated


DEAD_LAYER = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},  # nothing listens there
    }
}


@pytest.mark.django_db
def test_a_dead_channel_layer_never_fails_a_job_request(
    make_client, space, django_capture_on_commit_callbacks
):
    client = make_client("jobs:admin")
    before = realtime.publish_failures()

    def timed(method: str, path: str, status: int, body: dict | None = None) -> dict:
        started = time.monotonic()
        with django_capture_on_commit_callbacks(execute=True) as hooks:
            r = getattr(client, method)(f"/api/v1{path}", body or {})
        assert r.status_code == status, r.content
        assert hooks, "the request should publish its events after commit"
        assert time.monotonic() - started < 5  # a dead layer must not hang a request
        return r.json()

    with override_settings(CHANNEL_LAYERS=DEAD_LAYER):
        # channels.layers drops its cached layers on setting_changed: the override bites.
        job = timed("post", "/jobs", 201, {"name": "resize"})
        (polled,) = timed("post", f"/spaces/{space.id}/jobs/poll", 200, {"names": ["resize"]})[
            "jobs"
        ]
        lease = {"lease_id": polled["lease_id"]}
        timed("post", f"/jobs/{job['id']}/ack", 200, lease)
        timed("post", f"/jobs/{job['id']}/complete", 200, {**lease, "result": {}})
    assert Job.objects.get(pk=job["id"]).status == "completed"
    assert realtime.flush(10)  # publishing does not hold up the request; wait for it here
    assert realtime.publish_failures() >= before + 4
