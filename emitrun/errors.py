"""Domain errors and the one flat error body of the API: {"code", "message", "details"}.

Domain code (lifecycle, actions) raises DomainError subclasses; it never imports
DRF. The exception handler below turns those and DRF's own exceptions into the
body documented in API.md, so every interface answers the same way.
"""

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

log = logging.getLogger("emitrun.errors")


class DomainError(Exception):
    """Base of every error a client may see; carries the stable machine code."""

    code = "ERROR"
    http_status = 400
    default_message = "Request failed"

    def __init__(self, message: str | None = None, details: Any = None) -> None:
        self.message = message or self.default_message
        self.details = details
        super().__init__(self.message)


class ValidationFailed(DomainError):
    code, http_status, default_message = "VALIDATION_ERROR", 400, "Invalid request"


class Unauthenticated(DomainError):
    code, http_status = "UNAUTHENTICATED", 401
    default_message = "A valid API token is required"


class Forbidden(DomainError):
    code, http_status, default_message = "FORBIDDEN", 403, "Not allowed"


class NotFound(DomainError):
    code, http_status, default_message = "NOT_FOUND", 404, "Not found"


class Conflict(DomainError):
    code, http_status, default_message = "CONFLICT", 409, "Conflict"


class JobKilled(Conflict):
    code, default_message = "JOB_KILLED", "Job was killed"


class LeaseExpired(Conflict):
    code, default_message = "LEASE_EXPIRED", "Lease expired or lease_id mismatch"


class InvalidState(Conflict):
    code, default_message = "INVALID_STATE", "Transition not allowed in the job's state"


class PayloadTooLarge(DomainError):
    code, http_status, default_message = "PAYLOAD_TOO_LARGE", 413, "Payload too large"


class RateLimited(DomainError):
    code, http_status, default_message = "RATE_LIMITED", 429, "Too many requests"

    def __init__(
        self, message: str | None = None, details: Any = None, *, retry_after: int
    ) -> None:
        super().__init__(message, details)
        self.retry_after = retry_after


class ServiceUnavailable(DomainError):
    code, http_status = "SERVICE_UNAVAILABLE", 503
    default_message = "The database is unavailable; retry shortly"


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"code": code, "message": message, "details": details}


def error_response(code: str, message: str, status: int, details: Any = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status=status)


_DRF_CODES: list[tuple[type[Exception], str]] = [
    (drf.NotAuthenticated, "UNAUTHENTICATED"),
    (drf.AuthenticationFailed, "UNAUTHENTICATED"),
    (drf.PermissionDenied, "FORBIDDEN"),
    (drf.NotFound, "NOT_FOUND"),
    (drf.MethodNotAllowed, "METHOD_NOT_ALLOWED"),
    (drf.UnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"),
    (drf.NotAcceptable, "NOT_ACCEPTABLE"),
    (drf.Throttled, "RATE_LIMITED"),
    (drf.ParseError, "VALIDATION_ERROR"),
    (drf.ValidationError, "VALIDATION_ERROR"),
]


def _drf_code(exc: drf.APIException) -> str:
    for cls, code in _DRF_CODES:
        if isinstance(exc, cls):
            return code
    return "ERROR"


def _drf_message(exc: drf.APIException) -> tuple[str, Any]:
    if isinstance(exc, drf.ValidationError):
        return "Invalid request: " + _summary(exc.detail), exc.detail
    if isinstance(exc, drf.ParseError):
        return f"Malformed JSON body: {exc.detail}", None
    return str(exc.detail), None


def _summary(detail: Any) -> str:
    """One readable line naming the failing fields, e.g. 'priority: must be <= 100'."""
    if isinstance(detail, dict):
        parts = [f"{field}: {_summary(value)}" for field, value in detail.items()]
        return "; ".join(parts)
    if isinstance(detail, list):
        return ", ".join(_summary(item) for item in detail if item)
    return str(detail)


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF exception handler: every error leaves as the flat body of API.md."""
    if isinstance(exc, DomainError):
        headers = (
            {"WWW-Authenticate": 'Bearer realm="api"'} if isinstance(exc, Unauthenticated) else None
        )
        if isinstance(exc, RateLimited):
            headers = {"Retry-After": str(exc.retry_after)}
        return Response(
            error_body(exc.code, exc.message, exc.details), status=exc.http_status, headers=headers
        )
    if isinstance(exc, Http404):
        return Response(error_body("NOT_FOUND", "Not found"), status=404)
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("PAYLOAD_TOO_LARGE", "Request body too large"), status=413)
    if isinstance(exc, OperationalError | InterfaceError):
        log.warning("database unavailable: %s", exc.__class__.__name__)
        return Response(
            error_body(ServiceUnavailable.code, ServiceUnavailable.default_message),
            status=503,
            headers={"Retry-After": "2"},
        )
    if isinstance(exc, DatabaseError):
        return None  # a real bug: let it surface as a 500
    # Imported here: rest_framework.views imports the authentication classes, which
    # import this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, drf.APIException):
        return response
    message, details = _drf_message(exc)
    if isinstance(exc, drf.Throttled):
        details = {"retry_after_seconds": exc.wait}
    response.data = error_body(_drf_code(exc), message, details)
    return response
