import hashlib
import hmac
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import lifecycle
from jobs.models import Job, JobEvent
from notifications import dispatch, senders, tasks
from notifications.models import Delivery, DeliveryStatus
from notifications.tasks import deliver_task
from tests import receivers
from tests.conftest import SYSTEM, create_job

pytestmark = pytest.mark.django_db
receiver = receivers.receiver  # the fixture, shared with other files


@pytest.fixture(autouse=True)
def _local_receivers(settings):
    settings.EMITRUN_ALLOW_PRIVATE_WEBHOOKS = True


def finish(space, job: Job, *, fail: str | None = None) -> Job:
    (delivered,) = lifecycle.poll(space, limit=1, names=[job.name], actor=SYSTEM)
    running = lifecycle.ack(delivered, actor=SYSTEM)
    if fail:
        return lifecycle.fail(running, error=fail, actor=SYSTEM)
    return lifecycle.complete(running, result={"ok": True}, actor=SYSTEM)


def deliver_all(job: Job, kind: str) -> list[str]:
    rows = Delivery.objects.filter(job=job, kind=kind).order_by("created_at", "event")
    return [deliver_task(str(row.id)) for row in rows]


def make_due(row: Delivery) -> None:
    Delivery.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())


def verify(secret: str, received) -> bool:
    parts = dict(p.split("=", 1) for p in received.headers["X-Emitrun-Signature"].split(","))
    signed = f"{parts['t']}.".encode() + received.raw
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


def test_callback_is_retried_until_2xx_with_one_id_and_a_signature(space, receiver):
    rx = receiver([500, 500, 200])
    job = create_job(
        space, callback_url=rx.url, callback_secret="s3cret", callback_headers={"X-Auth": "a"}
    )
    finish(space, job)
    (row,) = Delivery.objects.filter(job=job, kind="callback")
    outcomes = []
    for _ in range(3):
        outcomes.append(deliver_task(str(row.id)))
        row.refresh_from_db()
        if row.status == "pending":
            assert row.next_attempt_at > timezone.now()  # backoff before the next try
    assert outcomes == ["retry", "retry", "sent"]
    assert len(rx.got) == 3
    assert len({r.raw for r in rx.got}) == 1
    assert {r.headers["X-Emitrun-Delivery"] for r in rx.got} == {str(row.id)}
    assert all(verify("s3cret", r) and r.headers["X-Auth"] == "a" for r in rx.got)
    assert rx.got[0].json["job_id"] == str(job.id)
    assert rx.got[0].json["status"] == "completed"
    assert (row.status, row.attempts, row.last_status_code) == ("sent", 3, 200)
    assert row.last_latency_ms is not None
    events = JobEvent.objects.filter(job=job, type__startswith="job.callback").order_by("id")
    assert [(e.type, e.data["status_code"], e.status) for e in events] == [
        ("job.callback_failed", 500, "completed"),
        ("job.callback_failed", 500, "completed"),
        ("job.callback_sent", 200, "completed"),
    ]
    job.refresh_from_db()
    assert job.status == "completed"


def test_a_second_message_for_a_sent_row_is_skipped(space, receiver):
    rx = receiver([200])
    job = create_job(space, callback_url=rx.url)
    finish(space, job)
    (row,) = Delivery.objects.filter(job=job, kind="callback")
    assert [deliver_task(str(row.id)), deliver_task(str(row.id))] == ["sent", "skipped"]
    assert len(rx.got) == 1


def test_space_secret_signs_callbacks_of_jobs_without_their_own(space, receiver):
    rx = receiver([200])
    space.settings.callback_secret = "space-secret"
    space.settings.save()
    job = create_job(space, callback_url=rx.url)
    finish(space, job, fail="broken")  # max_retries 3: not terminal yet, no callback
    assert not Delivery.objects.filter(job=job, kind="callback").exists()
    lifecycle.kill(job, actor=SYSTEM)
    assert deliver_all(job, "callback") == ["sent"]
    assert verify("space-secret", rx.got[0])
    assert (rx.got[0].json["status"], rx.got[0].json["error"]) == ("killed", "broken")


def test_unsigned_without_any_secret(space, receiver):
    rx = receiver([200])
    job = create_job(space, callback_url=rx.url)
    finish(space, job)
    deliver_all(job, "callback")
    assert "X-Emitrun-Signature" not in rx.got[0].headers


def test_gives_up_after_max_attempts(space, receiver):
    rx = receiver([503])
    job = create_job(space, callback_url=rx.url)
    finish(space, job)
    (row,) = Delivery.objects.filter(job=job, kind="callback")
    Delivery.objects.filter(pk=row.pk).update(max_attempts=2)
    assert deliver_task(str(row.id)) == "retry"
    assert deliver_task(str(row.id)) == "failed"
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("failed", 2, "HTTP 503")


def test_silent_receiver_times_out_and_others_still_go(space, receiver, settings):
    settings.EMITRUN_DELIVERY_TIMEOUT_SECONDS = 0.5
    silent, fine = receiver([200], sleep=5), receiver([200])
    slow_job = create_job(space, "slow", callback_url=silent.url)
    fast_job = create_job(space, "fast", callback_url=fine.url)
    finish(space, slow_job)
    finish(space, fast_job)
    started = time.monotonic()
    assert deliver_all(slow_job, "callback") == ["retry"]
    assert time.monotonic() - started < 2
    assert deliver_all(fast_job, "callback") == ["sent"]
    row = Delivery.objects.get(job=slow_job, kind="callback")
    assert "Timeout" in row.last_error
    assert row.last_status_code is None


def test_private_address_refused_at_send_time(space, receiver, settings):
    rx = receiver([200])
    job = create_job(space, callback_url=rx.url)
    finish(space, job)
    settings.EMITRUN_ALLOW_PRIVATE_WEBHOOKS = False  # as if DNS now pointed inside
    assert deliver_all(job, "callback") == ["retry"]
    row = Delivery.objects.get(job=job, kind="callback")
    assert row.last_error.startswith("refused:")
    assert row.attempts == 1
    assert rx.got == []
    assert JobEvent.objects.filter(job=job, type="job.callback_failed").count() == 1


def test_slack_gets_the_chosen_events_and_a_dead_job_sends_failed_and_dead(space, receiver):
    rx = receiver([200])
    conf = space.settings
    conf.slack_webhook_url, conf.slack_events = rx.url, ["failed", "dead"]
    conf.save()
    job = create_job(space, "report", max_retries=0)
    finish(space, job, fail="disk full")
    assert deliver_all(job, "slack") == ["sent", "sent"]
    texts = [r.json["text"] for r in rx.got]
    assert [("failed" in t, "dead" in t) for t in texts] == [(True, False), (False, True)]
    assert all(str(job.id) in t and "disk full" in t and "report" in t for t in texts)


def test_slack_with_an_empty_url_sends_nothing(space):
    space.settings.slack_events = ["created"]
    space.settings.save()
    job = create_job(space)
    assert not Delivery.objects.filter(job=job, kind="slack").exists()


def test_push_honours_names_and_the_receiver_claims_that_job(space, receiver, make_client):
    rx = receiver([200])
    conf = space.settings
    conf.push_url, conf.push_names, conf.push_headers = rx.url, ["email"], {"X-Key": "k"}
    conf.save()
    create_job(space, "report")
    email = create_job(space, "email")
    assert Delivery.objects.filter(kind="push").count() == 1
    assert deliver_all(email, "push") == ["sent"]
    (push,) = rx.got
    assert push.headers["X-Key"] == "k"
    assert push.json == {
        "event": "job.pending",
        "jobId": str(email.id),
        "job_id": str(email.id),
        "name": "email",
        "space_id": str(space.id),
    }
    worker = make_client("jobs:worker")
    r = worker.post(f"/api/v1/jobs/{push.json['jobId']}/claim", {"worker_id": "w-push"})
    assert r.status_code == 200, r.content
    email.refresh_from_db()
    assert email.status in ("delivered", "running")
    assert email.worker_id == "w-push"


def test_push_failures_never_touch_the_job(space, receiver):
    rx = receiver([500])
    space.settings.push_url = rx.url
    space.settings.save()
    job = create_job(space)
    assert deliver_all(job, "push") == ["retry"]
    job.refresh_from_db()
    assert job.status == "pending"
    assert not JobEvent.objects.filter(job=job).exclude(type="job.created").exists()


def test_new_rows_are_queued_after_commit_only(space, django_capture_on_commit_callbacks):
    job = create_job(space, callback_url="https://cb.example.test/")
    (delivered,) = lifecycle.poll(space, limit=1, actor=SYSTEM)
    running = lifecycle.ack(delivered, actor=SYSTEM)
    with django_capture_on_commit_callbacks() as callbacks:
        lifecycle.complete(running, result=None, actor=SYSTEM)
    (row,) = Delivery.objects.filter(job=job)
    kicks = [cb.args for cb in callbacks if getattr(cb, "func", None) is tasks.queue]
    assert kicks == [([str(row.id)],)]


def test_named_hosts_are_called_at_the_checked_address_with_their_host_header(space, receiver):
    rx = receiver([200])
    url = rx.url.replace("127.0.0.1", "localhost")
    job = create_job(space, callback_url=url)
    finish(space, job)
    assert deliver_all(job, "callback") == ["sent"]
    assert rx.got[0].headers["Host"] == url.split("/")[2]


def test_an_attempt_finishing_after_its_row_was_rescued_records_nothing(space):
    job = create_job(space, callback_url="https://cb.example.test/done")
    (delivered,) = lifecycle.poll(space, limit=1, actor=SYSTEM)
    lifecycle.complete(lifecycle.ack(delivered, actor=SYSTEM), result=None, actor=SYSTEM)
    row = Delivery.objects.get(job=job)
    assert senders.claim(str(row.id))
    later = timezone.now() + timedelta(hours=1)
    assert dispatch.rescue_stuck(now=later) == 1
    outcome = senders.finish(row, senders.Attempt(True, 200, "", 5))
    assert outcome == "skipped"
    assert Delivery.objects.get(pk=row.pk).status == DeliveryStatus.PENDING
    assert not JobEvent.objects.filter(job=job, type__startswith="job.callback").exists()
