"""Template context shared by every dashboard page."""

from typing import Any

from django.http import HttpRequest

from orgs.access import memberships_of


def navigation(request: HttpRequest) -> dict[str, Any]:
    """The signed-in user's organizations for the switcher, read only if a page shows it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"nav_memberships": lambda: list(memberships_of(user))}
