"""The members page: everyone sees who belongs; owners and admins invite, change roles
and remove (the rules themselves live in orgs.actions)."""

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from emitrun.errors import Conflict, Forbidden, NotFound, ValidationFailed
from orgs import actions, queries
from orgs.access import Access, org_view
from orgs.forms import MEMBER_ROLES, InviteForm, RoleForm, add_domain_errors
from orgs.models import Membership, Role


@org_view()
def members(request: HttpRequest, access: Access) -> HttpResponse:
    """GET lists the members; POST (owners and admins) invites someone by email."""
    form = InviteForm(request.POST or None)
    if request.method == "POST":
        access.require_manager()
        if form.is_valid():
            try:
                membership = actions.invite_member(
                    organization=access.org, actor=access.user, **form.cleaned_data
                )
            except Forbidden as exc:
                raise PermissionDenied(exc.message) from None
            except ValidationFailed as exc:
                add_domain_errors(form, exc)
            else:
                messages.success(request, f"Added {membership.user.email} as {membership.role}.")
                return redirect("orgs:members", access.org.slug)
    return _page(request, access, form, status=422 if form.errors else 200)


@org_view(manage=True)
@require_POST
def member_role(request: HttpRequest, access: Access, member_id: int) -> HttpResponse:
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a valid role.")
        return _page(request, access, InviteForm(), status=422)
    membership = _membership(access, member_id)
    return _change(
        request,
        access,
        lambda: actions.change_role(membership, role=form.cleaned_data["role"], actor=access.user),
        done=f"{membership.user.email} is now {form.cleaned_data['role']}.",
    )


@org_view(manage=True)
@require_POST
def member_remove(request: HttpRequest, access: Access, member_id: int) -> HttpResponse:
    membership = _membership(access, member_id)
    if membership.user_id == access.user.pk:
        done = f"You left {access.org.name}."
    else:
        done = f"Removed {membership.user.email}."
    response = _change(
        request, access, lambda: actions.remove_member(membership, actor=access.user), done=done
    )
    if membership.user_id == access.user.pk and response.status_code == 302:
        return redirect("orgs:home")
    return response


def _change(
    request: HttpRequest, access: Access, change: Callable[[], object], *, done: str
) -> HttpResponse:
    """Runs a member change; success goes back to the page, a broken rule shows on it."""
    try:
        change()
    except Forbidden as exc:
        raise PermissionDenied(exc.message) from None
    except NotFound:
        raise Http404("No such member") from None
    except (Conflict, ValidationFailed) as exc:
        messages.error(request, exc.message)
        return _page(request, access, InviteForm(), status=exc.http_status)
    messages.success(request, done)
    return redirect("orgs:members", access.org.slug)


def _membership(access: Access, member_id: int) -> Membership:
    membership = (
        Membership.objects.filter(organization=access.org, pk=member_id)
        .select_related("user")
        .first()
    )
    if membership is None:
        raise Http404("No such member")
    return membership


def _page(request: HttpRequest, access: Access, form: InviteForm, *, status: int) -> HttpResponse:
    # Admins see no controls they could not use: owners' rows and the owner role are
    # for owners only (orgs.actions enforces the same rule on every change).
    is_owner = access.membership.role == Role.OWNER
    rows = [(m, is_owner or m.role != Role.OWNER) for m in queries.members_of(access.org)]
    roles = [(value, label) for value, label in MEMBER_ROLES if is_owner or value != Role.OWNER]
    if not is_owner:
        form.fields["role"].choices = roles
    context = {
        "access": access,
        "form": form,
        "rows": rows,
        "roles": roles,
        "changes": queries.member_changes(access.org),
    }
    return render(request, "orgs/members.html", context, status=status)
