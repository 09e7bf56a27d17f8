"""Who may see and change what in the dashboard: every view resolves its organization and
space through here, so a non-member gets 404 (nothing is revealed) and a member without
the role gets 403.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse

from orgs.models import Membership, Organization, User
from spaces.models import Space


@dataclass(frozen=True)
class Access:
    """The signed-in user's standing in one organization (and, for space pages, one space)."""

    user: User
    membership: Membership
    space: Space | None = None

    @property
    def org(self) -> Organization:
        return self.membership.organization

    @property
    def can_manage(self) -> bool:
        return self.membership.can_manage

    def require_manager(self) -> None:
        """Raises 403 unless the user is an owner or admin of the organization."""
        if not self.can_manage:
            raise PermissionDenied("Only owners and admins can do this")


def memberships_of(user: User) -> QuerySet[Membership]:
    """The user's memberships, organizations included, by organization name."""
    return (
        Membership.objects.filter(user=user)
        .select_related("organization")
        .order_by("organization__name")
    )


def membership_for(user: User, org_slug: str) -> Membership:
    """The user's membership of the organization; Http404 when there is none."""
    membership = (
        Membership.objects.filter(user=user, organization__slug=org_slug)
        .select_related("organization")
        .first()
    )
    if membership is None:
        raise Http404("No such organization")
    return membership


def access_for(user: User, org_slug: str, space_slug: str | None = None) -> Access:
    """The user's access to an organization (and a space of it); Http404 if not a member."""
    membership = membership_for(user, org_slug)
    if space_slug is None:
        return Access(user, membership)
    space = Space.objects.filter(organization=membership.organization, slug=space_slug).first()
    if space is None:
        raise Http404("No such space")
    space.organization = membership.organization
    return Access(user, membership, space)


View = Callable[..., HttpResponse]


def org_view(*, manage: bool = False) -> Callable[[View], View]:
    """Decorates a view taking `org` (and optionally `space`) slugs from the URL.

    The view is called as view(request, access, **other_kwargs). Anonymous users are sent
    to sign in; non-members get 404; with manage=True, members who are not owners or
    admins get 403.
    """

    def decorate(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, org: str, space: str | None = None, **kw: Any) -> Any:
            access = access_for(request.user, org, space)
            if manage:
                access.require_manager()
            return view(request, access, **kw)

        return wrapper

    return decorate
