"""The jobs table: filters in the query string, keyset pages, live refresh, bulk actions.

Members operate jobs (retry, kill, cancel) like owners and admins: operating the queue
is their daily work. Destroying data (purging dead letters) is for managers only.
"""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from emitrun.errors import ValidationFailed
from jobs import lifecycle, queries
from jobs.forms import SORT_LABELS, BulkActionForm, JobListForm
from jobs.lifecycle.bulk import MAX_PER_CLICK
from jobs.models import Queue, Status
from orgs.access import Access, org_view

PAGE_SIZE = 50
COUNT_CAP = 1000
# A search matching few of a million jobs reads them all (payload text has no index).
LIST_TIME_LIMIT_MS = 5000
TOO_SLOW = (
    "This search took too long over the space's jobs. Narrow it with a status, a name "
    "or a time range, or search for a longer id prefix."
)
FILTER_FIELDS = ("status", "name", "tag", "q", "created_after", "created_before")


@require_GET
@org_view()
def job_list(request: HttpRequest, access: Access) -> HttpResponse:
    """The table page; an HTMX request gets the results partial only (filter changes,
    page links and live refreshes all swap `#job-results`)."""
    return _page(request, access, request.GET)


def _page(
    request: HttpRequest, access: Access, params: QueryDict, *, problem: str = ""
) -> HttpResponse:
    form = JobListForm(params)
    context = {"access": access, "tab": "jobs", "form": form, "sorts": SORT_LABELS}
    context.update(
        problem=problem,
        filter_query=params.urlencode(),
        list_path=_list_url(access, ""),
        results_url=_list_url(access, params.urlencode()),
        base_query=_base(params),
    )
    status = 400 if problem else 200
    if form.is_valid():
        try:
            with queries.time_limit(LIST_TIME_LIMIT_MS):
                context.update(_results(access, form))
        except ValidationFailed as error:  # a cursor that is not ours, or of another sort
            form.add_error(None, f"{error.message}. Start again from the first page.")
            status = 400
        except queries.TooSlow:
            form.add_error(None, TOO_SLOW)
            status = 400
    else:
        status = 400
    if request.htmx and not request.htmx.boosted:
        return render(request, "jobs/list.html#results", context, status=status)
    context["queue_names"] = Queue.objects.filter(space=access.space).values_list(
        "name", flat=True
    )[:500]
    context["statuses"] = Status.choices
    return render(request, "jobs/list.html", context, status=status)


def _base(params: QueryDict) -> str:
    """The query string without its page cursor, ready for one more parameter."""
    rest = params.copy()
    for key in ("after", "before"):
        rest.pop(key, None)
    return f"{rest.urlencode()}&" if rest else ""


def _results(access: Access, form: JobListForm) -> dict[str, object]:
    f = form.job_filter()
    data = form.cleaned_data
    page = queries.page_of_jobs(
        access.space, f, after=data["after"], before=data["before"], size=PAGE_SIZE
    )
    return {
        "page": page,
        "matching": queries.capped_count(queries.filter_jobs(access.space, f), COUNT_CAP),
        "count_cap": COUNT_CAP,
        "filtered": any(data.get(k) for k in FILTER_FIELDS),
        "first_page": not data["after"] and not data["before"],
    }


@require_POST
@org_view()
def job_bulk(request: HttpRequest, access: Access) -> HttpResponse:
    """Retry, kill or cancel the selected jobs or all matching the query string's filter
    (at most MAX_PER_CLICK per click), then back to the same table with a summary."""
    form = BulkActionForm(request.POST)
    params = QueryDict(request.POST.get("filter_query", "")[:4000])
    if not form.is_valid():
        problem = " ".join(e for errors in form.errors.values() for e in errors)
        return _page(request, access, params, problem=f"{problem} Nothing was changed.")
    data = form.cleaned_data
    if data["scope"] == "all":
        filters = JobListForm(params)
        if not filters.is_valid():
            problem = "The filter is invalid; nothing was changed."
            return _page(request, access, params, problem=problem)
        ids = queries.ids_matching(access.space, filters.job_filter(), limit=MAX_PER_CLICK + 1)
    else:
        ids = data["ids"]
    capped = len(ids) > MAX_PER_CLICK
    jobs = queries.jobs_in_space(access.space, ids[:MAX_PER_CLICK])
    outcome = lifecycle.bulk.apply(
        access.space,
        data["action"],
        jobs,
        actor=lifecycle.Actor.user(request.user),
        scope=data["scope"],
    )
    _report(request, outcome, capped=capped, unknown=len(ids[:MAX_PER_CLICK]) - len(jobs))
    return HttpResponseRedirect(_list_url(access, params.urlencode()))


def _report(request: HttpRequest, outcome: lifecycle.bulk.BulkOutcome, **how: object) -> None:
    verb = {"retry": "Retried", "kill": "Killed", "cancel": "Cancelled"}[outcome.action]
    text = f"{verb} {len(outcome.done)} jobs; skipped {len(outcome.skipped)}"
    text += " whose state did not allow it." if outcome.skipped else "."
    if how["unknown"]:
        text += f" {how['unknown']} selected jobs no longer exist."
    if how["capped"]:
        text += f" Only the first {MAX_PER_CLICK:,} matching jobs were handled; run it again for the rest."
    messages.success(request, text)


def _list_url(access: Access, query: str) -> str:
    url = reverse("jobs:list", args=[access.org.slug, access.space.slug])
    return f"{url}?{query}" if query else url
