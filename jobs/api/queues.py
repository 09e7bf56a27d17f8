"""Queue routes: pause and resume (the rest of the queue API follows the Spooled contract)."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from emitrun.errors import NotFound
from jobs import queues
from jobs.api.base import SpaceAPIView
from jobs.api.fields import NAME_RE, Input, StrictCharField
from spaces import scopes


class PauseInput(Input):
    reason = StrictCharField(max_length=500, required=False, allow_blank=True, default="")


def _name(name: str) -> str:
    if len(name) > 64 or not NAME_RE.match(name):
        raise NotFound(f"No queue {name}")
    return name


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
        queue = queues.pause(self.space(request), _name(name), reason=reason)
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
        queue, paused_for = queues.resume(self.space(request), _name(name))
        return Response(
            {"queue_name": queue.name, "resumed": True, "paused_duration_secs": paused_for}
        )
