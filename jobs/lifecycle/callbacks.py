"""The job's record of its callback attempts: one event per attempt, status unchanged."""

from django.db import transaction
from django.utils import timezone

from jobs.lifecycle.core import Actor, record
from jobs.models import Job, JobEvent

CALLBACK_SENDER = Actor.system("callbacks")


@transaction.atomic
def record_callback(
    job_id: object,
    *,
    delivery_id: str,
    attempt: int,
    ok: bool,
    status_code: int | None,
    error: str,
    latency_ms: int | None,
    actor: Actor = CALLBACK_SENDER,
) -> JobEvent | None:
    """Appends `job.callback_sent` or `job.callback_failed` to the job's history.

    Leaves the job's status, lease and timestamps alone. Returns None when the job is
    gone (pruned or deleted while the callback was in flight).
    """
    job = Job.objects.select_related("space").filter(pk=job_id).first()
    if job is None:
        return None
    data = {
        "delivery_id": delivery_id,
        "attempt": attempt,
        "status_code": status_code,
        "error": error or None,
        "latency_ms": latency_ms,
    }
    type_ = "job.callback_sent" if ok else "job.callback_failed"
    return record(job, type_, actor=actor, data=data, now=timezone.now())
