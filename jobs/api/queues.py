"""Queue routes (Spooled queues API): list, get, config, stats, pause, resume, delete."""

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from emitrun.errors import NotFound
from emitrun.validation import is_job_name
from jobs import queues
from jobs.api.base import SpaceAPIView
from jobs.api.fields import Input, StrictBooleanField, StrictCharField, StrictIntegerField
from jobs.models import Queue
from spaces import scopes


def _name(name: str) -> str:
    if not is_job_name(name):
        raise NotFound(f"No queue {name}")
    return name


def _queue(request: Request, name: str) -> Queue:
    queue = Queue.objects.filter(space=request.auth.space, name=_name(name)).first()
    if queue is None:
        raise NotFound(f"No queue {name}")
    return queue


class QueueSummaryOut(serializers.Serializer):
    queue_name = serializers.CharField(source="name")
    max_retries = serializers.IntegerField()
    default_timeout = serializers.IntegerField(source="default_timeout_seconds")
    enabled = serializers.SerializerMethodField()
    rate_limit = serializers.SerializerMethodField()
    paused = serializers.BooleanField()

    def get_enabled(self, queue: Queue) -> bool:
        return not queue.paused

    def get_rate_limit(self, queue: Queue) -> int | None:
        return None  # per-queue rate limits are not served


class QueueOut(QueueSummaryOut):
    id = serializers.UUIDField()
    organization_id = serializers.UUIDField(source="space.organization_id")
    space_id = serializers.UUIDField()
    settings = serializers.JSONField()
    paused_at = serializers.DateTimeField()
    pause_reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class QueuesView(SpaceAPIView):
    """GET /queues: the space's queues (made when a job or worker names them)."""

    required_scopes = [scopes.READ]

    @extend_schema(responses=QueueSummaryOut(many=True))
    def get(self, request: Request) -> Response:
        rows = Queue.objects.filter(space=self.space(request)).order_by("name")
        return Response(QueueSummaryOut(rows, many=True).data)


class QueueDetailView(SpaceAPIView):
    """GET /queues/{name}: one queue's config. DELETE: delete it (?delete_jobs=true to delete
    its jobs too; refused while it has unfinished jobs otherwise).
    """

    required_scopes = {"GET": [scopes.READ], "DELETE": [scopes.MANAGE]}

    @extend_schema(responses=QueueOut)
    def get(self, request: Request, name: str) -> Response:
        return Response(QueueOut(_queue(request, name)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, name: str) -> Response:
        flag = request.query_params.get("delete_jobs", "false").lower()
        if flag not in ("true", "false", "1", "0"):
            raise serializers.ValidationError({"delete_jobs": ["must be true or false"]})
        queues.delete(self.space(request), _name(name), delete_jobs=flag in ("true", "1"))
        return Response(status=204)


class ConfigInput(Input):
    aliases = {"default_timeout_seconds": "default_timeout"}
    max_retries = StrictIntegerField(min_value=0, max_value=100, required=False)
    default_timeout = StrictIntegerField(min_value=1, max_value=86400, required=False)
    enabled = StrictBooleanField(required=False)
    rate_limit = StrictIntegerField(required=False, allow_null=True)
    settings = serializers.DictField(required=False)

    def validate_rate_limit(self, value: int | None) -> None:
        if value is not None:
            raise serializers.ValidationError("per-queue rate limits are not supported")

    def validate_settings(self, value: dict[str, Any]) -> dict[str, Any]:
        if len(str(value)) > 65536:
            raise serializers.ValidationError("at most 64 KiB")
        return value


class QueueConfigView(SpaceAPIView):
    """PUT /queues/{name}/config: job defaults (max_retries, default_timeout), enabled
    (false pauses), settings. Makes the queue if new.
    """

    required_scopes = [scopes.MANAGE]

    @extend_schema(request=ConfigInput, responses=QueueOut)
    def put(self, request: Request, name: str) -> Response:
        v = self.valid(ConfigInput, request.data).validated_data
        queue = queues.configure(
            self.space(request),
            _name(name),
            max_retries=v.get("max_retries"),
            default_timeout_seconds=v.get("default_timeout"),
            enabled=v.get("enabled"),
            settings=v.get("settings"),
        )
        return Response(QueueOut(queue).data)


class QueueStatsView(SpaceAPIView):
    required_scopes = [scopes.READ]

    @extend_schema(
        responses=inline_serializer(
            "QueueStatsOut",
            {
                "queue_name": serializers.CharField(),
                "pending_jobs": serializers.IntegerField(),
                "scheduled_jobs": serializers.IntegerField(),
                "processing_jobs": serializers.IntegerField(),
                "completed_jobs_24h": serializers.IntegerField(),
                "failed_jobs_24h": serializers.IntegerField(),
                "active_workers": serializers.IntegerField(),
                "avg_processing_time_ms": serializers.FloatField(allow_null=True),
                "max_job_age_seconds": serializers.IntegerField(allow_null=True),
                "paused": serializers.BooleanField(),
            },
        )
    )
    def get(self, request: Request, name: str) -> Response:
        return Response(queues.stats(self.space(request), _queue(request, name)))


class PauseInput(Input):
    reason = StrictCharField(max_length=500, required=False, allow_blank=True, default="")


class QueuePauseView(SpaceAPIView):
    """POST /queues/{name}/pause: the queue hands out nothing until resumed."""

    required_scopes = [scopes.MANAGE]

    @extend_schema(
        request=PauseInput,
        responses=inline_serializer(
            "PauseOut",
            {
                "queue_name": serializers.CharField(),
                "paused": serializers.BooleanField(),
                "paused_at": serializers.DateTimeField(),
                "reason": serializers.CharField(allow_null=True),
            },
        ),
    )
    def post(self, request: Request, name: str) -> Response:
        reason = self.valid(PauseInput, request.data).validated_data["reason"]
        queue = queues.pause(
            self.space(request), _name(name), reason=reason, actor=self.actor(request)
        )
        field = serializers.DateTimeField()
        return Response(
            {
                "queue_name": queue.name,
                "paused": True,
                "paused_at": field.to_representation(queue.paused_at),
                "reason": queue.pause_reason or None,
            }
        )


class QueueResumeView(SpaceAPIView):
    required_scopes = [scopes.MANAGE]

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "ResumeOut",
            {
                "queue_name": serializers.CharField(),
                "resumed": serializers.BooleanField(),
                "paused_duration_secs": serializers.IntegerField(),
            },
        ),
    )
    def post(self, request: Request, name: str) -> Response:
        queue, paused_for = queues.resume(
            self.space(request), _name(name), actor=self.actor(request)
        )
        return Response(
            {"queue_name": queue.name, "resumed": True, "paused_duration_secs": paused_for}
        )
