"""Queues: made when a job names them; pausing one stops it handing out jobs.

A queue's state is not a job's state, so this lives beside the lifecycle, not in it.
"""

from django.db import transaction
from django.utils import timezone

from jobs.lifecycle.create import ensure_queues
from jobs.models import Queue
from spaces.models import Space


@transaction.atomic
def pause(space: Space, name: str, *, reason: str = "") -> Queue:
    """Pauses the queue (made if new). Jobs stay pending; polls and claims skip them."""
    ensure_queues(space, {name})
    queue = Queue.objects.select_for_update().get(space=space, name=name)
    if not queue.paused:
        now = timezone.now()
        Queue.objects.filter(pk=queue.pk).update(
            paused=True, paused_at=now, pause_reason=reason, updated_at=now
        )
        queue.refresh_from_db()
    return queue


@transaction.atomic
def resume(space: Space, name: str) -> tuple[Queue, int]:
    """Resumes the queue; returns it and how many seconds it was paused."""
    ensure_queues(space, {name})
    queue = Queue.objects.select_for_update().get(space=space, name=name)
    paused_for = 0
    if queue.paused:
        now = timezone.now()
        paused_for = int((now - queue.paused_at).total_seconds()) if queue.paused_at else 0
        Queue.objects.filter(pk=queue.pk).update(
            paused=False, paused_at=None, pause_reason="", updated_at=now
        )
        queue.refresh_from_db()
    return queue, paused_for
