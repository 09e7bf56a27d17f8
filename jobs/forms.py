"""Dashboard forms of the jobs pages: the table's filters (a GET query string, so a
filtered view is a shareable URL), its bulk actions, and the dead-letter actions.
"""

import uuid
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from jobs.lifecycle.bulk import MAX_PER_CLICK
from jobs.models import Status
from jobs.queries import JobFilter

# Query value -> (order field, descending). The first one is the default.
SORTS: dict[str, tuple[str, bool]] = {
    "-created": ("created_at", True),
    "created": ("created_at", False),
    "-updated": ("updated_at", True),
    "updated": ("updated_at", False),
    "-priority": ("priority", True),
    "priority": ("priority", False),
    "name": ("name", False),
    "-name": ("name", True),
}
SORT_LABELS = {
    "-created": "Newest first",
    "created": "Oldest first",
    "-updated": "Recently updated",
    "updated": "Least recently updated",
    "-priority": "Highest priority",
    "priority": "Lowest priority",
    "name": "Name A→Z",
    "-name": "Name Z→A",
}
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]


class JobListForm(forms.Form):
    """The jobs table's query string. Every field is optional; a bad value is a form
    error (the page answers 400 and lists nothing rather than guess).
    """

    status = forms.MultipleChoiceField(
        choices=Status.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    name = forms.CharField(required=False, max_length=64)
    tag = forms.CharField(required=False, max_length=255)
    q = forms.CharField(required=False, max_length=200, label="Search")
    created_after = forms.DateTimeField(
        required=False, input_formats=DATETIME_FORMATS, label="Created from"
    )
    created_before = forms.DateTimeField(
        required=False, input_formats=DATETIME_FORMATS, label="Created before"
    )
    sort = forms.ChoiceField(choices=list(SORT_LABELS.items()), required=False)
    after = forms.CharField(required=False, max_length=1000, widget=forms.HiddenInput)
    before = forms.CharField(required=False, max_length=1000, widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("created_after"), data.get("created_before")
        if start and end and start >= end:
            self.add_error("created_before", "Must be later than “Created from”.")
        if data.get("after") and data.get("before"):
            self.add_error(None, "Give one page cursor, not both.")
        return data

    def job_filter(self) -> JobFilter:
        data = self.cleaned_data
        order_by, descending = SORTS[data.get("sort") or "-created"]
        return JobFilter(
            statuses=data.get("status") or None,
            names=[data["name"]] if data.get("name") else None,
            tag=data.get("tag") or None,
            q=data.get("q") or None,
            created_after=data.get("created_after"),
            created_before=data.get("created_before"),
            order_by=order_by,
            descending=descending,
        )


class UUIDListField(forms.Field):
    """A list of UUIDs from repeated form values (checkboxes named alike)."""

    widget = forms.MultipleHiddenInput

    def __init__(self, *, max_items: int, **kwargs: Any) -> None:
        self.max_items = max_items
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> list[uuid.UUID]:
        values = [v for v in (value or []) if v]
        if len(values) > self.max_items:
            raise ValidationError(f"Select at most {self.max_items} jobs.")
        try:
            return list(dict.fromkeys(uuid.UUID(str(v)) for v in values))
        except ValueError:
            raise ValidationError("Invalid job id.") from None


class BulkActionForm(forms.Form):
    """Retry, kill or cancel the selected rows, or every job matching the filter."""

    action = forms.ChoiceField(choices=[("retry", "Retry"), ("kill", "Kill"), ("cancel", "Cancel")])
    scope = forms.ChoiceField(
        choices=[("selected", "Selected rows"), ("all", "All matching the filter")],
        required=False,
    )
    ids = UUIDListField(max_items=MAX_PER_CLICK, required=False)
    filter_query = forms.CharField(required=False, max_length=4000)  # the table's query string

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        data["scope"] = data.get("scope") or "selected"
        if data["scope"] == "selected" and "ids" in data and not data["ids"]:
            self.add_error("ids", "Select at least one job, or choose all matching the filter.")
        return data


class DeadRetryForm(forms.Form):
    """Retry one dead job (job_id) or every dead job of a group (name and last error)."""

    job_id = forms.UUIDField(required=False)
    name = forms.CharField(required=False, max_length=64)
    last_error = forms.CharField(required=False, strip=False, max_length=20000)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("job_id") and not data.get("name"):
            raise ValidationError("Name a dead job or a group to retry.")
        return data


class DeadPurgeForm(forms.Form):
    """Delete every dead job of a group; the checkbox is the explicit confirmation."""

    name = forms.CharField(max_length=64)
    last_error = forms.CharField(required=False, strip=False, max_length=20000)
    confirm = forms.BooleanField(
        required=True, error_messages={"required": "Tick the box to confirm the purge."}
    )
