"""The "Send test" button of the settings page: one real delivery to a space's saved Slack or push
URL, made now, through the same sender as every other notification.

The row is recorded like any delivery (it shows in the space's delivery history) but is
created already claimed (`sending`) with a single attempt: the dispatcher never sends
it a second time, and a failed test is not retried behind the user's back.
"""

from django.utils import timezone

from notifications import senders
from notifications.models import Delivery, DeliveryStatus, Kind
from spaces.models import Space, SpaceSettings

TEST_EVENT = "test"


class NothingToTest(ValueError):
    """The space has no URL saved for that kind of notification."""


def send_test(space: Space, *, kind: str, sent_by: str) -> Delivery:
    """POSTs a test message to the space's saved `kind` ("slack" or "push") URL and returns
    the recorded delivery (status `sent` or `failed`, with the answer or the error).

    Unsafe URLs are refused by the sender's own check, recorded as a failed attempt.
    Raises NothingToTest when no URL is saved. Blocks for at most the delivery timeout.
    """
    conf = SpaceSettings.objects.filter(space=space).first() or SpaceSettings(space=space)
    if kind == Kind.SLACK:
        url, headers, body = conf.slack_webhook_url, {}, _slack_body(space, sent_by)
        missing = "Save a Slack webhook URL first."
    elif kind == Kind.PUSH:
        url, headers, body = conf.push_url, conf.push_headers or {}, _push_body(space, sent_by)
        missing = "Save a push URL first."
    else:
        raise ValueError(f"no test for {kind!r} deliveries")
    if not url:
        raise NothingToTest(missing)
    now = timezone.now()
    row = Delivery.objects.create(
        space=space,
        kind=kind,
        event=TEST_EVENT,
        url=url,
        headers=headers,
        body=body,
        status=DeliveryStatus.SENDING,
        max_attempts=1,
        next_attempt_at=now,
        updated_at=now,
    )
    senders.finish(row, senders.send(row))
    row.refresh_from_db()
    return row


def _slack_body(space: Space, sent_by: str) -> dict:
    return {
        "text": f"Test message from emitrun space *{space.name}* "
        f"(`{space.organization.slug}/{space.slug}`), sent by {sent_by}. "
        "Job notifications for this space will arrive here."
    }


def _push_body(space: Space, sent_by: str) -> dict:
    return {
        "event": TEST_EVENT,
        "space_id": str(space.pk),
        "message": f"Test push from emitrun space {space.name}, sent by {sent_by}",
    }
