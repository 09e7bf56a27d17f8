"""Home, organizations (create, page with live counts) and new spaces."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from emitrun.errors import ValidationFailed
from jobs.lifecycle import Actor
from jobs.models import Status
from orgs import actions, queries
from orgs.access import Access, memberships_of, org_view
from orgs.forms import OrganizationForm, SpaceForm, add_domain_errors
from spaces import actions as space_actions

STATUSES = [s.value for s in Status]


def home(request: HttpRequest) -> HttpResponse:
    """Signed out: the landing. Signed in: your organizations and their spaces, or the form
    to make your first organization."""
    if not request.user.is_authenticated:
        return render(request, "orgs/landing.html")
    memberships = list(memberships_of(request.user))
    spaces = queries.spaces_by_organization(request.user)
    rows = [(m, spaces.get(m.organization_id, [])) for m in memberships]
    context = {"rows": rows, "form": OrganizationForm()}
    return render(request, "orgs/home.html", context)


@login_required
def org_create(request: HttpRequest) -> HttpResponse:
    form = OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            org = actions.create_organization(name=form.cleaned_data["name"], owner=request.user)
        except ValidationFailed as exc:
            add_domain_errors(form, exc)
        else:
            return redirect("orgs:detail", org.slug)
    status = 422 if form.errors else 200
    return render(request, "orgs/org_create.html", {"form": form}, status=status)


@org_view()
def org_detail(request: HttpRequest, access: Access) -> HttpResponse:
    """The organization's spaces with their job counts per status. htmx re-fetches the
    counts every few seconds (there is no organization-wide socket) and gets the partial."""
    counts = queries.counts_by_space(access.org)
    rows = [
        (space, [(status, counts[space.pk][status]) for status in STATUSES])
        for space in queries.spaces_of(access.org)
    ]
    context = {"access": access, "rows": rows, "statuses": STATUSES}
    template = "orgs/org_detail.html"
    if request.htmx:
        template += "#space-counts"
    return render(request, template, context)


@org_view(manage=True)
def space_create(request: HttpRequest, access: Access) -> HttpResponse:
    form = SpaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            space = space_actions.create_space(
                organization=access.org, actor=Actor.user(request.user), **form.cleaned_data
            )
        except ValidationFailed as exc:
            add_domain_errors(form, exc)
        else:
            return redirect("jobs:overview", access.org.slug, space.slug)
    status = 422 if form.errors else 200
    return render(
        request, "orgs/space_create.html", {"access": access, "form": form}, status=status
    )
