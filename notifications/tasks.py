"""Celery interfaces of the outbox: one line each over notifications.senders / dispatch."""

import logging
from collections.abc import Iterable

from celery import shared_task

from notifications import dispatch, senders

log = logging.getLogger(__name__)


@shared_task(name="notifications.tasks.deliver_task")
def deliver_task(delivery_id: str) -> str:
    return senders.deliver(delivery_id)


@shared_task(name="notifications.tasks.dispatch_task")
def dispatch_task() -> dict:
    return dispatch.dispatch(queue)


@shared_task(name="notifications.tasks.prune_deliveries_task")
def prune_deliveries_task() -> int:
    return dispatch.prune()


def queue(delivery_ids: Iterable[str]) -> None:
    """Queues deliver_task for each id; best-effort: with the broker down it logs and
    leaves the rows to the dispatcher, so a request or a lifecycle commit never fails.
    """
    ids = list(delivery_ids)
    try:
        for delivery_id in ids:
            deliver_task.apply_async((delivery_id,), retry=False)
    except Exception:  # any broker failure: the outbox row stays pending
        log.warning("could not queue %d deliveries; the dispatcher will", len(ids), exc_info=True)
