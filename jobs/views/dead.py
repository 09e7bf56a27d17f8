"""The dead-letter view: dead jobs grouped by name and last error; retry one job or a
whole group, purge a group. Members may retry (as on the jobs table); purging deletes
jobs and their history, so only owners and admins may.
"""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from jobs import lifecycle, queries
from jobs.forms import DeadPurgeForm, DeadRetryForm
from jobs.lifecycle.bulk import MAX_PER_CLICK
from orgs.access import Access, org_view

RECENT_SIZE = 50


@require_GET
@org_view()
def dead_letters(request: HttpRequest, access: Access) -> HttpResponse:
    """Groups, and the latest dead jobs (of one group when `name` is given, with
    `error` matching the group's last error exactly)."""
    name = request.GET.get("name") or None
    error = request.GET.get("error") if name is not None else None
    return _page(request, access, name=name, error=error)


def _page(
    request: HttpRequest,
    access: Access,
    *,
    name: str | None = None,
    error: str | None = None,
    problem: str = "",
) -> HttpResponse:
    context = {
        "access": access,
        "tab": "dead",
        "groups": queries.dead_groups(access.space),
        "jobs": queries.dead_jobs(access.space, name=name, last_error=error, limit=RECENT_SIZE),
        "group_name": name,
        "group_error": error,
        "problem": problem,
    }
    template = "jobs/dead.html#dead" if request.htmx else "jobs/dead.html"
    return render(request, template, context, status=400 if problem else 200)


@require_POST
@org_view()
def dead_retry(request: HttpRequest, access: Access) -> HttpResponse:
    """Back to pending: one dead job (job_id) or a group's dead jobs (at most
    MAX_PER_CLICK per click), through lifecycle.retry_dead."""
    form = DeadRetryForm(request.POST)
    if not form.is_valid():
        return _page(request, access, problem=_first_error(form))
    data = form.cleaned_data
    if data["job_id"]:
        ids = [str(data["job_id"])]
    else:
        ids = queries.dead_ids_of_group(
            access.space, name=data["name"], last_error=data["last_error"], limit=MAX_PER_CLICK
        )
    retried, skipped = lifecycle.retry_dead(
        access.space,
        actor=lifecycle.Actor.user(request.user),
        job_ids=ids,
        limit=MAX_PER_CLICK,
    )
    text = f"Retried {len(retried)} dead jobs."
    if skipped:
        text += f" {len(skipped)} were no longer dead."
    if len(ids) == MAX_PER_CLICK:
        text += f" At most {MAX_PER_CLICK:,} per click: retry the group again for the rest."
    return _back(request, access, success=text)


@require_POST
@org_view(manage=True)
def dead_purge(request: HttpRequest, access: Access) -> HttpResponse:
    """Deletes a group's dead jobs (at most MAX_PER_CLICK per click); owners and admins."""
    form = DeadPurgeForm(request.POST)
    if not form.is_valid():
        return _page(request, access, problem=_first_error(form))
    data = form.cleaned_data
    ids = queries.dead_ids_of_group(
        access.space, name=data["name"], last_error=data["last_error"], limit=MAX_PER_CLICK
    )
    purged = lifecycle.purge_dead(
        access.space,
        actor=lifecycle.Actor.user(request.user),
        queue_name=data["name"],
        job_ids=ids,
        limit=MAX_PER_CLICK,
    )
    return _back(request, access, success=f"Purged {purged} dead jobs of {data['name']}.")


def _first_error(form: DeadRetryForm | DeadPurgeForm) -> str:
    return next(iter(form.errors.values()))[0]


def _back(request: HttpRequest, access: Access, *, success: str) -> HttpResponse:
    messages.success(request, success)
    return HttpResponseRedirect(reverse("jobs:dead", args=[access.org.slug, access.space.slug]))
