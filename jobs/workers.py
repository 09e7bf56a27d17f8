"""Worker registrations (Spooled workers API): who is polling which queue, and whether it
is still alive. Claiming never depends on them; they are for operators.
"""

import uuid

from django.db import transaction
from django.utils import timezone

from emitrun.errors import NotFound
from jobs.lifecycle.create import ensure_queues
from jobs.models import Worker
from spaces.models import Space

HEARTBEAT_INTERVAL_SECONDS = 10
LEASE_DURATION_SECONDS = 30


@transaction.atomic
def register(
    space: Space, *, queue_name: str, worker_id: str | None = None, **fields: object
) -> Worker:
    """Registers a worker, or refreshes the registration with the same worker_id; the
    queue it names exists from then on.
    """
    ensure_queues(space, {queue_name})
    now = timezone.now()
    values = {
        **fields,
        "queue_name": queue_name,
        "last_heartbeat_at": now,
        "deregistered_at": None,
        "status": "healthy",
        "current_jobs": 0,
        "heartbeat_interval_seconds": HEARTBEAT_INTERVAL_SECONDS,
    }
    worker, created = Worker.objects.select_for_update().get_or_create(
        space=space,
        worker_id=worker_id or str(uuid.uuid4()),
        defaults={**values, "registered_at": now},
    )
    if not created:
        Worker.objects.filter(pk=worker.pk).update(**values)
        worker.refresh_from_db()
    return worker


def get(space: Space, worker_id: str) -> Worker:
    worker = Worker.objects.filter(space=space, worker_id=worker_id).first()
    if worker is None:
        raise NotFound(f"No worker {worker_id}")
    return worker


def heartbeat(
    space: Space,
    worker_id: str,
    *,
    current_jobs: int,
    status: str | None = None,
    metadata: dict | None = None,
) -> Worker:
    """Records that the worker is alive, with its load and reported status."""
    worker = get(space, worker_id)
    changes: dict[str, object] = {
        "last_heartbeat_at": timezone.now(),
        "current_jobs": current_jobs,
        "deregistered_at": None,
    }
    if status is not None:
        changes["status"] = status
    if metadata is not None:
        changes["metadata"] = metadata
    Worker.objects.filter(pk=worker.pk).update(**changes)
    worker.refresh_from_db()
    return worker


def deregister(space: Space, worker_id: str) -> Worker:
    """Marks the worker gone (offline). Jobs it still holds come back after their lease."""
    worker = get(space, worker_id)
    Worker.objects.filter(pk=worker.pk).update(deregistered_at=timezone.now(), current_jobs=0)
    worker.refresh_from_db()
    return worker
