"""Worker routes (Spooled workers API): register, heartbeat, deregister, list, get."""

import re
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from jobs import workers
from jobs.api.base import SpaceAPIView
from jobs.api.fields import Input, NameField, StrictCharField, StrictIntegerField
from jobs.models import Worker
from spaces import scopes

WORKER_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
STATUSES = ("healthy", "degraded", "offline", "draining")


class RegisterInput(Input):
    queue_name = NameField()
    hostname = StrictCharField(max_length=255, required=False, allow_blank=True, default="")
    worker_id = StrictCharField(max_length=128, required=False, allow_null=True)
    worker_type = StrictCharField(max_length=64, required=False, allow_blank=True, default="")
    max_concurrency = StrictIntegerField(min_value=1, max_value=100, default=5)
    metadata = serializers.DictField(required=False, default=dict)
    version = StrictCharField(max_length=64, required=False, allow_blank=True, default="")

    def validate_worker_id(self, value: str | None) -> str | None:
        if value is not None and not WORKER_ID_RE.match(value):
            raise serializers.ValidationError("1-128 characters: letters, digits, '.', '_', '-'")
        return value


class HeartbeatInput(Input):
    current_jobs = StrictIntegerField(min_value=0, max_value=10000, default=0)
    status = serializers.ChoiceField(choices=STATUSES, required=False)
    metadata = serializers.DictField(required=False)


class WorkerOut(serializers.Serializer):
    id = serializers.CharField(source="worker_id")
    organization_id = serializers.UUIDField(source="space.organization_id")
    queue_name = serializers.CharField()
    queue_names = serializers.SerializerMethodField()
    hostname = serializers.CharField()
    worker_type = serializers.CharField()
    version = serializers.CharField()
    metadata = serializers.JSONField()
    status = serializers.SerializerMethodField()
    current_jobs = serializers.IntegerField()
    max_concurrency = serializers.IntegerField()
    heartbeat_interval_secs = serializers.IntegerField(source="heartbeat_interval_seconds")
    last_heartbeat = serializers.DateTimeField(source="last_heartbeat_at")
    registered_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField(source="registered_at")

    def get_queue_names(self, worker: Worker) -> list[str]:
        return [worker.queue_name]

    def get_status(self, worker: Worker) -> str:
        return worker.status_at(self.context.get("now") or timezone.now())


class WorkerRegisterView(SpaceAPIView):
    required_scopes = [scopes.POLL]

    @extend_schema(
        request=RegisterInput,
        responses=inline_serializer(
            "RegisteredOut",
            {
                "id": serializers.CharField(),
                "queue_name": serializers.CharField(),
                "lease_duration_secs": serializers.IntegerField(),
                "heartbeat_interval_secs": serializers.IntegerField(),
            },
        ),
    )
    def post(self, request: Request) -> Response:
        v: dict[str, Any] = dict(self.valid(RegisterInput, request.data).validated_data)
        worker = workers.register(self.space(request), **v)
        return Response(
            {
                "id": worker.worker_id,
                "queue_name": worker.queue_name,
                "lease_duration_secs": workers.LEASE_DURATION_SECONDS,
                "heartbeat_interval_secs": worker.heartbeat_interval_seconds,
            }
        )


class WorkerHeartbeatView(SpaceAPIView):
    required_scopes = [scopes.POLL]

    @extend_schema(request=HeartbeatInput, responses=WorkerOut)
    def post(self, request: Request, worker_id: str) -> Response:
        v = self.valid(HeartbeatInput, request.data).validated_data
        worker = workers.heartbeat(self.space(request), worker_id, **v)
        return Response(WorkerOut(worker).data)


class WorkerDeregisterView(SpaceAPIView):
    required_scopes = [scopes.POLL]

    @extend_schema(request=None, responses=WorkerOut)
    def post(self, request: Request, worker_id: str) -> Response:
        return Response(WorkerOut(workers.deregister(self.space(request), worker_id)).data)


class WorkersView(SpaceAPIView):
    required_scopes = [scopes.READ]

    @extend_schema(responses=WorkerOut(many=True))
    def get(self, request: Request) -> Response:
        rows = Worker.objects.filter(space=self.space(request)).order_by("-last_heartbeat_at")
        return Response(WorkerOut(rows[:500], many=True, context={"now": timezone.now()}).data)


class WorkerDetailView(SpaceAPIView):
    required_scopes = [scopes.READ]

    @extend_schema(responses=WorkerOut)
    def get(self, request: Request, worker_id: str) -> Response:
        return Response(WorkerOut(workers.get(self.space(request), worker_id)).data)
