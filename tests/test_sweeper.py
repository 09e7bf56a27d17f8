import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from jobs import lifecycle
from jobs.models import Job, JobEvent, Status
from tests.conftest import SYSTEM, create_job
from tests.factories import SpaceFactory


def types_of(job):
    return list(JobEvent.objects.filter(job=job).order_by("id").values_list("type", flat=True))


def test_due_scheduled_job_becomes_pending(space):
    job = create_job(space, scheduled_for=timezone.now() + timedelta(minutes=5))
    assert job.status == Status.SCHEDULED
    assert lifecycle.expire_overdue()["due"] == 0
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        assert lifecycle.expire_overdue()["due"] == 1
    job.refresh_from_db()
    assert job.status == Status.PENDING
    assert types_of(job) == ["job.created", "job.pending"]


def test_unacked_delivery_returns_to_pending_without_counting_an_attempt(space, delivered_job):
    later = timezone.now() + timedelta(seconds=space.delivery_timeout_seconds + 1)
    with time_machine.travel(later):
        assert lifecycle.expire_overdue()["delivery_timeout"] == 1
    delivered_job.refresh_from_db()
    assert (delivered_job.status, delivered_job.attempts) == (Status.PENDING, 0)
    assert delivered_job.lease_id is None
    assert delivered_job.worker_id == ""
    event = JobEvent.objects.filter(job=delivered_job).latest("id")
    assert (event.type, event.data["reason"]) == ("job.pending", "delivery_timeout")


def test_silent_worker_is_failed_as_an_attempt_then_dead(space):
    job = create_job(space, max_retries=1, timeout_seconds=10)
    for expected in (Status.PENDING, Status.DEAD):
        (delivered,) = lifecycle.poll(space, limit=1, actor=SYSTEM)
        lifecycle.ack(delivered, actor=SYSTEM)
        with time_machine.travel(timezone.now() + timedelta(seconds=11)):
            assert lifecycle.expire_overdue()["execution_timeout"] == 1
        job.refresh_from_db()
        assert job.status == expected
        assert job.last_error == "timeout"
    assert job.attempts == 2
    assert job.retry_count == 1
    assert types_of(job)[-2:] == ["job.failed", "job.dead"]


def test_keepalive_keeps_a_long_job_alive(space, running_job):
    start = timezone.now()
    for step in range(1, 4):
        with time_machine.travel(start + timedelta(seconds=step * 200)):
            lifecycle.keepalive(running_job, actor=SYSTEM)
            assert lifecycle.expire_overdue()["execution_timeout"] == 0
    running_job.refresh_from_db()
    assert running_job.status == Status.RUNNING


def test_claim_settles_its_space_without_the_sweeper(space, delivered_job):
    later = timezone.now() + timedelta(seconds=space.delivery_timeout_seconds + 1)
    with time_machine.travel(later):
        (again,) = lifecycle.poll(space, limit=1, worker_id="w-2", actor=SYSTEM)
    assert again.id == delivered_job.id
    assert again.lease_id != delivered_job.lease_id
    assert again.worker_id == "w-2"


def test_retry_backoff_is_capped_and_jittered(org):
    space = SpaceFactory(organization=org, backoff_base_seconds=10, backoff_cap_seconds=30)
    job = create_job(space, max_retries=5)
    delays = []
    for _ in range(4):
        (delivered,) = lifecycle.poll(space, limit=1, actor=SYSTEM)
        running = lifecycle.ack(delivered, actor=SYSTEM)
        failed = lifecycle.fail(running, error="boom", actor=SYSTEM)
        delays.append((failed.run_at - timezone.now()).total_seconds())
        assert failed.status == Status.SCHEDULED
        with time_machine.travel(failed.run_at + timedelta(seconds=1)):
            lifecycle.expire_overdue()
    assert all(0 <= d <= 30 for d in delays)
    assert len({round(d, 3) for d in delays}) > 1
    job.refresh_from_db()
    assert job.retry_count == 4


@pytest.mark.django_db(transaction=True)
def test_two_sweepers_at_once_move_each_job_once():
    space = SpaceFactory(delivery_timeout_seconds=1)
    specs = [lifecycle.JobSpec(name="work") for _ in range(300)]
    lifecycle.create_many(space, specs, actor=SYSTEM)
    for _ in range(3):
        lifecycle.poll(space, limit=100, worker_id="lost", actor=SYSTEM)
    later = timezone.now() + timedelta(seconds=5)
    results, barrier = [], threading.Barrier(2)

    def sweep() -> None:
        try:
            barrier.wait()
            with time_machine.travel(later, tick=True):
                results.append(lifecycle.expire_overdue(batch=50))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r["delivery_timeout"] for r in results) == 300
    assert Job.objects.filter(space=space, status=Status.PENDING).count() == 300
    requeues = JobEvent.objects.filter(space=space, type="job.pending").count()
    assert requeues == 300


def test_sweep_command_reports_what_it_moved(space, delivered_job):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    later = timezone.now() + timedelta(seconds=space.delivery_timeout_seconds + 1)
    with time_machine.travel(later):
        call_command("sweep", stdout=out)
    assert '"delivery_timeout": 1' in out.getvalue()
