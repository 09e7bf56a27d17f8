import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from jobs import lifecycle
from jobs.models import Job, JobEvent
from jobs.tasks import prune_jobs_task, sweep_task
from notifications import dispatch
from notifications.models import Delivery
from notifications.tasks import prune_deliveries_task
from tests.conftest import SYSTEM, create_job
from tests.factories import SpaceFactory

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)


def completed_job(space, name: str = "work", **fields) -> Job:
    create_job(space, name, **fields)
    (delivered,) = lifecycle.poll(space, limit=1, names=[name], actor=SYSTEM)
    return lifecycle.complete(lifecycle.ack(delivered, actor=SYSTEM), result=None, actor=SYSTEM)


def test_retention_prunes_only_old_terminal_jobs(space):
    long_kept = SpaceFactory(retention_days=90)
    with time_machine.travel(timezone.now() - 40 * DAY):
        old_done = completed_job(space, "old", callback_url="https://cb.example.test/")
        old_kept = completed_job(long_kept, "old")
        old_pending = create_job(space, "waiting")
        old_killed = lifecycle.kill(create_job(space, "killed"), actor=SYSTEM)
    recent = completed_job(space, "recent")
    assert Delivery.objects.filter(job=old_done).exists()
    assert prune_jobs_task() == 2
    remaining = set(Job.objects.values_list("pk", flat=True))
    assert remaining == {old_kept.pk, old_pending.pk, recent.pk}
    assert not JobEvent.objects.filter(job_id__in=[old_done.pk, old_killed.pk]).exists()
    assert not Delivery.objects.filter(job_id=old_done.pk).exists()
    assert prune_jobs_task() == 0


def test_retention_works_in_batches(space):
    with time_machine.travel(timezone.now() - 40 * DAY):
        for _ in range(5):
            lifecycle.cancel(create_job(space), actor=SYSTEM)
    assert lifecycle.prune_finished(batch=2) == 5
    assert not Job.objects.exists()


def test_old_sent_and_failed_deliveries_are_pruned(space):
    job = completed_job(space, callback_url="https://cb.example.test/")
    (row,) = Delivery.objects.filter(job=job)
    old = timezone.now() - 30 * DAY
    Delivery.objects.filter(pk=row.pk).update(status="sent", updated_at=old)
    pending = create_job(space, callback_url="https://cb.example.test/")
    lifecycle.kill(pending, actor=SYSTEM)
    Delivery.objects.filter(job=pending).update(updated_at=old)  # still pending: kept
    assert prune_deliveries_task() == 1
    assert list(Delivery.objects.values_list("job_id", flat=True)) == [pending.pk]


def test_dispatcher_queues_due_rows_once_and_rescues_stuck_ones(space):
    for _ in range(3):
        completed_job(space, callback_url="https://cb.example.test/")
    rows = list(Delivery.objects.order_by("created_at"))
    Delivery.objects.filter(pk=rows[1].pk).update(
        status="sending", updated_at=timezone.now() - dt.timedelta(hours=1)
    )
    Delivery.objects.filter(pk=rows[2].pk).update(next_attempt_at=timezone.now() + DAY)
    queued: list[str] = []
    result = dispatch.dispatch(queued.extend)
    assert result == {"rescued": 1, "queued": 2}
    assert sorted(queued) == sorted([str(rows[0].pk), str(rows[1].pk)])
    queued.clear()
    assert dispatch.dispatch(queued.extend) == {"rescued": 0, "queued": 0}  # message in flight
    later = timezone.now() + dt.timedelta(seconds=dispatch.REDISPATCH_SECONDS + 1)
    assert dispatch.dispatch(queued.extend, now=later)["queued"] == 2  # that message was lost


def test_a_freshly_claimed_row_is_not_rescued(space):
    completed_job(space, callback_url="https://cb.example.test/")
    Delivery.objects.update(status="sending", updated_at=timezone.now())
    assert dispatch.rescue_stuck(now=timezone.now()) == 0


def test_sweep_task_moves_due_scheduled_jobs(space):
    job = create_job(space, scheduled_for=timezone.now() + dt.timedelta(seconds=30))
    assert job.status == "scheduled"
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=31)):
        assert sweep_task()["due"] == 1
    job.refresh_from_db()
    assert job.status == "pending"
    assert JobEvent.objects.filter(job=job, type="job.pending").count() == 1


def test_beat_schedule_covers_every_periodic_task(settings):
    from emitrun.celery import app

    schedule = app.conf.beat_schedule
    assert set(schedule) == {
        "jobs.tasks.sweep_task",
        "jobs.tasks.prune_jobs_task",
        "notifications.tasks.dispatch_task",
        "notifications.tasks.prune_deliveries_task",
    }
    sweep = schedule["jobs.tasks.sweep_task"]
    assert sweep["schedule"] == settings.EMITRUN_SWEEP_SECONDS == 1.0
    assert sweep["options"]["expires"] == sweep["schedule"]
