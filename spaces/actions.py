"""The only writer of spaces, their settings and their API tokens."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from emitrun.errors import ValidationFailed
from emitrun.validation import check_headers, is_job_name
from notifications.urls import UnsafeURL, check_url
from orgs.actions import clean_name, unique_slug
from orgs.models import Organization, User
from spaces import audit, tokens
from spaces import scopes as scope_names
from spaces.models import ApiToken, Space, SpaceSettings

_KNOBS = {
    "delivery_timeout_seconds": (1, 3600),
    "backoff_base_seconds": (0, 86400),
    "backoff_cap_seconds": (0, 7 * 86400),
    "retention_days": (1, 3650),
}


def _check_knobs(knobs: dict[str, float | int | None]) -> dict[str, float | int]:
    errors, clean = {}, {}
    for field, value in knobs.items():
        if value is None:
            continue
        low, high = _KNOBS[field]
        if not low <= value <= high:
            errors[field] = [f"must be between {low} and {high}"]
        clean[field] = value
    base = clean.get("backoff_base_seconds")
    cap = clean.get("backoff_cap_seconds")
    if base is not None and cap is not None and cap < base:
        errors["backoff_cap_seconds"] = ["must not be less than backoff_base_seconds"]
    if errors:
        raise ValidationFailed("Invalid space settings", errors)
    return clean


@transaction.atomic
def create_space(
    *,
    organization: Organization,
    name: str,
    slug: str | None = None,
    actor: Any = None,
    **knobs: float | int | None,
) -> Space:
    """Makes a space (and its empty settings). Knobs: see _KNOBS. With an `actor` (a person
    in the dashboard), the organization's audit log records "space.create"."""
    name = clean_name(name)
    clean = _check_knobs(knobs)
    if slug is None:
        slug = unique_slug(Space, name, organization=organization)
    elif Space.objects.filter(organization=organization, slug=slug).exists():
        raise ValidationFailed(f"slug {slug!r} is taken", {"slug": ["already taken"]})
    space = Space.objects.create(organization=organization, name=name, slug=slug, **clean)
    SpaceSettings.objects.create(space=space)
    if actor is not None:
        audit.record(actor, "space.create", space=space, target=slug, details={"name": name})
    return space


@transaction.atomic
def update_space(
    space: Space, *, actor: Any = "system", **changes: float | int | str | None
) -> Space:
    """Renames a space or changes its knobs."""
    name = changes.pop("name", None)
    clean = _check_knobs(changes)
    if name is not None:
        clean["name"] = clean_name(name)
    for field, value in clean.items():
        setattr(space, field, value)
    space.save(update_fields=list(clean))
    if clean:
        audit.record(actor, "space.update", space=space, target=space.slug, details=clean)
    return space


@transaction.atomic
def delete_space(space: Space, *, actor: Any = "system") -> None:
    """Deletes a space with all its jobs, tokens and settings; the organization's audit log
    keeps a record of it."""
    audit.record(
        actor,
        "space.delete",
        organization=space.organization,
        target=space.slug,
        details={"name": space.name, "id": str(space.pk)},
    )
    space.delete()


@transaction.atomic
def issue_token(
    *,
    space: Space,
    name: str,
    scopes: list[str],
    created_by: User | None = None,
    expires_at: datetime | None = None,
    actor: Any = "system",
) -> tuple[ApiToken, str]:
    """Makes a token; returns it with its secret, which is never stored or shown again."""
    name = clean_name(name)
    try:
        expanded = scope_names.expand(scopes)
    except ValueError as exc:
        raise ValidationFailed(str(exc), {"scopes": [str(exc)]}) from None
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationFailed("expires_at must be in the future", {"expires_at": ["in the past"]})
    secret = tokens.new_secret()
    token = ApiToken.objects.create(
        space=space,
        name=name,
        prefix=tokens.display_prefix(secret),
        secret_hash=tokens.hash_secret(secret),
        scopes=expanded,
        created_by=created_by,
        expires_at=expires_at,
    )
    audit.record(
        actor,
        "token.create",
        space=space,
        target=token.prefix,
        details={"name": name, "scopes": expanded},
    )
    return token, secret


@transaction.atomic
def revoke_token(token: ApiToken, *, actor: Any = "system") -> ApiToken:
    """Revokes a token at once; revoking twice keeps the first time."""
    changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    token.refresh_from_db(fields=["revoked_at"])
    if changed:
        audit.record(
            actor,
            "token.revoke",
            space=token.space,
            target=token.prefix,
            details={"name": token.name},
        )
    return token


@transaction.atomic
def update_settings(space: Space, *, actor: Any = "system", **fields: Any) -> SpaceSettings:
    """Changes a space's notification settings; only the fields given are touched.

    Fields: slack_webhook_url, slack_events, push_url, push_headers, push_names,
    callback_secret. An empty URL turns that channel off. Raises ValidationFailed
    naming every bad field, and then saves nothing.
    """
    unknown = set(fields) - set(_SETTING_CHECKS)
    if unknown:
        raise ValidationFailed(f"unknown settings: {', '.join(sorted(unknown))}")
    errors, clean = {}, {}
    for field, value in fields.items():
        try:
            clean[field] = _SETTING_CHECKS[field](value)
        except (ValueError, TypeError) as exc:
            errors[field] = [str(exc)]
    if errors:
        raise ValidationFailed("Invalid space settings", errors)
    conf, _ = SpaceSettings.objects.select_for_update().get_or_create(space=space)
    for field, value in clean.items():
        setattr(conf, field, value)
    conf.save()
    # Field names only: header values and the callback secret are secrets.
    audit.record(actor, "settings.update", space=space, details={"fields": sorted(clean)})
    return conf


def _outbound_url(value: Any) -> str:
    if not value:
        return ""
    if not isinstance(value, str) or len(value) > 2048:
        raise ValueError("must be a URL of at most 2048 characters")
    try:
        return check_url(value.strip())
    except UnsafeURL as exc:
        raise ValueError(str(exc)) from None


def _slack_events(value: Any) -> list[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of event names")
    bad = sorted(set(value) - set(SpaceSettings.SLACK_EVENTS))
    if bad:
        raise ValueError(f"unknown events {bad}; choose from {list(SpaceSettings.SLACK_EVENTS)}")
    return [e for e in SpaceSettings.SLACK_EVENTS if e in value]  # canonical order, no dups


def _push_headers(value: Any) -> dict[str, str]:
    return check_headers(value or {})


def _push_names(value: Any) -> list[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a list of job names")
    bad = [n for n in value if not is_job_name(n)]
    if bad:
        raise ValueError(f"invalid job names {bad}")
    return sorted(set(value))


def _callback_secret(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 255:
        raise ValueError("must be a string of at most 255 characters")
    return value


_SETTING_CHECKS: dict[str, Callable[[Any], Any]] = {
    "slack_webhook_url": _outbound_url,
    "slack_events": _slack_events,
    "push_url": _outbound_url,
    "push_headers": _push_headers,
    "push_names": _push_names,
    "callback_secret": _callback_secret,
}
