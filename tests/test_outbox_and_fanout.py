import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from emitrun import realtime
from jobs import lifecycle
from notifications.models import Delivery
from tests.conftest import SYSTEM, create_job


@pytest.fixture
def notify_settings(space):
    conf = space.settings
    conf.slack_webhook_url = "https://hooks.slack.test/T/B/X"
    conf.slack_events = ["created", "failed", "dead"]
    conf.push_url = "https://push.example.test/wake"
    conf.push_headers = {"X-Key": "k"}
    conf.push_names = ["email"]
    conf.save()
    return conf


def test_callback_row_written_with_the_terminal_transition(space):
    job = create_job(
        space,
        callback_url="https://cb.example.test/done",
        callback_headers={"Authorization": "Bearer cb"},
    )
    (delivered,) = lifecycle.poll(space, limit=1, actor=SYSTEM)
    running = lifecycle.ack(delivered, actor=SYSTEM)
    assert not Delivery.objects.filter(job=job).exists()
    lifecycle.complete(running, result={"ok": True}, actor=SYSTEM)
    (row,) = Delivery.objects.filter(job=job, kind="callback")
    assert (row.event, row.url, row.headers) == (
        "completed",
        "https://cb.example.test/done",
        {"Authorization": "Bearer cb"},
    )
    assert row.body["job_id"] == row.body["jobId"] == str(job.id)
    assert (row.body["status"], row.body["result"], row.body["attempt_number"]) == (
        "completed",
        {"ok": True},
        1,
    )


def test_slack_and_push_rows_follow_the_space_settings(space, notify_settings):
    job = create_job(space, "email", max_retries=0)
    create_job(space, "report")
    assert sorted(Delivery.objects.filter(job=job).values_list("kind", "event")) == [
        ("push", "job.pending"),
        ("slack", "created"),
    ]
    (d,) = lifecycle.poll(space, limit=1, names=["email"], actor=SYSTEM)
    lifecycle.fail(lifecycle.ack(d, actor=SYSTEM), error="broken", actor=SYSTEM)
    slack = list(
        Delivery.objects.filter(job=job, kind="slack")
        .order_by("created_at")
        .values_list("event", flat=True)
    )
    assert slack == ["created", "failed", "dead"]
    push = Delivery.objects.get(job=job, kind="push")
    assert push.body == {
        "event": "job.pending",
        "jobId": str(job.id),
        "job_id": str(job.id),
        "name": "email",
        "space_id": str(space.id),
    }
    assert push.headers == {"X-Key": "k"}
    assert Delivery.objects.filter(kind="push").count() == 1  # "report" is filtered out


def test_a_rolled_back_transition_leaves_no_event_and_no_delivery(space, notify_settings):
    def create_then_abort() -> None:
        with transaction.atomic():
            create_job(space, "email")
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        create_then_abort()
    assert not Delivery.objects.exists()


def test_events_are_published_after_commit_to_space_and_job_groups(
    space, django_capture_on_commit_callbacks
):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(realtime.space_group(space.id), channel)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = create_job(space, "email")
    assert callbacks, "publishing waits for the commit"
    for callback in callbacks:
        callback()
    msg = async_to_sync(layer.receive)(channel)["message"]
    assert (msg["type"], msg["job_id"], msg["space_id"], msg["status"]) == (
        "job.created",
        str(job.id),
        str(space.id),
        "pending",
    )
    assert isinstance(msg["seq"], int)
    assert msg["at"].endswith("Z")
    async_to_sync(layer.group_discard)(realtime.space_group(space.id), channel)
