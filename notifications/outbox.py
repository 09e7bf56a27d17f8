"""Turns job events into Delivery rows, in the job's own transaction.

Called only by jobs/lifecycle. Nothing here touches the network: after commit the
new rows are queued for sending (a "kick"); if that message is lost, the dispatcher
finds the rows anyway, so a crash never loses a notification and a rollback never
sends one.
"""

from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs.models import Job, JobEvent
from notifications.models import Delivery, Kind
from spaces.models import Space, SpaceSettings

CALLBACK_EVENTS = {"job.completed": "completed", "job.dead": "dead", "job.killed": "killed"}
SLACK_EVENTS = {
    "job.created": "created",
    "job.started": "started",
    "job.completed": "completed",
    "job.failed": "failed",
    "job.dead": "dead",
    "job.killed": "killed",
}


def enqueue_for(job: Job, event: JobEvent) -> list[Delivery]:
    """The deliveries `event` calls for (callback, Slack, push), created now."""
    rows = [row for row in (_callback(job, event), _slack(job, event), _push(job, event)) if row]
    if rows:
        Delivery.objects.bulk_create(rows)
        _kick_on_commit(rows)
    return rows


def enqueue_many(pairs: list[tuple[Job, JobEvent]]) -> list[Delivery]:
    """enqueue_for over a batch, in one INSERT."""
    rows = rows_for(pairs)
    if rows:
        Delivery.objects.bulk_create(rows)
        _kick_on_commit(rows)
    return rows


def rows_for(pairs: list[tuple[Job, JobEvent]]) -> list[Delivery]:
    """The deliveries these events call for (callbacks, Slack, push), not stored yet."""
    return [
        row
        for job, event in pairs
        for row in (_callback(job, event), _slack(job, event), _push(job, event))
        if row
    ]


def may_write(space: Space, event_type: str) -> bool:
    """Whether an event of this type could call for a delivery in this space, whatever the
    job: False lets a transition that records only such events skip the outbox (the claim
    stores a job's change and its event in one statement then).
    """
    if event_type in CALLBACK_EVENTS:
        return True
    slack, push = SLACK_EVENTS.get(event_type), event_type in ("job.pending", "job.created")
    if slack is None and not push:
        return False
    try:
        conf = space.settings
    except SpaceSettings.DoesNotExist:
        return False
    return bool(
        (slack and conf.slack_webhook_url and slack in (conf.slack_events or []))
        or (push and conf.push_url)
    )


def _kick_on_commit(rows: list[Delivery]) -> None:
    """Queues the rows' sends once the job's transaction commits (never before: a
    rolled-back transition must send nothing)."""
    from notifications import tasks  # the Celery side imports the lifecycle, which imports us

    transaction.on_commit(partial(tasks.queue, [str(row.id) for row in rows]))


def _space_settings(job: Job) -> SpaceSettings | None:
    try:
        return job.space.settings
    except SpaceSettings.DoesNotExist:
        return None


def _row(
    job: Job,
    event: JobEvent,
    kind: str,
    name: str,
    url: str,
    body: dict,
    headers: dict | None = None,
) -> Delivery:
    return Delivery(
        space_id=job.space_id,
        job=job,
        event_seq=event.pk,
        kind=kind,
        event=name,
        url=url,
        headers=headers or {},
        body=body,
        next_attempt_at=timezone.now(),
    )


def _callback(job: Job, event: JobEvent) -> Delivery | None:
    status = CALLBACK_EVENTS.get(event.type)
    if status is None or not job.callback_url:
        return None
    body = {
        "job_id": str(job.id),
        "jobId": str(job.id),
        "space_id": str(job.space_id),
        "spaceId": str(job.space_id),
        "name": job.name,
        "status": status,
        "attempt_number": job.attempts,
        "attemptNumber": job.attempts,
        "result": job.result if status == "completed" else None,
        "error": (job.last_error or None) if status != "completed" else None,
        "timestamp": event.at.isoformat().replace("+00:00", "Z"),
    }
    return _row(
        job, event, Kind.CALLBACK, status, job.callback_url, body, job.callback_headers or {}
    )


def _slack(job: Job, event: JobEvent) -> Delivery | None:
    name = SLACK_EVENTS.get(event.type)
    conf = _space_settings(job)
    if name is None or conf is None or not conf.slack_webhook_url:
        return None
    if name not in (conf.slack_events or []):
        return None
    return _row(job, event, Kind.SLACK, name, conf.slack_webhook_url, slack_message(job, name))


def slack_message(job: Job, name: str) -> dict:
    """A Slack Incoming Webhook body: one readable line and a link to the job."""
    link = f"{settings.EMITRUN_PUBLIC_URL}/spaces/{job.space_id}/jobs/{job.id}"
    text = f"*{job.name}* `{job.id}` {name} (attempt {job.attempts})"
    if name in ("failed", "dead", "killed") and job.last_error:
        text += f"\n> {job.last_error[:500]}"
    return {"text": f"{text}\n<{link}|Open in emitrun>"}


def _push(job: Job, event: JobEvent) -> Delivery | None:
    """Wakes workers on every job.pending, a job created pending included."""
    if event.status != "pending" or event.type not in ("job.pending", "job.created"):
        return None
    conf = _space_settings(job)
    if conf is None or not conf.push_url:
        return None
    if conf.push_names and job.name not in conf.push_names:
        return None
    body = {
        "event": "job.pending",
        "jobId": str(job.id),
        "job_id": str(job.id),
        "name": job.name,
        "space_id": str(job.space_id),
    }
    return _row(job, event, Kind.PUSH, "job.pending", conf.push_url, body, conf.push_headers)
