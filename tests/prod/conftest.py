"""The production layout under test: scripts/prod.py's `Layout` with real processes (two
nodes behind nginx, two Celery workers, one beat) on a database of its own, and HTTP
workers that drive jobs through it the way a deployment's workers would.
"""

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest

from scripts.prod import Layout

logging.getLogger("httpx").setLevel(logging.WARNING)  # thousands of requests per test

BASE_PORT = 18340  # nginx; node a 18351/18352, node b 18361/18362 (make prod uses 18300)

# Makes spaces (with the given delivery timeouts) and a jobs:admin token for each, in one
# process start.
_SEED = """
import json
import logging
from orgs.models import Organization
from spaces import actions
org = Organization.objects.get(slug="demo")
owner = org.memberships.first().user
out = []
for name, timeout in {specs!r}:
    space = actions.create_space(organization=org, name=name, delivery_timeout_seconds=timeout)
    _, secret = actions.issue_token(space=space, name="t", scopes=["jobs:admin"], created_by=owner)
    out.append({{"id": str(space.id), "token": secret}})
print(json.dumps(out))
"""


def _database_url() -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_layout"))


@dataclass
class Space:
    id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Prod:
    layout: Layout
    spaces: dict[str, Space] = field(default_factory=dict)

    def sql(self, query: str, params: list | None = None) -> list[tuple]:
        with psycopg.connect(self.layout.database_url, autocommit=True) as conn:
            return conn.execute(query, params or []).fetchall()


@pytest.fixture(scope="session")
def prod(tmp_path_factory) -> Iterator[Prod]:
    data = Path(tmp_path_factory.mktemp("layout"))
    redis = os.environ["REDIS_URL"]
    layout = Layout(
        database_url=_database_url(),
        redis_url=redis,
        queue=os.environ.get("EMITRUN_CELERY_QUEUE", "emitrun-test") + "-layout",
        data_dir=data,
        base_port=BASE_PORT,
        web_workers=2,
        web_threads=6,
        stream_workers=2,
        celery_concurrency=1,
    )
    layout.prepare(fresh=True)
    specs = [("drain", 30), ("stream", 30), ("metrics", 30), ("crash", 2)]
    out = layout.manage("shell", "-c", _SEED.format(specs=specs))
    spaces = {
        name: Space(**s)
        for (name, _), s in zip(specs, json.loads(out.splitlines()[-1]), strict=True)
    }
    layout.start()
    try:
        yield Prod(layout, spaces)
    finally:
        layout.stop(timeout=20)


def create_jobs(base: str, space: Space, count: int, **fields: object) -> list[str]:
    ids: list[str] = []
    with httpx.Client(base_url=base, headers=space.headers, timeout=30) as client:
        for start in range(0, count, 100):
            n = min(100, count - start)
            r = client.post(
                f"/api/v1/spaces/{space.id}/jobs/bulk",
                json={
                    "name": "noop",
                    "jobs": [{"payload": {"i": start + i}, **fields} for i in range(n)],
                },
            )
            assert r.status_code in (200, 201), r.text
            body = r.json()
            assert body["failure_count"] == 0, body
            ids += [item["job_id"] for item in body["succeeded"]]
    return ids


class Worker(threading.Thread):
    """A job worker. By default it polls (10) -> acks -> completes; with `lease` it claims
    (Spooled style: claim acks, up to 25) -> completes, half the calls per job. A call that
    fails on the network or with 5xx moves it to the next URL, and the job it was handling
    is left for the lifecycle's timeouts to hand out again.
    """

    def __init__(
        self, name: str, urls: list[str], space: Space, stop: threading.Event, lease: int = 0
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.urls, self.space, self.stop, self.lease = urls, space, stop, lease
        self.completed: list[str] = []
        self.errors: list[str] = []
        self.turn = 0

    def run(self) -> None:
        clients = [
            httpx.Client(base_url=u, headers=self.space.headers, timeout=10) for u in self.urls
        ]
        try:
            while not self.stop.is_set():
                self._round(clients[self.turn % len(clients)])
        finally:
            for client in clients:
                client.close()

    def _round(self, client: httpx.Client) -> None:
        try:
            r = self._take(client)
            if r.status_code != 200:
                return self._failed(f"take {r.status_code}")
            jobs = r.json()["jobs"]
            if not jobs and self.lease:
                time.sleep(0.2)  # claim does not long-poll
            for job in jobs:
                self._work(client, job)
        except httpx.TransportError as exc:
            self._failed(f"{type(exc).__name__}")

    def _take(self, client: httpx.Client) -> httpx.Response:
        if self.lease:
            body = {"limit": 25, "worker_id": self.name, "lease_duration_secs": self.lease}
            return client.post("/api/v1/jobs/claim", json=body)
        body = {"limit": 10, "worker_id": self.name, "wait_seconds": 1}
        return client.post(f"/api/v1/spaces/{self.space.id}/jobs/poll", json=body)

    def _work(self, client: httpx.Client, job: dict) -> None:
        url, lease = f"/api/v1/jobs/{job['id']}", {"lease_id": job["lease_id"]}
        if not self.lease and client.post(f"{url}/ack", json=lease).status_code != 200:
            return self._failed("ack")
        r = client.post(f"{url}/complete", json={**lease, "result": {"by": self.name}})
        if r.status_code == 200:
            self.completed.append(job["id"])
        else:
            self._failed(f"complete {r.status_code}")

    def _failed(self, what: str) -> None:
        self.errors.append(what)
        self.turn += 1
        time.sleep(0.05)


def run_workers(workers: list[Worker], done: callable, timeout: float) -> None:
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + timeout
    try:
        while not done() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        workers[0].stop.set()
        for worker in workers:
            worker.join(15)


def metric(url: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`, scraped from one node."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        metric_name, _, rest = head.partition("{")
        if metric_name != name:
            continue
        if all(f'{k}="{v}"' in rest for k, v in labels.items()):
            total += float(value)
    return total
