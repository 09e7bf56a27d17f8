"""Request ids on every response, and JSON (never HTML) errors under /api/."""

import logging
import re
import uuid
from collections.abc import Callable

from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

from emitrun.errors import ServiceUnavailable, error_response

log = logging.getLogger("emitrun.request")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """Takes a sane X-Request-Id from the client or makes one; echoes it back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-Id", "")
        request.request_id = incoming if _CLIENT_ID.match(incoming) else uuid.uuid4().hex
        response = self.get_response(request)
        response["X-Request-Id"] = request.request_id
        return response


class ApiErrorMiddleware:
    """Errors escaping a view under /api/ become the flat JSON body, even with DEBUG on."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not request.path.startswith("/api/"):
            return None
        if isinstance(exc, RequestDataTooBig):
            return error_response("PAYLOAD_TOO_LARGE", "Request body too large", 413)
        if isinstance(exc, OperationalError | InterfaceError):
            log.warning("database unavailable on %s %s", request.method, request.path)
            response = error_response(
                ServiceUnavailable.code, ServiceUnavailable.default_message, 503
            )
            response["Retry-After"] = "2"
            return response
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(
            "INTERNAL_ERROR",
            "Internal server error",
            500,
            {"request_id": getattr(request, "request_id", None)},
        )
