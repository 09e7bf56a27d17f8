"""Request bodies and query strings of the jobs API, and the job as it is answered."""

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from emitrun.representation import compile_representation
from jobs.api.fields import (
    EVENT_TYPE_RE,
    Input,
    NameField,
    ParsedJSONField,
    StrictBooleanField,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
    check_size,
    snake_keys,
    validate_headers,
)
from jobs.api.items import plain_spec
from jobs.lifecycle import JobSpec, tag_names
from jobs.models import Job
from jobs.queries import ORDER_FIELDS, STATUS_FILTERS, JobFilter
from notifications.urls import UnsafeURL, check_url

LEASE_ALIASES = {"lease": "lease_id"}


class CreateJobInput(Input):
    aliases = {
        "queue_name": "name",
        "scheduled_at": "scheduled_for",
        "completion_webhook": "callback_url",
        "completion_webhook_secret": "callback_secret",
    }

    name = NameField()
    payload = ParsedJSONField(required=False, allow_null=True, default=None)
    priority = StrictIntegerField(min_value=-100, max_value=100, default=0)
    tags = ParsedJSONField(required=False, allow_null=True, default=None)
    idempotency_key = StrictCharField(max_length=255, required=False, allow_null=True)
    # Unset: the queue's defaults (3 and 300 unless the queue's config says otherwise).
    max_retries = StrictIntegerField(min_value=0, max_value=100, required=False)
    timeout_seconds = StrictIntegerField(min_value=1, max_value=86400, required=False)
    scheduled_for = serializers.DateTimeField(required=False, allow_null=True)
    callback_url = serializers.URLField(max_length=2048, required=False, allow_blank=True)
    callback_headers = ParsedJSONField(required=False, allow_null=True)
    callback_secret = StrictCharField(max_length=255, required=False, allow_blank=True)

    def validate_tags(self, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, list | dict):
            raise serializers.ValidationError("must be an array or an object")
        if len(value) > 100:
            raise serializers.ValidationError("at most 100 tags")
        if any(len(tag) > 255 for tag in tag_names(value)):
            raise serializers.ValidationError("each tag is at most 255 characters")
        return value

    def validate_callback_url(self, value: str) -> str:
        if not value:
            return value
        try:
            return check_url(value)
        except UnsafeURL as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate_callback_headers(self, value: Any) -> dict[str, str]:
        return {} if value is None else validate_headers(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        check_size("payload", attrs.get("payload"))
        return attrs

    def spec(self) -> JobSpec:
        return _spec(self.validated_data)

    def spec_of(self, data: Any) -> JobSpec:
        """Validates one more body with this instance, which keeps no state between calls:
        a bulk builds its fields once (DRF deep-copies every field per instance), not per
        item, and plain bodies skip the fields (jobs/api/items.py). Raises ValidationError
        holding what `.errors` would, or PayloadTooLarge.
        """
        try:
            if isinstance(data, dict):
                spec = plain_spec(snake_keys(data, self.aliases))
                if spec is not None:
                    return spec
            return _spec(self.run_validation(data))
        except serializers.ValidationError as exc:
            detail = exc.detail
            # A null body: Serializer.errors words it so, and so must we.
            if isinstance(detail, list) and getattr(detail[0], "code", None) == "null":
                detail = {"non_field_errors": [ErrorDetail("No data provided", code="null")]}
            raise serializers.ValidationError(detail) from None


def _spec(attrs: dict[str, Any]) -> JobSpec:
    return JobSpec(**{k: v for k, v in attrs.items() if v is not None})


class BulkCreateInput(Input):
    aliases = {"queue_name": "name"}

    name = NameField(required=False)
    jobs = serializers.ListField(child=ParsedJSONField(), min_length=1, max_length=100)
    default_priority = StrictIntegerField(min_value=-100, max_value=100, required=False)
    default_max_retries = StrictIntegerField(min_value=0, max_value=100, required=False)
    default_timeout_seconds = StrictIntegerField(min_value=1, max_value=86400, required=False)

    def item_data(self, item: Any) -> Any:
        """One item with the batch's name and defaults filled in (the item's own win)."""
        if not isinstance(item, dict):
            return item
        defaults = {
            "name": self.validated_data.get("name"),
            "priority": self.validated_data.get("default_priority"),
            "max_retries": self.validated_data.get("default_max_retries"),
            "timeout_seconds": self.validated_data.get("default_timeout_seconds"),
        }
        filled = {k: v for k, v in defaults.items() if v is not None}
        own = snake_keys(item, CreateJobInput.aliases)
        return {**filled, **own}


class LeaseInput(Input):
    aliases = LEASE_ALIASES
    lease_id = StrictCharField(max_length=100, required=False, allow_null=True, allow_blank=True)
    worker_id = StrictCharField(max_length=128, required=False, allow_null=True, allow_blank=True)

    def lease(self) -> dict[str, str | None]:
        return {
            "lease_id": self.validated_data.get("lease_id") or None,
            "worker_id": self.validated_data.get("worker_id") or None,
        }


class PollInput(Input):
    limit = StrictIntegerField(min_value=1, max_value=50, default=10)
    names = serializers.ListField(child=NameField(), required=False, allow_null=True, max_length=50)
    worker_id = StrictCharField(max_length=128, required=False, allow_blank=True, default="")
    wait_seconds = StrictFloatField(
        min_value=0, max_value=settings.EMITRUN_MAX_WAIT_SECONDS, default=0
    )


class ClaimInput(Input):
    aliases = {"name": "queue_name", "lease_duration_seconds": "lease_duration_secs"}
    queue_name = NameField(required=False, allow_null=True)
    worker_id = StrictCharField(max_length=128, required=False, allow_blank=True, default="")
    limit = StrictIntegerField(min_value=1, max_value=100, default=1)
    lease_duration_secs = StrictIntegerField(min_value=5, max_value=3600, default=30)


class ClaimOneInput(Input):
    worker_id = StrictCharField(max_length=128, required=False, allow_blank=True, default="")


class ProgressInput(LeaseInput):
    percent = StrictFloatField(min_value=0, max_value=100)
    message = StrictCharField(min_length=1, max_length=500)
    sub_progress = serializers.DictField(
        child=StrictFloatField(min_value=0, max_value=100), required=False, allow_null=True
    )

    def validate_sub_progress(self, value: dict | None) -> dict | None:
        if value is not None and (len(value) > 50 or any(len(k) > 64 for k in value)):
            raise serializers.ValidationError("at most 50 stages, names up to 64 characters")
        return value


class CheckpointInput(LeaseInput):
    data = ParsedJSONField(allow_null=True)


class EventInput(LeaseInput):
    type = StrictCharField(max_length=64)
    data = ParsedJSONField(required=False, allow_null=True, default=None)

    def validate_type(self, value: str) -> str:
        if not EVENT_TYPE_RE.match(value):
            raise serializers.ValidationError("letters, digits, '.', '_', ':' and '-' only")
        return value


class KeepaliveInput(LeaseInput):
    lease_duration_secs = StrictIntegerField(
        min_value=1, max_value=86400, required=False, allow_null=True
    )


class CompleteInput(LeaseInput):
    result = ParsedJSONField(required=False, allow_null=True, default=None)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        check_size("result", attrs.get("result"))
        return attrs


class FailInput(LeaseInput):
    aliases = {**LEASE_ALIASES, "error_message": "error"}
    error = StrictCharField(min_length=1, max_length=2048, trim_whitespace=False)
    retry = StrictBooleanField(required=False, default=True)


class PriorityInput(Input):
    priority = StrictIntegerField(min_value=-100, max_value=100)


class DlqRetryInput(Input):
    queue_name = NameField(required=False, allow_null=True)
    job_ids = serializers.ListField(
        child=serializers.UUIDField(), required=False, allow_null=True, max_length=1000
    )
    limit = StrictIntegerField(min_value=1, max_value=1000, default=100)


class DlqPurgeInput(Input):
    confirm = StrictBooleanField()
    queue_name = NameField(required=False, allow_null=True)
    limit = StrictIntegerField(min_value=1, max_value=10000, default=1000)
    older_than = serializers.DateTimeField(required=False, allow_null=True)

    def validate_confirm(self, value: bool) -> bool:
        if value is not True:
            raise serializers.ValidationError("must be true to purge")
        return value


class CsvField(serializers.CharField):
    """A comma-separated query parameter, as a list."""

    def to_internal_value(self, data: Any) -> list[str]:
        text = super().to_internal_value(data)
        return [part.strip() for part in text.split(",") if part.strip()]


class PageQuery(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=100, default=50)
    offset = serializers.IntegerField(min_value=0, max_value=10_000_000, default=0)


class ListQuery(PageQuery):
    status = CsvField(required=False, max_length=200)
    name = CsvField(required=False, max_length=2000)
    queue_name = CsvField(required=False, max_length=2000)
    tag = serializers.CharField(required=False, max_length=1024, trim_whitespace=False)
    q = serializers.CharField(required=False, max_length=200)
    job_type = serializers.CharField(required=False, max_length=200)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)
    order_by = serializers.ChoiceField(choices=ORDER_FIELDS, default="created_at")
    order_dir = serializers.ChoiceField(choices=["asc", "desc"], default="desc")
    cursor = serializers.CharField(required=False, max_length=1000)

    def validate_status(self, value: list[str]) -> list[str]:
        unknown = [s for s in value if s not in STATUS_FILTERS]
        if unknown:
            raise serializers.ValidationError(
                f"unknown status {', '.join(unknown)}; use {', '.join(STATUS_FILTERS)}"
            )
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        names = (attrs.get("name") or []) + (attrs.get("queue_name") or [])
        bad = [n for n in names if len(n) > 64]
        if bad:
            raise serializers.ValidationError({"name": ["names are at most 64 characters"]})
        attrs["names"] = names or None
        return attrs

    def job_filter(self) -> JobFilter:
        v = self.validated_data
        return JobFilter(
            statuses=v.get("status") or None,
            names=v["names"],
            tag=v.get("tag"),
            q=v.get("q"),
            job_type=v.get("job_type"),
            created_after=v.get("created_after"),
            created_before=v.get("created_before"),
            order_by=v["order_by"],
            descending=v["order_dir"] == "desc",
        )


class EventsQuery(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=500, default=100)
    offset = serializers.IntegerField(min_value=0, default=0)
    order_dir = serializers.ChoiceField(choices=["asc", "desc"], default="asc")


class StatusQuery(serializers.Serializer):
    ids = CsvField(max_length=4000)

    def validate_ids(self, value: list[str]) -> list[str]:
        if not 1 <= len(value) <= 100:
            raise serializers.ValidationError("give 1 to 100 ids")
        field = serializers.UUIDField()
        return [str(field.to_internal_value(v)) for v in value]


# --- Answers -------------------------------------------------------------------------


class NullableText(serializers.CharField):
    """A text column whose empty value is answered as null."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_null=True, read_only=True, **kwargs)

    def to_representation(self, value: str) -> str | None:
        return value or None


class ProgressOut(serializers.Serializer):
    percent = serializers.FloatField()
    message = serializers.CharField()
    sub_progress = serializers.DictField(allow_null=True)


def progress_of(job: Job) -> dict | None:
    if job.progress_percent is None:
        return None
    return {
        "percent": job.progress_percent,
        "message": job.progress_message,
        "sub_progress": job.sub_progress,
    }


@extend_schema_field(ProgressOut(allow_null=True))
class ProgressField(serializers.Field):
    """`{percent, message, sub_progress}` once the worker reported any, else null."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, job: Job) -> dict | None:
        return progress_of(job)


class JobOut(serializers.Serializer):
    """The job object of API.md (both vocabularies' field names)."""

    id = serializers.UUIDField()
    space_id = serializers.UUIDField()
    organization_id = serializers.UUIDField(source="space.organization_id")
    name = serializers.CharField()
    queue_name = serializers.CharField(source="name")
    status = serializers.CharField()
    payload = serializers.JSONField()
    result = serializers.JSONField()
    checkpoint = serializers.JSONField()
    priority = serializers.IntegerField()
    tags = serializers.JSONField()
    idempotency_key = serializers.CharField()
    attempts = serializers.IntegerField()
    retry_count = serializers.IntegerField()
    max_retries = serializers.IntegerField()
    timeout_seconds = serializers.IntegerField()
    scheduled_for = serializers.DateTimeField()
    scheduled_at = serializers.DateTimeField(source="scheduled_for")
    progress = ProgressField()
    last_error = NullableText()
    worker_id = NullableText()
    assigned_worker_id = NullableText(source="worker_id")
    lease_id = serializers.UUIDField()
    lease_expires_at = serializers.DateTimeField()
    callback_url = NullableText()
    completion_webhook = NullableText(source="callback_url")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField()


# Bound once (a serializer per call deep-copies its 31 fields) and compiled.
job_data = compile_representation(JobOut())
job_data.__doc__ = "JobOut(job).data, for the hot worker paths (emitrun/representation.py)."


class JobSummaryOut(serializers.Serializer):
    """A list item: Spooled's JobSummary fields, plus name and progress."""

    id = serializers.UUIDField()
    name = serializers.CharField()
    queue_name = serializers.CharField(source="name")
    status = serializers.CharField()
    priority = serializers.IntegerField()
    tags = serializers.JSONField()
    attempts = serializers.IntegerField()
    retry_count = serializers.IntegerField()
    max_retries = serializers.IntegerField()
    job_type = serializers.SerializerMethodField()
    last_error = NullableText()
    progress = ProgressField()
    worker_id = NullableText()
    scheduled_at = serializers.DateTimeField(source="scheduled_for")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField()

    def get_job_type(self, job: Job) -> str:
        payload = job.payload
        value = payload.get("job_type") if isinstance(payload, dict) else None
        return value if isinstance(value, str) else ""


class JobProgressOut(serializers.Serializer):
    """What a jobs:read:progress token may see of a job."""

    id = serializers.UUIDField()
    status = serializers.CharField()
    progress = ProgressField()


class EventOut(serializers.Serializer):
    id = serializers.SerializerMethodField()
    job_id = serializers.UUIDField()
    seq = serializers.IntegerField(source="pk")
    event_type = serializers.CharField(source="type")
    status = serializers.CharField()
    details = serializers.JSONField(source="data")
    worker_id = NullableText()
    actor = serializers.CharField()
    created_at = serializers.DateTimeField(source="at")

    def get_id(self, event: Any) -> str:
        return str(event.pk)


AckInput = LeaseInput


class BatchItemInput(LeaseInput):
    """One item of a batch ack or complete: the job, the caller's lease, the result."""

    aliases = {**LEASE_ALIASES, "job_id": "id"}
    id = serializers.UUIDField()
    result = ParsedJSONField(required=False, allow_null=True, default=None)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        check_size("result", attrs.get("result"))
        return attrs


class BatchInput(Input):
    jobs = serializers.ListField(child=ParsedJSONField(), min_length=1, max_length=100)
