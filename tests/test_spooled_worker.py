"""The Spooled SDK's worker runtime (spooled.worker.SpooledWorker, unmodified) against the
live server: it works a queue to the end, retries what fails, dead-letters what keeps
failing, and the jobs of a worker that died come back to another one after their lease.
"""

import socket
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from spooled import CircuitBreakerConfig, RetryConfig, SpooledClient
from spooled.errors import ConflictError
from spooled.worker import SpooledWorker

from jobs.models import Job, JobEvent, Status, Worker
from spaces.actions import issue_token

pytestmark = pytest.mark.django_db(transaction=True)

Q = "render"


@pytest.fixture
def connect(live_server):
    """connect(space) -> an SDK client with its own jobs:admin token; no retries, no breaker."""
    # See test_concurrency: without TCP_NODELAY each kept-alive answer waits ~40 ms.
    live_server.thread.httpd.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    opened: list[SpooledClient] = []

    def make(space) -> SpooledClient:
        _, secret = issue_token(space=space, name="sdk", scopes=["jobs:admin"])
        opened.append(
            SpooledClient(
                api_key=secret,
                base_url=live_server.url,
                retry=RetryConfig(max_retries=0),
                circuit_breaker=CircuitBreakerConfig(enabled=False),
            )
        )
        return opened[-1]

    yield make
    for client in opened:
        client.close()


@pytest.fixture
def release():
    """An event blocked handlers wait on; set at teardown, so none outlives the test (the
    executor's threads are joined at interpreter exit).
    """
    event = threading.Event()
    yield event
    event.set()


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.fixture
def start():
    """start(worker) -> (its thread, what it emits): runs worker.start(), which blocks until
    stopped, in a thread. Workers a failed test left running are stopped afterwards.
    """
    running: list[tuple[SpooledWorker, threading.Thread]] = []

    def run(worker: SpooledWorker) -> tuple[threading.Thread, dict[str, list]]:
        seen: dict[str, list] = defaultdict(list)
        for name in ("job:completed", "job:failed", "job:lease_lost", "error"):
            worker.on(name, lambda event, name=name: seen[name].append(event))
        thread = threading.Thread(target=worker.start, daemon=True)
        thread.start()
        running.append((worker, thread))
        return thread, seen

    yield run
    for worker, thread in running:
        worker.stop()
        thread.join(timeout=30)


def stop(worker: SpooledWorker, thread: threading.Thread) -> None:
    worker.stop()
    thread.join(timeout=30)
    assert not thread.is_alive()


def finished(space) -> int:
    return Job.objects.filter(space=space, status__in=[Status.COMPLETED, Status.DEAD]).count()


def test_worker_runs_each_job_once_retries_flaky_ones_dead_letters_poison(connect, space, start):
    sdk = connect(space)
    for first in (0, 100):
        items = [{"payload": {"i": i}} for i in range(first, min(first + 100, 199))]
        answer = sdk.jobs.bulk_enqueue({"queue_name": Q, "jobs": items, "default_max_retries": 2})
        assert answer.failure_count == 0, answer.failed
    poison = sdk.jobs.create({"queue_name": Q, "payload": {"i": 199}, "max_retries": 1}).id
    flaky = {i for i in range(199) if i % 20 == 7}
    calls: Counter[str] = Counter()
    lock = threading.Lock()
    worker = SpooledWorker(
        connect(space), queue_name=Q, concurrency=4, poll_interval=0.02, worker_id="sdk-1"
    )

    @worker.process
    def handle(ctx):
        with lock:
            calls[ctx.job_id] += 1
        i = ctx.payload["i"]
        if i == 199:
            raise RuntimeError("poison")
        if i in flaky and ctx.retry_count == 0:
            raise RuntimeError(f"flaky {i}")
        return {"double": i * 2}

    thread, seen = start(worker)
    assert wait_for(lambda: sdk.queues.get_stats(Q).active_workers == 1, 10)
    assert sdk.workers.get("sdk-1").status == "healthy"
    all_done = wait_for(lambda: finished(space) == 200, 45)
    stop(worker, thread)
    assert all_done, Counter(Job.objects.filter(space=space).values_list("status", flat=True))

    assert [repr(event.error) for event in seen["error"]] == []
    assert seen["job:lease_lost"] == []
    jobs = {str(job.id): job for job in Job.objects.filter(space=space)}
    number = {job_id: job.payload["i"] for job_id, job in jobs.items()}
    assert {job_id for job_id, job in jobs.items() if job.status == Status.DEAD} == {poison}
    assert (jobs[poison].retry_count, jobs[poison].last_error) == (1, "poison")
    completed = {job_id for job_id, job in jobs.items() if job.status == Status.COMPLETED}
    assert len(completed) == 199
    assert all(jobs[j].result == {"double": 2 * number[j]} for j in completed)
    assert {j for j in completed if jobs[j].retry_count == 1} == {
        j for j in completed if number[j] in flaky
    }
    # Each job ran once per attempt, and nothing ran again after it completed.
    expected = {j: 2 if number[j] in flaky or j == poison else 1 for j in jobs}
    assert dict(calls) == expected
    assert Counter(event.job_id for event in seen["job:completed"]) == Counter(completed)
    recorded = JobEvent.objects.filter(space=space, type="job.completed")
    assert Counter(str(j) for j in recorded.values_list("job_id", flat=True)) == Counter(completed)
    failures = sorted((number[e.job_id], e.will_retry) for e in seen["job:failed"])
    assert failures == sorted([(i, True) for i in flaky] + [(199, True), (199, False)])

    assert [job.id for job in sdk.jobs.dlq.list({"queue_name": Q})] == [poison]
    assert sdk.jobs.get_stats().completed == 199
    assert sdk.workers.get("sdk-1").status == "offline"  # deregistered by stop()


def test_jobs_of_a_killed_worker_come_back_after_their_lease(connect, space, start, release):
    sdk = connect(space)
    ids = [sdk.jobs.create({"queue_name": Q, "payload": {"i": i}}).id for i in range(4)]
    # A bare claim that is never acked: a process that died right after claiming.
    (orphan,) = sdk.jobs.claim({"queue_name": Q, "worker_id": "raw", "lease_duration_secs": 5}).jobs
    assert orphan.id == ids[0]

    doomed_client, held = connect(space), []
    doomed = SpooledWorker(
        doomed_client, queue_name=Q, concurrency=3, poll_interval=0.05, lease_duration=5,
        shutdown_timeout=2, worker_id="doomed",
    )  # fmt: skip

    @doomed.process
    def hang(ctx):
        held.append(ctx.job_id)
        release.wait(40)
        return {"by": "doomed"}

    done: list[tuple[str, int]] = []
    rescuer = SpooledWorker(
        connect(space), queue_name=Q, concurrency=4, poll_interval=0.1, worker_id="rescuer"
    )

    @rescuer.process
    def finish(ctx):
        done.append((ctx.job_id, ctx.retry_count))
        return {"by": "rescuer"}

    doomed_thread, doomed_seen = start(doomed)
    assert wait_for(lambda: len(held) == 3, 10)
    held_since = time.monotonic()
    assert sorted(held) == sorted(ids[1:])
    rescuer_thread, rescuer_seen = start(rescuer)
    # Past one lease length the live worker's job heartbeats keep its jobs; the orphan,
    # with no heartbeats, has gone to the rescuer.
    assert wait_for(lambda: len(done) == 1, 10)
    time.sleep(max(0.0, held_since + 6.5 - time.monotonic()))
    assert done == [(orphan.id, 1)]  # its lease expiry was a failed attempt
    assert doomed_seen["error"] == []
    running = Job.objects.filter(space=space, status=Status.RUNNING)
    assert sorted(str(j) for j in running.values_list("id", flat=True)) == sorted(ids[1:])
    beats = JobEvent.objects.filter(space=space, type="job.keepalive", worker_id="doomed")
    assert set(beats.values_list("job_id", flat=True)) == set(running.values_list("id", flat=True))

    # It dies mid-job: nothing it sends reaches the server any more (no fail, no
    # heartbeat, no deregister).
    doomed_client.close()
    all_done = wait_for(lambda: finished(space) == 4, 15)
    stop(rescuer, rescuer_thread)
    assert all_done, list(Job.objects.filter(space=space).values_list("status", flat=True))
    assert sorted(done) == sorted((job_id, 1) for job_id in ids)
    assert rescuer_seen["error"] == []
    jobs = Job.objects.filter(space=space)
    assert {(j.status, j.last_error, j.result["by"]) for j in jobs} == {
        (Status.COMPLETED, "timeout", "rescuer")
    }

    # The dead come back: their acks with the old leases change nothing.
    with pytest.raises(ConflictError) as stale:
        sdk.jobs.complete(orphan.id, {"worker_id": "raw", "lease_id": orphan.lease_id})
    assert stale.value.code == "LEASE_EXPIRED"
    release.set()
    stop(doomed, doomed_thread)
    assert doomed_seen["job:completed"] == []
    assert {j.result["by"] for j in Job.objects.filter(space=space)} == {"rescuer"}

    assert sdk.workers.get("doomed").status == "healthy"  # silent, but not for long yet
    interval = Worker.objects.get(space=space, worker_id="doomed").heartbeat_interval_seconds
    with time_machine.travel(timezone.now() + timedelta(seconds=2 * interval + 1)):
        assert sdk.workers.get("doomed").status == "offline"
        assert sdk.workers.get("rescuer").status == "offline"
