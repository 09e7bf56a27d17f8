"""Spooled's realtime over HTTP (spooled-sdk-contract §1.3, §5.4).

- POST /auth/login {api_key} -> {access_token, refresh_token, token_type, expires_in,
  refresh_expires_in}: opaque signed tokens naming the API token (the SDK treats a
  non-JWT as "log in again on every reconnect"). POST /auth/refresh {refresh_token}
  -> {access_token, token_type, expires_in}. A revoked API token invalidates both.
- GET /events[?queue=] and /events/jobs/{id}: Server-Sent Events of the token's space
  (jobs:read) as `data: {"type", "data"}` frames, tailed from the database so they
  cross processes without the channel layer, `: ping` when idle. A job's stream ends
  after a final JobStatusChange.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from emitrun import realtime
from emitrun.env import env_int
from emitrun.errors import (
    Forbidden,
    NotFound,
    RateLimited,
    Unauthenticated,
    ValidationFailed,
    error_response,
)
from jobs import consumers
from jobs.consumers import Access, Denied
from spaces.authentication import authenticate_secret
from spaces.models import ApiToken

REFRESH_TTL = env_int("EMITRUN_REALTIME_REFRESH_SECONDS", 7 * 86400, minimum=60)
SSE_PING_EVERY = 15.0  # the SDK's read timeout is 60 s
SSE_POLL = 0.5

_DENIED = {
    consumers.CLOSE_UNAUTHENTICATED: Unauthenticated,
    consumers.CLOSE_FORBIDDEN: Forbidden,
    consumers.CLOSE_NOT_FOUND: NotFound,
}


def _field(request: Request, name: str) -> str:
    value = request.data.get(name) if isinstance(request.data, dict) else None
    if not isinstance(value, str) or not value:
        raise ValidationFailed(f"{name} is required", {name: ["This field is required."]})
    return value


_TOKENS = {
    "access_token": serializers.CharField(),
    "token_type": serializers.CharField(),
    "expires_in": serializers.IntegerField(),
}


class LoginView(APIView):
    """POST /auth/login: an API key for realtime tokens."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=inline_serializer("LoginIn", {"api_key": serializers.CharField()}),
        responses=inline_serializer(
            "LoginOut",
            {
                **_TOKENS,
                "refresh_token": serializers.CharField(),
                "refresh_expires_in": serializers.IntegerField(),
            },
        ),
    )
    def post(self, request: Request) -> Response:
        token = authenticate_secret(
            _field(request, "api_key"), client=request.META.get("REMOTE_ADDR")
        )
        return Response(
            {
                **_access(token),
                "refresh_token": realtime.sign_token(token.pk, salt=realtime.REFRESH_SALT),
                "refresh_expires_in": REFRESH_TTL,
            }
        )


class RefreshView(APIView):
    """POST /auth/refresh: a refresh token for a new access token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=inline_serializer("RefreshIn", {"refresh_token": serializers.CharField()}),
        responses=inline_serializer("RefreshOut", _TOKENS),
    )
    def post(self, request: Request) -> Response:
        value = _field(request, "refresh_token")
        pk = realtime.unsign_token(value, salt=realtime.REFRESH_SALT, max_age=REFRESH_TTL)
        token = ApiToken.objects.filter(pk=pk).first() if pk else None
        if token is None or not token.is_active:
            raise Unauthenticated("Invalid or expired refresh token")
        return Response(_access(token))


def _access(token: ApiToken) -> dict:
    return {
        "access_token": realtime.sign_token(token.pk, salt=realtime.ACCESS_SALT),
        "token_type": "Bearer",
        "expires_in": consumers.ACCESS_TTL,
    }


def _authorise(request: HttpRequest, job_id: str | None) -> Access:
    """The reader's access from `Authorization: Bearer`; raises a DomainError."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated()
    token = consumers.token_for(value.strip(), client=request.META.get("REMOTE_ADDR"))
    try:
        access = consumers.token_access(token, space_id=str(token.space_id), job_id=job_id)
    except Denied as exc:
        raise _DENIED[exc.code]() from None
    if access.progress_only:
        raise Forbidden("This token lacks the jobs:read scope")
    return access


async def events(request: HttpRequest, job_id: str | None = None) -> HttpResponse:
    """GET /events and /events/jobs/{id}: the SSE stream (see the module docstring)."""
    try:
        access = await sync_to_async(_authorise)(request, job_id)
    except RateLimited as exc:
        response = error_response(exc.code, exc.message, exc.http_status, exc.details)
        response["Retry-After"] = str(exc.retry_after)
        return response
    except (Unauthenticated, Forbidden, NotFound) as exc:
        return error_response(exc.code, exc.message, exc.http_status)
    queue = request.GET.get("queue") or None
    response = StreamingHttpResponse(_frames(access, queue), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx must not hold frames back
    return response


async def _frames(access: Access, queue: str | None) -> AsyncIterator[str]:
    cursor, _ = await sync_to_async(consumers.snapshot)(access)
    yield ": connected\n\n"  # sends the headers at once
    idle_since = time.monotonic()
    names: dict[str, str | None] = {}  # job id -> queue name, read once per job
    while True:
        await asyncio.sleep(SSE_POLL)
        page = await sync_to_async(consumers.events_after)(access, cursor)
        for msg in page:
            cursor = msg["seq"]
            if msg["job_id"] not in names:
                names[msg["job_id"]] = await sync_to_async(consumers.queue_of)(msg["job_id"])
            name = names[msg["job_id"]]
            if queue is not None and name != queue:
                continue
            for frame in realtime.spooled_frames(msg, name):
                idle_since = time.monotonic()
                yield f"data: {json.dumps(frame)}\n\n"
                if access.job_id is not None and _final(frame):
                    return
        if time.monotonic() - idle_since >= SSE_PING_EVERY:
            idle_since = time.monotonic()
            yield ": ping\n\n"


def _final(frame: dict) -> bool:
    return (
        frame["type"] == "JobStatusChange" and frame["data"]["new_status"] in realtime.SPOOLED_FINAL
    )


# Included by emitrun/urls.py beside (not inside) the token-scoped REST API: login and
# refresh take an API key in the body, the event streams authorise themselves.
urlpatterns = [
    path("api/v1/auth/login", LoginView.as_view()),
    path("api/v1/auth/refresh", RefreshView.as_view()),
    path("api/v1/events", events),
    path("api/v1/events/jobs/<str:job_id>", events),
]
