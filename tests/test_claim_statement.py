"""A claim with nothing to settle and no delivery to write is one statement: the jobs'
change and their events stored together, committed on their own.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs import lifecycle
from jobs.models import Job, JobEvent
from notifications import outbox
from notifications.models import Delivery
from tests.conftest import SYSTEM, create_job


def statements(call) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        call()
    return [q["sql"].split()[0] for q in ctx.captured_queries]


@pytest.mark.django_db(transaction=True)
def test_poll_and_claim_are_one_statement_after_the_space_check(api, space):
    for _ in range(4):
        create_job(space, "work")
    api.worker.post(f"/api/v1/spaces/{space.id}/jobs/poll", {"limit": 1})  # token known
    poll = statements(lambda: api.worker.post(f"/api/v1/spaces/{space.id}/jobs/poll", {"limit": 2}))
    claim = statements(lambda: api.worker.post("/api/v1/jobs/claim", {"queue_name": "work"}))
    # The space check (due jobs, paused queues, anything waiting), then the claim.
    assert poll == claim == ["SELECT", "WITH"]
    assert Job.objects.filter(space=space, status="delivered").count() == 3
    assert Job.objects.filter(space=space, status="running").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_claim_that_may_call_slack_or_settles_first_keeps_its_transaction(space):
    conf = space.settings
    conf.slack_webhook_url = "https://hooks.slack.example.test/T/B/x"
    conf.slack_events = ["started"]
    conf.save()
    job = create_job(space, "work")
    sql = statements(
        lambda: lifecycle.claim_running(space, limit=1, lease_seconds=30, actor=SYSTEM)
    )
    assert sql[1] == "BEGIN"
    assert sql[-1] == "COMMIT"
    assert Delivery.objects.filter(job=job, kind="slack", event="started").count() == 1

    # A delivery past its deadline: the poll puts it back first, in the same transaction.
    create_job(space, "other")
    (late,) = lifecycle.poll(space, limit=1, names=["other"], worker_id="w", actor=SYSTEM)
    Job.objects.filter(pk=late.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    sql = statements(lambda: lifecycle.poll(space, limit=1, worker_id="w2", actor=SYSTEM))
    assert sql[1] == "BEGIN"
    assert "COMMIT" in sql  # then the wake-up of the job it put back
    assert Job.objects.get(pk=late.pk).worker_id == "w2"  # settled, then claimed again


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("running", [False, True])
def test_the_statement_stores_the_events_the_lifecycle_would(space, running):
    early = create_job(space, "work", priority=0)
    urgent = create_job(space, "work", priority=5)
    third = create_job(space, "work", priority=0)
    if running:
        jobs = lifecycle.claim_running(
            space, limit=10, worker_id="w-1", lease_seconds=60, actor=SYSTEM
        )
    else:
        jobs = lifecycle.poll(space, limit=10, worker_id="w-1", actor=SYSTEM)
    assert [j.id for j in jobs] == [urgent.id, early.id, third.id]
    kind = "job.started" if running else "job.delivered"
    events = list(JobEvent.objects.filter(space=space, type=kind).order_by("id"))
    # Seqs follow the order the jobs are handed out; each event is its job's change.
    assert [e.job_id for e in events] == [j.id for j in jobs]
    for job, event in zip(jobs, events, strict=True):
        stored = Job.objects.get(pk=job.pk)
        assert event.status == stored.status == ("running" if running else "delivered")
        assert event.worker_id == "w-1"
        assert event.actor == SYSTEM.label
        assert event.at == stored.delivered_at
        assert event.data == {
            "worker_id": "w-1",
            "lease_expires_at": stored.lease_expires_at.isoformat().replace("+00:00", "Z"),
            "attempt": 1 if running else 0,
        }
        assert (job.lease_id, job.attempts) == (stored.lease_id, stored.attempts)
        assert job.space is space


@pytest.mark.django_db(transaction=True)
def test_claimed_events_are_published_with_their_seq(space, monkeypatch):
    sent = []
    monkeypatch.setattr(lifecycle.core.realtime, "publish", sent.extend)
    create_job(space, "work")
    sent.clear()
    (job,) = lifecycle.poll(space, limit=1, worker_id="w", actor=SYSTEM)
    event = JobEvent.objects.get(job=job, type="job.delivered")
    (msg,) = sent
    assert (msg["seq"], msg["type"], msg["job_id"], msg["status"]) == (
        event.pk,
        "job.delivered",
        str(job.id),
        "delivered",
    )
    assert msg["data"] == event.data


@pytest.mark.django_db
@pytest.mark.parametrize("slack_events", [[], ["created", "started", "completed"]])
@pytest.mark.parametrize("push_url", ["", "https://push.example.test/wake"])
def test_may_write_is_true_whenever_an_event_could_write_a_delivery(space, slack_events, push_url):
    conf = space.settings
    conf.slack_webhook_url = "https://hooks.slack.example.test/T/B/x" if slack_events else ""
    conf.slack_events = slack_events
    conf.push_url = push_url
    conf.save()
    space.refresh_from_db()
    plain = create_job(space, "work")
    called = create_job(space, "work", callback_url="https://cb.example.test/done")
    for kind, status in [
        ("job.created", "pending"),
        ("job.pending", "pending"),
        ("job.delivered", "delivered"),
        ("job.started", "running"),
        ("job.progress", "running"),
        ("job.completed", "completed"),
        ("job.failed", "running"),
        ("job.dead", "dead"),
        ("job.killed", "killed"),
    ]:
        writes = False
        for job in (plain, called):
            job.status = status
            event = JobEvent(
                job_id=job.pk, space_id=space.pk, type=kind, status=status, at=job.created_at
            )
            writes = writes or bool(outbox.rows_for([(job, event)]))
        if writes:
            assert outbox.may_write(space, kind), kind
        if kind in ("job.delivered", "job.progress"):
            assert not outbox.may_write(space, kind)
