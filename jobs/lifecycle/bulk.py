"""Operator actions over many jobs at once (the dashboard's bulk buttons).

Each job goes through the same operator function as a single click (kill, retry,
cancel), in its own transaction: one job that moved meanwhile is skipped without
undoing the others, and no lock is held across the whole batch.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from emitrun.errors import Conflict
from jobs.lifecycle.core import Actor
from jobs.lifecycle.operator import cancel, kill, retry
from jobs.models import Job
from spaces import audit
from spaces.models import Space

BulkAction = Literal["retry", "kill", "cancel"]
MAX_PER_CLICK = 1000

_OPERATIONS: dict[str, Callable[..., Job]] = {"retry": retry, "kill": kill, "cancel": cancel}


@dataclass
class BulkOutcome:
    action: BulkAction
    done: list[str] = field(default_factory=list)  # ids moved
    skipped: list[str] = field(default_factory=list)  # ids whose state did not allow it


def apply(
    space: Space,
    action: BulkAction,
    jobs: Iterable[Job],
    *,
    actor: Actor,
    scope: str = "selected",
) -> BulkOutcome:
    """Applies `action` to each job (of `space`; callers pass its jobs only).

    Jobs whose state forbids the action (InvalidState and the other 409s) are skipped
    and reported. Each job leaves its own event and audit entry; one more audit entry
    sums the batch up. Raises ValueError for an unknown action or more than
    MAX_PER_CLICK jobs.
    """
    operation = _OPERATIONS.get(action)
    if operation is None:
        raise ValueError(f"Unknown bulk action {action!r}")
    batch = list(jobs)
    if len(batch) > MAX_PER_CLICK:
        raise ValueError(f"At most {MAX_PER_CLICK} jobs per bulk action")
    outcome = BulkOutcome(action)
    for job in batch:
        job.space = space
        try:
            operation(job, actor=actor)
        except (Conflict, Job.DoesNotExist):  # moved or purged since it was listed
            outcome.skipped.append(str(job.pk))
        else:
            outcome.done.append(str(job.pk))
    if batch:
        _audit(space, outcome, actor=actor, scope=scope)
    return outcome


def _audit(space: Space, outcome: BulkOutcome, *, actor: Actor, scope: str) -> None:
    audit.record(
        actor,
        f"job.bulk_{outcome.action}",
        space=space,
        target=scope,
        details={"done": len(outcome.done), "skipped": len(outcome.skipped)},
    )
