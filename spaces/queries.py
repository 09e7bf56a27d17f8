"""Reads for the space pages of the dashboard, always scoped to one space."""

from urllib.parse import urlsplit
from uuid import UUID

from django.db.models import QuerySet
from django.http import Http404

from notifications.models import Delivery
from spaces.models import ApiToken, Space, SpaceSettings


def tokens_for_space(space: Space) -> QuerySet[ApiToken]:
    """The space's tokens, newest first, revoked ones included (they are history)."""
    return ApiToken.objects.filter(space=space).select_related("created_by")


def token_for_space(space: Space, token_id: UUID) -> ApiToken:
    """One token of the space; Http404 for a missing id and another space's alike."""
    token = ApiToken.objects.filter(space=space, pk=token_id).select_related("space").first()
    if token is None:
        raise Http404("No such token")
    return token


def settings_for_space(space: Space) -> SpaceSettings:
    """The space's notification settings (an empty row if it has none yet)."""
    return SpaceSettings.objects.filter(space=space).first() or SpaceSettings(space=space)


def recent_deliveries(space: Space, kind: str, *, limit: int = 10) -> list[Delivery]:
    """The space's last deliveries of one kind (slack, push, callback), newest first."""
    return list(
        Delivery.objects.filter(space=space, kind=kind)
        .order_by("-created_at")
        .only(
            "id",
            "event",
            "status",
            "attempts",
            "max_attempts",
            "last_status_code",
            "last_error",
            "last_latency_ms",
            "created_at",
            "job_id",
        )[:limit]
    )


def redact_url(url: str) -> str:
    """What members who may not manage settings see of a webhook URL: scheme and host.
    Slack webhook URLs (and many push URLs) carry their credential in the path."""
    if not url:
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}/…"
