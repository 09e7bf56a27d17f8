"""Concurrency over real HTTP: worker threads (one httpx client each) against the live
server, with the database as the judge. Every job is handed out and completed exactly
once, expired deliveries go to someone else, and exactly one of racing callers wins.
"""

import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields

import httpx
import pytest

from jobs.models import Job, JobEvent, Status
from spaces.actions import issue_token
from spaces.models import Space
from tests.factories import SpaceFactory

pytestmark = pytest.mark.django_db(transaction=True)

# Live server and workers share one process (one GIL): ~70 requests/s on two cores whatever
# the thread count, so 500 jobs take ~20 s. EMITRUN_CONCURRENCY_JOBS=2000 for a soak run.
JOBS = int(os.environ.get("EMITRUN_CONCURRENCY_JOBS", "500"))


@pytest.fixture
def connect(live_server) -> Callable[[Space], httpx.Client]:
    """connect(space) -> a live-server client with its own jobs:admin token (own rate limit).

    Call it in the test's thread and give each client to one worker thread: ORM calls in a
    worker thread would pin pooled connections the server needs.
    """
    # Django's test server writes headers and body separately: with Nagle on, each answer on
    # a kept-alive connection waits ~40 ms for the client's delayed ACK. (Accepted sockets
    # inherit TCP_NODELAY from the listening one on Linux.)
    live_server.thread.httpd.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    opened: list[httpx.Client] = []

    def make(space: Space) -> httpx.Client:
        _, secret = issue_token(space=space, name="w", scopes=["jobs:admin"])
        client = httpx.Client(
            base_url=f"{live_server.url}/api/v1",
            headers={"Authorization": f"Bearer {secret}"},
            timeout=30.0,
        )
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()


def describe(r: httpx.Response) -> str:
    return f"{r.request.method} {r.request.url.path} -> {r.status_code} {r.text[:300]}"


def code(r: httpx.Response) -> str | None:
    return r.json().get("code") if r.status_code >= 400 else None


def create_jobs(http: httpx.Client, count: int) -> set[str]:
    ids: set[str] = set()
    for start in range(0, count, 100):
        items = [{"payload": {"n": n}} for n in range(start, min(start + 100, count))]
        r = http.post("/jobs/bulk", json={"queue_name": "work", "jobs": items})
        assert r.status_code == 200, describe(r)
        assert r.json()["failure_count"] == 0, r.json()["failed"]
        ids |= {item["job_id"] for item in r.json()["succeeded"]}
    assert len(ids) == count
    return ids


@dataclass
class Run:  # what one worker thread saw
    handed: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    abandoned: list[tuple[str, str]] = field(default_factory=list)  # (job id, its lease id)
    lost: list[str] = field(default_factory=list)  # deliveries that expired before the ack
    unexpected: list[str] = field(default_factory=list)


def work(
    http: httpx.Client,
    space: Space,
    *,
    name: str,
    limit: int,
    stop: Callable[[int], bool],
    abandon: Callable[[int], bool] = lambda index: False,
    rounds: int | None = None,
    pause: float = 0.0,
    idle_sleep: float = 0.05,
) -> Run:
    """poll -> ack every job -> complete every job, until stop(idle polls in a row) or
    `rounds` non-empty polls (or 120 s). Jobs whose index in a poll answer `abandon`
    picks are never acked: the worker behaves as if it crashed holding them.
    """
    run, idle, give_up_at = Run(), 0, time.monotonic() + 120
    while not stop(idle) and (rounds is None or rounds > 0) and time.monotonic() < give_up_at:
        r = http.post(f"/spaces/{space.pk}/jobs/poll", json={"limit": limit, "worker_id": name})
        if r.status_code != 200:
            run.unexpected.append(describe(r))
        jobs = r.json().get("jobs", []) if r.status_code == 200 else []
        if not jobs:
            idle += 1
            time.sleep(idle_sleep)
            continue
        idle = 0
        rounds = None if rounds is None else rounds - 1
        run.handed += [job["id"] for job in jobs]
        acked = []
        for index, job in enumerate(jobs):
            if abandon(index):
                run.abandoned.append((job["id"], job["lease_id"]))
                continue
            r = http.post(f"/jobs/{job['id']}/ack", json={"lease_id": job["lease_id"]})
            if r.status_code == 200:
                acked.append(job)
            elif code(r) == "LEASE_EXPIRED":
                run.lost.append(job["id"])
            else:
                run.unexpected.append(describe(r))
        for job in acked:
            body = {"lease_id": job["lease_id"], "result": {"by": name}}
            r = http.post(f"/jobs/{job['id']}/complete", json=body)
            if r.status_code == 200 and r.json()["job"]["status"] == "completed":
                run.completed.append(job["id"])
            else:
                run.unexpected.append(describe(r))
        time.sleep(pause)
    return run


def merge(runs: list[Run]) -> Run:
    return Run(*([item for run in runs for item in getattr(run, f.name)] for f in fields(Run)))


def assert_completed_once(space: Space, ids: set[str], run: Run) -> None:
    assert run.unexpected == []
    completed = Counter(run.completed)
    assert set(completed) == ids
    assert [job for job, n in completed.items() if n != 1] == []
    jobs = Job.objects.filter(space=space)
    assert dict(Counter(jobs.values_list("status", flat=True))) == {Status.COMPLETED: len(ids)}
    assert set(jobs.values_list("attempts", flat=True)) == {1}
    events = JobEvent.objects.filter(space=space, type="job.completed")
    assert Counter(str(j) for j in events.values_list("job_id", flat=True)) == Counter(ids)


def test_sixteen_workers_complete_every_job_exactly_once(connect):
    space = SpaceFactory()
    ids = create_jobs(connect(space), JOBS)
    clients = [connect(space) for _ in range(16)]

    def worker(n: int) -> Run:
        return work(clients[n], space, name=f"w-{n}", limit=10, stop=lambda idle: idle >= 5)

    with ThreadPoolExecutor(16) as pool:
        runs = list(pool.map(worker, range(16)))
    run = merge(runs)

    assert run.lost == []
    handed = Counter(run.handed)
    assert set(handed) == ids
    assert [job for job, n in handed.items() if n != 1] == []
    assert sum(1 for r in runs if r.completed) > 1  # the work really was shared
    assert_completed_once(space, ids, run)


def test_abandoned_deliveries_expire_and_go_to_other_workers(connect):
    space = SpaceFactory(delivery_timeout_seconds=1)
    ids = create_jobs(connect(space), JOBS // 2)
    done = threading.Event()
    clients = [connect(space) for _ in range(12)]

    def crasher(n: int) -> Run:
        # Keeps half of what it gets, sits on the other half, then dies mid-run.
        return work(
            clients[n], space, name=f"crash-{n}", limit=6, stop=lambda idle: idle >= 3,
            abandon=lambda index: index % 2 == 1, rounds=5, pause=0.2,
        )  # fmt: skip

    def healthy(n: int) -> Run:
        stop = lambda idle: done.is_set()  # noqa: E731 - run until every job is done
        return work(clients[n], space, name=f"ok-{n}", limit=5, stop=stop, idle_sleep=0.2)

    with ThreadPoolExecutor(12) as pool:
        futures = [pool.submit(crasher, n) for n in range(4)]
        futures += [pool.submit(healthy, n) for n in range(4, 12)]
        deadline = time.monotonic() + 20 + JOBS / 10
        finished = Job.objects.filter(space=space, status=Status.COMPLETED)
        while finished.count() < len(ids) and time.monotonic() < deadline:
            time.sleep(0.2)
        done.set()
        runs = [future.result() for future in futures]
    run = merge(runs)

    assert len(run.abandoned) >= 20
    assert_completed_once(space, ids, run)
    # Each delivery was completed or expired; each expired one was requeued once, re-leased.
    given_up = Counter(job for job, _ in run.abandoned) + Counter(run.lost)
    handed = Counter(run.handed)
    assert Counter({job: handed[job] - 1 for job in ids}) == given_up
    timeouts = JobEvent.objects.filter(type="job.pending", data__reason="delivery_timeout")
    assert Counter(str(j) for j in timeouts.values_list("job_id", flat=True)) == given_up
    leases = {str(j): str(lease) for j, lease in finished.values_list("id", "lease_id")}
    assert [job for job, lease in run.abandoned if leases[job] == lease] == []
    # The crashed workers come back late and ack with their stale leases.
    http = connect(space)
    late = [http.post(f"/jobs/{job}/ack", json={"lease_id": lease}) for job, lease in run.abandoned]
    assert_completed_once(space, ids, run)  # the stale acks changed nothing
    assert {(r.status_code, code(r)) for r in late} == {(409, "LEASE_EXPIRED")}, describe(late[0])


def test_ten_workers_claiming_one_job_by_id_one_wins(connect):
    space = SpaceFactory()
    r = connect(space).post("/jobs", json={"name": "work"})
    assert r.status_code == 201, describe(r)
    job_id = r.json()["id"]
    start = threading.Barrier(10)
    clients = [connect(space) for _ in range(10)]

    def claim(n: int) -> tuple[int, str | None, str]:
        http = clients[n]
        assert http.get(f"/jobs/{job_id}").status_code == 200  # connected before the race
        start.wait(timeout=10)
        r = http.post(f"/jobs/{job_id}/claim", json={"worker_id": f"w-{n}"})
        return r.status_code, code(r), r.text

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(claim, range(10)))

    outcomes = Counter((status, error) for status, error, _ in answers)
    assert outcomes == {(200, None): 1, (409, "INVALID_STATE"): 9}, answers
    winner = next(n for n, (status, _, _) in enumerate(answers) if status == 200)
    job = Job.objects.get(pk=job_id)
    assert (job.status, job.worker_id) == (Status.DELIVERED, f"w-{winner}")
    assert JobEvent.objects.filter(job=job, type="job.delivered").count() == 1


def test_long_poll_wakes_on_a_new_job_and_times_out_empty(connect):
    space = SpaceFactory()
    poller, producer = connect(space), connect(space)
    url = f"/spaces/{space.pk}/jobs/poll"
    poller.post(url, json={"wait_seconds": 0})  # connect and authenticate before timing

    def long_poll() -> tuple[httpx.Response, float]:
        r = poller.post(url, json={"wait_seconds": 10, "worker_id": "lp"})
        return r, time.monotonic()

    with ThreadPoolExecutor(1) as pool:
        began = time.monotonic()
        waiting = pool.submit(long_poll)
        # Past the poller's first 1 s re-check, so only a wake-up can answer it at once.
        time.sleep(1.3)
        assert not waiting.done()
        r = producer.post("/jobs", json={"name": "work", "payload": {"x": 1}})
        assert r.status_code == 201, describe(r)
        created_at = time.monotonic()
        answer, returned_at = waiting.result(timeout=15)

    assert answer.status_code == 200, describe(answer)
    assert [job["id"] for job in answer.json()["jobs"]] == [r.json()["id"]]
    assert answer.json()["jobs"][0]["status"] == "delivered"
    assert returned_at - began < 5
    assert returned_at - created_at < 0.6

    began = time.monotonic()
    r = poller.post(url, json={"wait_seconds": 1})
    elapsed = time.monotonic() - began
    assert r.status_code == 200, describe(r)
    assert r.json() == {"jobs": []}
    assert 0.9 <= elapsed < 3


def test_concurrent_creates_with_one_idempotency_key_make_one_job(connect):
    space = SpaceFactory()
    start = threading.Barrier(10)
    body = {"name": "work", "payload": {"n": 1}, "idempotency_key": "order-42"}
    clients = [connect(space) for _ in range(10)]

    def create(n: int) -> httpx.Response:
        http = clients[n]
        assert http.get("/jobs", params={"limit": 1}).status_code == 200
        start.wait(timeout=10)
        return http.post("/jobs", json=body)

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(create, range(10)))

    outcomes = Counter((r.status_code, r.json().get("created")) for r in answers)
    assert outcomes == {(201, True): 1, (200, False): 9}, [describe(r) for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    jobs = Job.objects.filter(space=space, idempotency_key="order-42")
    assert [str(pk) for pk in jobs.values_list("pk", flat=True)] == [answers[0].json()["id"]]
    assert JobEvent.objects.filter(space=space, type="job.created").count() == 1


def test_concurrent_bulks_sharing_keys_make_one_job_per_key(connect):
    space = SpaceFactory()
    start = threading.Barrier(4)
    clients = [connect(space) for _ in range(4)]

    def bulk(n: int) -> httpx.Response:
        http = clients[n]
        assert http.get("/jobs", params={"limit": 1}).status_code == 200
        items = [{"idempotency_key": f"k{i}"} for i in range(20)] + [{"payload": n}]
        start.wait(timeout=10)
        return http.post("/jobs/bulk", json={"queue_name": "work", "jobs": items})

    with ThreadPoolExecutor(4) as pool:
        answers = [r.json()["succeeded"] for r in pool.map(bulk, range(4))]

    for i in range(20):
        outcomes = [(a[i]["job_id"], a[i]["created"]) for a in answers]
        assert len({job_id for job_id, _ in outcomes}) == 1
        assert sorted(created for _, created in outcomes) == [False] * 3 + [True]
    assert Job.objects.filter(space=space).count() == 20 + 4
    assert JobEvent.objects.filter(space=space, type="job.created").count() == 24
