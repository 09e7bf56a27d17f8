"""Dashboard forms of a space: tokens, notification settings, rename and delete.

Forms only parse what the browser sent; the rules live in spaces/actions.py, and the
views copy its ValidationFailed details back onto the form (`add_domain_errors`), so the
dashboard and the API refuse the same values with the same messages.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.utils import timezone

from emitrun.errors import ValidationFailed
from spaces import scopes
from spaces.models import Space, SpaceSettings

SHORTHAND_DESCRIPTIONS = {
    "jobs:admin": "Every scope below: full control of this space's jobs",
    "jobs:worker": "What a worker needs: read, poll, ack, progress, events, "
    "keepalive, complete, fail, kill",
    "jobs:write": "Report on polled jobs: ack, progress, events, keepalive, complete, fail, kill",
}


@dataclass(frozen=True)
class ScopeChoice:
    value: str
    dom_id: str  # "scope-jobs-read-progress": the browser journey's hook
    description: str
    shorthand: bool


SCOPE_CHOICES = [
    ScopeChoice(value, "scope-" + value.replace(":", "-"), description, shorthand)
    for value, description, shorthand in [
        *((s, SHORTHAND_DESCRIPTIONS[s], True) for s in scopes.SHORTHANDS),
        *((s, scopes.DESCRIPTIONS[s], False) for s in scopes.GRANULAR),
    ]
]

EXPIRY_CHOICES = [
    ("", "Never"),
    ("7", "In 7 days"),
    ("30", "In 30 days"),
    ("90", "In 90 days"),
    ("365", "In one year"),
]


def add_domain_errors(form: forms.Form, error: ValidationFailed) -> None:
    """Puts a ValidationFailed from the actions onto the form: per field where the field
    is on the form, else as a form-wide error."""
    details = error.details if isinstance(error.details, dict) else {}
    for field, messages in details.items():
        target = field if field in form.fields else None
        for message in messages if isinstance(messages, list) else [messages]:
            form.add_error(target, str(message))
    if not details:
        form.add_error(None, error.message)


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True)
    scopes = forms.MultipleChoiceField(
        choices=[(c.value, c.value) for c in SCOPE_CHOICES],
        error_messages={"required": "Pick at least one scope."},
    )
    expires_in_days = forms.TypedChoiceField(
        choices=EXPIRY_CHOICES, coerce=int, empty_value=None, required=False
    )

    def expires_at(self) -> datetime | None:
        days = self.cleaned_data.get("expires_in_days")
        return timezone.now() + timedelta(days=days) if days else None


class SlackForm(forms.Form):
    slack_webhook_url = forms.CharField(
        label="Slack webhook URL", max_length=2048, required=False, strip=True
    )
    slack_events = forms.MultipleChoiceField(
        label="Send these events",
        choices=[(e, e) for e in SpaceSettings.SLACK_EVENTS],
        required=False,
    )

    def changes(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


class PushForm(forms.Form):
    """The push URL, its job-name filter and any number of header rows (`header_name` /
    `header_value` pairs, repeated); rows with neither are ignored."""

    push_url = forms.CharField(label="Push URL", max_length=2048, required=False, strip=True)
    push_names = forms.CharField(
        label="Only for these job names",
        required=False,
        help_text="Comma- or space-separated; empty sends for every job.",
    )
    push_headers = forms.Field(required=False)  # filled from the header rows in clean()

    def clean_push_names(self) -> list[str]:
        raw = self.cleaned_data["push_names"].replace(",", " ")
        return [name for name in raw.split() if name]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        names = self.data.getlist("header_name") if hasattr(self.data, "getlist") else []
        values = self.data.getlist("header_value") if hasattr(self.data, "getlist") else []
        headers: dict[str, str] = {}
        for name, value in zip(names, values, strict=False):
            name = name.strip()
            if not name and not value:
                continue
            if not name:
                self.add_error("push_headers", "Every header value needs a name.")
            elif name.lower() in {n.lower() for n in headers}:
                self.add_error("push_headers", f"Header {name!r} is given twice.")
            else:
                headers[name] = value
        cleaned["push_headers"] = headers
        return cleaned

    def header_rows(self, blank: int = 2) -> list[tuple[str, str]]:
        """The rows to show: what was posted (or saved), then `blank` empty ones."""
        if self.is_bound:
            names, values = self.data.getlist("header_name"), self.data.getlist("header_value")
            rows = [(n, v) for n, v in zip(names, values, strict=False) if n or v]
        else:
            rows = list((self.initial.get("push_headers") or {}).items())
        return rows + [("", "")] * blank

    def changes(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


class CallbackSecretForm(forms.Form):
    callback_secret = forms.CharField(
        label="New signing secret",
        required=False,
        min_length=16,
        max_length=255,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    remove = forms.BooleanField(label="Remove the secret (callbacks go unsigned)", required=False)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if "callback_secret" in self.errors:
            return cleaned
        secret, remove = cleaned.get("callback_secret"), cleaned.get("remove")
        if secret and remove:
            self.add_error(None, "Either set a new secret or remove it, not both.")
        elif not secret and not remove:
            self.add_error("callback_secret", "Enter a new secret, or tick Remove.")
        return cleaned

    def changes(self) -> dict[str, Any]:
        return {
            "callback_secret": ""
            if self.cleaned_data["remove"]
            else self.cleaned_data["callback_secret"]
        }


class SpaceForm(forms.Form):
    name = forms.CharField(label="Space name", max_length=100, strip=True)
    delivery_timeout_seconds = forms.IntegerField(label="Delivery timeout (seconds)")
    retention_days = forms.IntegerField(label="Retention (days)")
    backoff_base_seconds = forms.FloatField(label="Retry backoff base (seconds)")
    backoff_cap_seconds = forms.FloatField(label="Retry backoff cap (seconds)")

    @classmethod
    def for_space(cls, space: Space, data: Any = None) -> "SpaceForm":
        initial = {name: getattr(space, name) for name in cls.base_fields}
        return cls(data, initial=initial)

    def changes(self) -> dict[str, Any]:
        """The fields that differ from the saved ones; both backoff knobs go together, so
        the cap is checked against the base."""
        changed = {k: v for k, v in self.cleaned_data.items() if v != self.initial.get(k)}
        if {"backoff_base_seconds", "backoff_cap_seconds"} & set(changed):
            changed["backoff_base_seconds"] = self.cleaned_data["backoff_base_seconds"]
            changed["backoff_cap_seconds"] = self.cleaned_data["backoff_cap_seconds"]
        return changed


class SpaceDeleteForm(forms.Form):
    confirm_slug = forms.CharField(label="Type the space's slug to confirm", strip=True)

    def __init__(self, *args: Any, space: Space, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.space = space

    def clean_confirm_slug(self) -> str:
        value = self.cleaned_data["confirm_slug"]
        if value != self.space.slug:
            raise forms.ValidationError(f"Type {self.space.slug} exactly to delete this space.")
        return value
