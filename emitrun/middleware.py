"""Request ids on every response, the request's log context and metrics, and JSON (never
HTML) errors under /api/.
"""

import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.handlers.exception import convert_exception_to_response
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

from emitrun import logs, metrics
from emitrun.errors import ServiceUnavailable, error_response

log = logging.getLogger("emitrun.request")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """Takes a sane X-Request-Id from the client or makes one; echoes it back. The id, and
    the space and job the route names, go on every log line of the request; its latency
    goes to the metrics and the access log.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        incoming = request.headers.get("X-Request-Id", "")
        request.request_id = incoming if _CLIENT_ID.match(incoming) else uuid.uuid4().hex
        logs.clear()
        logs.bind(request_id=request.request_id)
        try:
            response = self.get_response(request)
            response["X-Request-Id"] = request.request_id
            self._finish(request, response.status_code, started)
            return response
        finally:
            logs.clear()

    def process_view(self, request: HttpRequest, view: Callable, args: tuple, kwargs: dict) -> None:
        logs.bind(space_id=_id(kwargs.get("space_id")), job_id=_id(kwargs.get("job_id")))

    @staticmethod
    def _finish(request: HttpRequest, status: int, started: float) -> None:
        if logs.space_id.get() is None:  # a token's routes that name no space
            token = getattr(request, "auth", None)
            logs.bind(space_id=str(getattr(token, "space_id", "") or "") or None)
        metrics.observe_request(request, status, time.perf_counter() - started)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None and match.route else "unmatched"
        logs.access(request.method or "", route, status, started)


def _id(raw: object) -> str | None:
    return raw if isinstance(raw, str) and _CLIENT_ID.match(raw) else None


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


class BrowserMiddleware:
    """The dashboard's own middleware (settings.BROWSER_MIDDLEWARE: sessions, CSRF, the
    signed-in user, messages, htmx), run in that order for every path except the API under
    /api/, which authenticates by token and uses none of it: on a worker's ack those five
    layers were a tenth of the request's Python.

    They are loaded as Django loads MIDDLEWARE, and their process_view /
    process_exception / process_template_response hooks run from here, for browser
    paths only.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._views: list[Callable] = []
        self._exceptions: list[Callable] = []
        self._templates: list[Callable] = []
        handler: Callable[[HttpRequest], HttpResponse] = get_response
        for path in reversed(settings.BROWSER_MIDDLEWARE):
            mw = import_string(path)(handler)
            if hasattr(mw, "process_view"):
                self._views.insert(0, mw.process_view)
            if hasattr(mw, "process_template_response"):
                self._templates.append(mw.process_template_response)
            if hasattr(mw, "process_exception"):
                self._exceptions.append(mw.process_exception)
            handler = convert_exception_to_response(mw)
        self.browser = handler

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _api(request):
            return self.get_response(request)
        return self.browser(request)

    def process_view(
        self, request: HttpRequest, view: Callable, args: tuple, kwargs: dict
    ) -> HttpResponse | None:
        if _api(request):
            return None
        for hook in self._views:
            response = hook(request, view, args, kwargs)
            if response is not None:
                return response
        return None

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if _api(request):
            return None
        for hook in self._exceptions:
            response = hook(request, exc)
            if response is not None:
                return response
        return None

    def process_template_response(self, request: HttpRequest, response: Any) -> Any:
        if _api(request):
            return response
        for hook in self._templates:
            response = hook(request, response)
        return response


def _api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")
