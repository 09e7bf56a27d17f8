"""A space's overview: counts by status, throughput and latency charts, and its queues
with pause/resume for owners and admins. The page and each live partial are served here;
partials re-fetch on the space's events (see templates/jobs/overview.html).
"""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from emitrun.errors import error_response
from jobs import insights, queues
from jobs.models import Queue
from orgs.access import Access, org_view

TEMPLATE = "jobs/overview.html"


@require_GET
@org_view()
def overview(request: HttpRequest, access: Access) -> HttpResponse:
    window = request.GET.get("window", "hour")
    context = {
        **_summary(access),
        **_queues(access),
        "window": window if window in insights.WINDOWS else "hour",
        "api_base": request.build_absolute_uri("/api/v1"),
    }
    return render(request, TEMPLATE, context)


@require_GET
@org_view()
def overview_counts(request: HttpRequest, access: Access) -> HttpResponse:
    context = {**_summary(access), "api_base": request.build_absolute_uri("/api/v1")}
    return render(request, f"{TEMPLATE}#summary", context)


@require_GET
@org_view()
def overview_queues(request: HttpRequest, access: Access) -> HttpResponse:
    return render(request, f"{TEMPLATE}#queues", _queues(access))


@require_GET
@org_view()
def overview_charts(request: HttpRequest, access: Access) -> JsonResponse:
    """Chart data as JSON (insights.Series) for ?window=hour|day."""
    window = request.GET.get("window", "hour")
    if window not in insights.WINDOWS:
        allowed = ", ".join(insights.WINDOWS)
        return error_response(
            "VALIDATION_ERROR",
            f"window must be one of: {allowed}",
            400,
            {"window": [f"Unknown window {window!r}"]},
        )
    return JsonResponse(insights.recent_series(access.space, window))


@require_POST
@org_view(manage=True)
def queue_pause(request: HttpRequest, access: Access, name: str) -> HttpResponse:
    queue = _queue(access, name)
    reason = request.POST.get("reason", "").strip()[:500]
    queues.pause(access.space, queue.name, reason=reason, actor=request.user)
    return _after_queue_change(request, access, f"Queue {queue.name} paused.")


@require_POST
@org_view(manage=True)
def queue_resume(request: HttpRequest, access: Access, name: str) -> HttpResponse:
    queue = _queue(access, name)
    queues.resume(access.space, queue.name, actor=request.user)
    return _after_queue_change(request, access, f"Queue {queue.name} resumed.")


def _queue(access: Access, name: str) -> Queue:
    """An existing queue of the space: the dashboard never makes queues by URL."""
    queue = Queue.objects.filter(space=access.space, name=name).first()
    if queue is None:
        raise Http404("No such queue")
    return queue


def _after_queue_change(request: HttpRequest, access: Access, note: str) -> HttpResponse:
    if request.htmx:
        return render(request, f"{TEMPLATE}#queues", _queues(access))
    messages.success(request, note)
    return redirect("jobs:overview", access.org.slug, access.space.slug)


def _summary(access: Access) -> dict[str, object]:
    counts = insights.counts(access.space)
    return {
        "access": access,
        "tab": "overview",
        "counts": list(counts.items()),
        "total": sum(counts.values()),
    }


def _queues(access: Access) -> dict[str, object]:
    return {"access": access, "tab": "overview", "queues": insights.queue_rows(access.space)}
