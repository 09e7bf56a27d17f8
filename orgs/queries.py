"""Reads for the organization pages, always scoped to one organization or one user."""

from collections import defaultdict

from django.db.models import Count, QuerySet

from jobs.models import Job, Status
from orgs.models import Membership, Organization, User
from spaces.models import AuditEntry, Space


def spaces_of(organization: Organization) -> QuerySet[Space]:
    return Space.objects.filter(organization=organization).order_by("name")


def spaces_by_organization(user: User) -> dict[object, list[Space]]:
    """The spaces of every organization the user belongs to, by organization id."""
    out: dict[object, list[Space]] = defaultdict(list)
    spaces = Space.objects.filter(organization__memberships__user=user).order_by("name")
    for space in spaces:
        out[space.organization_id].append(space)
    return out


def counts_by_space(organization: Organization) -> dict[object, dict[str, int]]:
    """Jobs per status of each space of the organization (every status, zero or not)."""
    rows = (
        Job.objects.filter(space__organization=organization)
        .values("space_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    out: dict[object, dict[str, int]] = defaultdict(lambda: {s.value: 0 for s in Status})
    for row in rows:
        out[row["space_id"]][row["status"]] = row["n"]
    return out


def members_of(organization: Organization) -> list[Membership]:
    """Owners first, then admins, then members; by email within a role."""
    order = {"owner": 0, "admin": 1, "member": 2}
    members = Membership.objects.filter(organization=organization).select_related("user")
    return sorted(members, key=lambda m: (order.get(m.role, 3), m.user.email))


def member_changes(organization: Organization, *, limit: int = 50) -> QuerySet[AuditEntry]:
    """The latest invitations, role changes and removals, newest first."""
    entries = AuditEntry.objects.filter(organization=organization, action__startswith="member.")
    return entries[:limit]
