"""The outbox's safety net: finds due rows whose kick was lost, rescues rows of crashed
senders, and prunes old rows. Runs on beat; safe with two beats or workers at once.
"""

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from notifications.models import Delivery, DeliveryStatus

log = logging.getLogger(__name__)

# A dispatched row is not dispatched again for this long: the message is on its way.
REDISPATCH_SECONDS = 60


def due_ids(*, now: datetime, batch: int = 200) -> list[str]:
    """Claims up to `batch` due pending rows for sending and returns their ids.

    Walks the partial index delivery_due_idx; SKIP LOCKED lets two dispatchers split the
    rows, and pushing next_attempt_at forward keeps the next run from queueing them again
    while their message waits. A message that is lost makes them due again later.
    """
    with transaction.atomic():
        ids = list(
            Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:batch]
        )
        Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.PENDING).update(
            next_attempt_at=now + timedelta(seconds=REDISPATCH_SECONDS)
        )
    return [str(pk) for pk in ids]


def rescue_stuck(*, now: datetime) -> int:
    """sending -> pending for rows claimed long ago: their sender crashed mid-send."""
    cutoff = now - timedelta(seconds=settings.EMITRUN_DELIVERY_STUCK_SECONDS)
    return Delivery.objects.filter(status=DeliveryStatus.SENDING, updated_at__lt=cutoff).update(
        status=DeliveryStatus.PENDING, next_attempt_at=now, updated_at=now
    )


def dispatch(queue: Callable[[Iterable[str]], None], *, now: datetime | None = None) -> dict:
    """One dispatcher run: rescue stuck rows, then hand due ones to `queue`."""
    now = now or timezone.now()
    rescued = rescue_stuck(now=now)
    ids = due_ids(now=now)
    if ids:
        queue(ids)
    return {"rescued": rescued, "queued": len(ids)}


def prune(*, now: datetime | None = None, batch: int = 1000) -> int:
    """Deletes one batch of sent and failed rows older than the delivery retention."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.EMITRUN_DELIVERY_RETENTION_DAYS)
    ids = list(
        Delivery.objects.filter(
            status__in=[DeliveryStatus.SENT, DeliveryStatus.FAILED], updated_at__lt=cutoff
        ).values_list("pk", flat=True)[:batch]
    )
    if not ids:
        return 0
    deleted, _ = Delivery.objects.filter(pk__in=ids).delete()
    return deleted
