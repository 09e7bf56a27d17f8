"""End to end with real processes: a Celery worker with embedded beat (`worker -B`) on the
Redis broker, against this test's database, and a real HTTP receiver.

The worker gets its own queue name per test, so parallel test runs sharing a Redis never
take each other's messages.
"""

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from jobs import lifecycle
from jobs.models import Job, JobEvent
from notifications.models import Delivery
from spaces.models import Space
from tests import receivers
from tests.conftest import SYSTEM, create_job

pytestmark = pytest.mark.django_db(transaction=True)
receiver = receivers.receiver  # the fixture, shared with other files

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    """This test's database (the xdist worker's own), for processes the test starts."""
    db = connection.settings_dict
    login = f"{db['USER']}:{db['PASSWORD']}" if db.get("PASSWORD") else db["USER"]
    return f"postgres://{login}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def celery_worker(tmp_path):
    """start() -> a running `celery worker -B` process; stopped at teardown."""
    started: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "EMITRUN_CELERY_QUEUE": f"emitrun-test-{uuid.uuid4().hex}",
            "EMITRUN_ALLOW_PRIVATE_WEBHOOKS": "true",
            "EMITRUN_SWEEP_SECONDS": "0.5",
            "EMITRUN_DISPATCH_SECONDS": "0.5",
            "EMITRUN_DELIVERY_BACKOFF_BASE_SECONDS": "1",
            "DB_POOL_MAX": "0",
        }
        cmd = [sys.executable, "-m", "celery", "-A", "emitrun", "worker", "-B"]
        cmd += ["--pool", "threads", "--concurrency", "4", "--loglevel", "WARNING"]
        cmd += ["--without-mingle", "--without-gossip", "--without-heartbeat"]
        cmd += ["--schedule", str(tmp_path / "beat-schedule")]
        log = (tmp_path / "worker.log").open("w")
        # The arguments are ours, not input: S603 does not apply.
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_until(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def complete(space, job: Job) -> Job:
    (delivered,) = lifecycle.poll(space, limit=1, names=[job.name], actor=SYSTEM)
    return lifecycle.complete(lifecycle.ack(delivered, actor=SYSTEM), result={}, actor=SYSTEM)


def test_outbox_waits_for_a_stopped_worker_and_beat_promotes_scheduled_jobs(
    space, receiver, settings, celery_worker, tmp_path
):
    settings.EMITRUN_ALLOW_PRIVATE_WEBHOOKS = True
    rx = receiver([200])
    jobs = [create_job(space, f"n{i}", callback_url=rx.url) for i in range(3)]
    for job in jobs:
        complete(space, job)  # the worker is not running: the rows wait in the outbox
    assert Delivery.objects.filter(status="pending").count() == 3

    celery_worker()
    started = time.monotonic()
    got = rx.wait_for(3, timeout=30)
    assert len(got) == 3, (tmp_path / "worker.log").read_text()[-3000:]
    assert {r.json["job_id"] for r in got} == {str(j.id) for j in jobs}
    assert wait_until(lambda: Delivery.objects.filter(status="sent").count() == 3, 10)
    assert JobEvent.objects.filter(type="job.callback_sent").count() == 3
    assert time.monotonic() - started < 30

    wake = receiver([200])
    space.settings.push_url, space.settings.push_names = wake.url, ["later"]
    space.settings.save()
    due = timezone.now() + dt.timedelta(seconds=2)
    scheduled = create_job(space, "later", scheduled_for=due)
    assert scheduled.status == "scheduled"
    assert wait_until(lambda: Job.objects.get(pk=scheduled.pk).status == "pending", 10)
    moved = JobEvent.objects.get(job=scheduled, type="job.pending")
    assert moved.at - due < dt.timedelta(seconds=2)
    (push,) = wake.wait_for(1, timeout=10)
    assert push.json["jobId"] == str(scheduled.id)


def test_beat_times_out_unacked_and_silent_jobs(space, celery_worker, tmp_path):
    Space.objects.filter(pk=space.pk).update(delivery_timeout_seconds=1)
    space.refresh_from_db()
    unacked = create_job(space, "unacked")
    silent = create_job(space, "silent", timeout_seconds=1, max_retries=0)
    lifecycle.poll(space, limit=1, names=["unacked"], actor=SYSTEM)
    (delivered,) = lifecycle.poll(space, limit=1, names=["silent"], actor=SYSTEM)
    lifecycle.ack(delivered, actor=SYSTEM)
    celery_worker()
    log = tmp_path / "worker.log"
    assert wait_until(lambda: Job.objects.get(pk=unacked.pk).status == "pending", 10), (
        log.read_text()[-3000:]
    )
    assert wait_until(lambda: Job.objects.get(pk=silent.pk).status == "dead", 10)
    reasons = JobEvent.objects.filter(job=unacked, type="job.pending").values_list(
        "data__reason", flat=True
    )
    assert "delivery_timeout" in list(reasons)
    assert Job.objects.get(pk=silent.pk).last_error == "timeout"


def test_a_failed_attempt_is_retried_by_the_worker_after_backoff(
    space, receiver, settings, celery_worker, tmp_path
):
    settings.EMITRUN_ALLOW_PRIVATE_WEBHOOKS = True
    rx = receiver([500, 200])
    celery_worker()
    job = create_job(space, callback_url=rx.url, callback_secret="k")
    complete(space, job)
    got = rx.wait_for(2, timeout=20)
    assert len(got) == 2, (tmp_path / "worker.log").read_text()[-3000:]
    assert got[0].raw == got[1].raw
    assert got[0].headers["X-Emitrun-Delivery"] == got[1].headers["X-Emitrun-Delivery"]
    assert wait_until(lambda: Delivery.objects.get().status == "sent", 10)
    types = list(
        JobEvent.objects.filter(job=job, type__startswith="job.callback")
        .order_by("id")
        .values_list("type", flat=True)
    )
    assert types == ["job.callback_failed", "job.callback_sent"]


BROKER_DOWN_SCRIPT = """
import sys, time, django
django.setup()
from jobs import lifecycle
from spaces.models import Space
actor = lifecycle.Actor.system("test")
space = Space.objects.get(pk=sys.argv[1])
job = lifecycle.create(space, lifecycle.JobSpec(name="n", callback_url=sys.argv[2]), actor=actor).job
(delivered,) = lifecycle.poll(space, limit=1, actor=actor)
started = time.monotonic()
lifecycle.complete(lifecycle.ack(delivered, actor=actor), result=None, actor=actor)
print(round(time.monotonic() - started, 2))
"""


def test_a_broker_outage_never_fails_a_transition(space, receiver, celery_worker, tmp_path):
    rx = receiver([200])
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": "redis://127.0.0.1:1/0",  # nothing listens there
        "EMITRUN_ALLOW_PRIVATE_WEBHOOKS": "true",
        "DJANGO_SETTINGS_MODULE": "emitrun.settings",
    }
    done = subprocess.run(  # noqa: S603 - our own script and arguments
        [sys.executable, "-c", BROKER_DOWN_SCRIPT, str(space.id), rx.url],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert float(done.stdout.strip().splitlines()[-1]) < 5
    assert "could not queue 1 deliveries" in done.stderr
    (row,) = Delivery.objects.all()
    assert row.status == "pending"
    assert Job.objects.get().status == "completed"
    celery_worker()  # the broker is back: the dispatcher sends what the kick could not
    assert len(rx.wait_for(1, timeout=20)) == 1, (tmp_path / "worker.log").read_text()[-3000:]
