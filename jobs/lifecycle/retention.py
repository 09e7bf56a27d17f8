"""Retention: finished jobs older than their space's retention_days are deleted.

Deleting a job deletes its events, tags and deliveries with it (ON DELETE CASCADE in
Django's collector). Batches keep each transaction short; only terminal jobs with a
finished_at are candidates, which is the partial index job_finished_idx.
"""

from datetime import datetime, timedelta
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from jobs.models import TERMINAL, Job
from spaces.models import Space


def prune_finished(*, now: datetime | None = None, batch: int = 500, max_batches: int = 20) -> int:
    """Deletes up to batch * max_batches finished jobs past retention in each space, oldest
    first; returns how many.

    Safe to run twice at once: the batches are locked with SKIP LOCKED, so two pruners
    split the work, and a job still being changed is never a candidate (not terminal).
    """
    now = now or timezone.now()
    deleted = 0
    for space_id, days in Space.objects.order_by().values_list("id", "retention_days"):
        cutoff = now - timedelta(days=days)
        for _ in range(max_batches):
            count = _prune_batch(space_id, cutoff, batch)
            deleted += count
            if count < batch:
                break
    return deleted


@transaction.atomic
def _prune_batch(space_id: UUID, cutoff: datetime, batch: int) -> int:
    # Read in the order of job_finished_idx (space, finished_at): a prepared statement's
    # generic plan, which cannot know how old `cutoff` is, keeps that index scan too.
    ids = list(
        Job.objects.filter(
            space_id=space_id,
            status__in=TERMINAL,
            finished_at__isnull=False,
            finished_at__lt=cutoff,
        )
        .order_by("finished_at")
        .select_for_update(skip_locked=True, of=("self",))
        .values_list("pk", flat=True)[:batch]
    )
    if ids:
        Job.objects.filter(pk__in=ids, status__in=TERMINAL).delete()
    return len(ids)
