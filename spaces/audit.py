"""The audit log: one row per deliberate change made by a person or a token.

Callers pass the same actor label that job events carry (`Actor.label`), so the log and
the job timelines name people and tokens alike. Never put a secret in `details`.
"""

from typing import Any

from django.db.models import QuerySet

from orgs.models import Organization
from spaces.models import AuditEntry, Space


def record(
    actor: Any,
    action: str,
    *,
    space: Space | None = None,
    organization: Organization | None = None,
    target: object = "",
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Appends one entry. `actor` is an Actor (its label is stored) or a plain label."""
    label = getattr(actor, "label", None) or str(actor)
    org_id = organization.pk if organization is not None else space.organization_id
    return AuditEntry.objects.create(
        organization_id=org_id,
        space=space,
        actor=label[:200],
        action=action,
        target=str(target)[:200],
        details=details or {},
    )


def entries_for_space(space: Space) -> QuerySet[AuditEntry]:
    """The space's entries, newest first."""
    return AuditEntry.objects.filter(space=space)


def entries_for_organization(organization: Organization) -> QuerySet[AuditEntry]:
    """Every entry of the organization (its spaces and its members), newest first."""
    return AuditEntry.objects.filter(organization=organization)
