"""The job page: everything about one job, kept live, with kill / retry / cancel.

The live part (`#job-live`) re-fetches itself when the space's stream carries an event
of this job (or on the polling fallback); actions answer that same partial.
"""

import json
import uuid
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from emitrun.errors import Conflict, NotFound
from jobs import lifecycle, queries
from jobs.models import TERMINAL, Job, Status
from orgs.access import Access, org_view

TIMELINE_SIZE = 100


@require_GET
@org_view()
def job_detail(request: HttpRequest, access: Access, job_id: uuid.UUID) -> HttpResponse:
    job = _job(access, job_id)
    if request.htmx:
        return _live(request, access, job)
    context = _context(access, job)
    context["payload_json"] = _pretty(job.payload)
    context["tags_json"] = _pretty(job.tags) if isinstance(job.tags, dict) else None
    return render(request, "jobs/detail.html", context)


@require_POST
@org_view()
def job_kill(request: HttpRequest, access: Access, job_id: uuid.UUID) -> HttpResponse:
    return _operate(request, access, job_id, lifecycle.kill, "Job killed.")


@require_POST
@org_view()
def job_retry(request: HttpRequest, access: Access, job_id: uuid.UUID) -> HttpResponse:
    return _operate(request, access, job_id, lifecycle.retry, "Job queued again.")


@require_POST
@org_view()
def job_cancel(request: HttpRequest, access: Access, job_id: uuid.UUID) -> HttpResponse:
    return _operate(request, access, job_id, lifecycle.cancel, "Job cancelled.")


def _operate(
    request: HttpRequest,
    access: Access,
    job_id: uuid.UUID,
    operation: Callable[..., Job],
    done: str,
) -> HttpResponse:
    """Runs a lifecycle operator function as the signed-in user. HTMX gets the live
    partial (409 with the reason when the state no longer allows it); a plain form
    post is redirected back to the page with a message."""
    job = _job(access, job_id)
    error, status = "", 200
    try:
        job = operation(job, actor=lifecycle.Actor.user(request.user))
    except Conflict as conflict:
        job, error, status = _job(access, job_id), conflict.message, 409
    except Job.DoesNotExist:  # purged meanwhile
        raise Http404("No such job") from None
    if request.htmx:
        return _live(request, access, job, notice=error or done, status=status)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, done)
    return HttpResponseRedirect(
        reverse("jobs:detail", args=[access.org.slug, access.space.slug, job.pk])
    )


def _job(access: Access, job_id: uuid.UUID) -> Job:
    try:
        return queries.get_job_for_space(access.space, job_id)
    except NotFound:
        raise Http404("No such job") from None


def _live(
    request: HttpRequest, access: Access, job: Job, *, notice: str = "", status: int = 200
) -> HttpResponse:
    context = _context(access, job)
    context.update(notice=notice, notice_is_error=status >= 400)
    return render(request, "jobs/detail.html#live", context, status=status)


def _context(access: Access, job: Job) -> dict[str, Any]:
    events, event_total = queries.recent_events_of(job, limit=TIMELINE_SIZE)
    for event in events:
        event.data_text = "" if event.data is None else json.dumps(event.data, ensure_ascii=False)
    return {
        "access": access,
        "tab": "jobs",
        "job": job,
        "events": events,
        "event_total": event_total,
        "deliveries": queries.callback_deliveries_of(job),
        "result_json": _pretty(job.result),
        "checkpoint_json": _pretty(job.checkpoint),
        "progress": round(job.progress_percent or 0),
        "sub_progress": _sub_progress(job),
        "can_kill": job.status not in TERMINAL,
        "can_retry": job.status in (Status.DEAD, Status.KILLED, Status.CANCELLED),
        "can_cancel": job.status in (Status.SCHEDULED, Status.PENDING),
    }


def _pretty(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def _sub_progress(job: Job) -> list[tuple[str, float]]:
    """The worker's per-stage percentages, when it sent a map of them."""
    if not isinstance(job.sub_progress, dict):
        return []
    stages = []
    for stage, value in job.sub_progress.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            stages.append((str(stage), max(0.0, min(100.0, float(value)))))
    return stages
