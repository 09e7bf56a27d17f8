"""ASGI and WSGI middleware refusing request bodies over the limit before the app reads them.

Django's ASGI handler reads a whole body (to a spooled temporary file) before any view,
and DRF's parsers read it again, whatever its size, when a client sends it chunked
(no Content-Length) or lies about its length. This layer answers 413 PAYLOAD_TOO_LARGE
as soon as the declared length, or the bytes received so far, pass
DATA_UPLOAD_MAX_MEMORY_SIZE (EMITRUN_MAX_BODY_BYTES), so nothing past the limit is ever
buffered or parsed. `WsgiBodySizeLimit` does the same for the WSGI entry point (the REST
API under gunicorn, emitrun/wsgi.py).
"""

import io
import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from django.conf import settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodySizeLimit:
    """Wraps the HTTP app: buffers the body up to the limit, then hands it on."""

    def __init__(self, app: App, limit: int | None = None) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit or settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away mid-body: nothing to answer
            size += len(message.get("body", b""))
            if size > limit:
                await _refuse(send, limit)
                return
            messages.append(message)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(messages, receive), send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """Hands the buffered body to the app, then the live channel (for the disconnect)."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


def _too_large(limit: int) -> bytes:
    return json.dumps(
        {
            "code": "PAYLOAD_TOO_LARGE",
            "message": "Request body too large",
            "details": {"max_bytes": limit},
        }
    ).encode()


async def _refuse(send: Send, limit: int) -> None:
    body = _too_large(limit)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class WsgiBodySizeLimit:
    """The WSGI twin: a declared length over the limit is refused unread; a body without
    one (chunked) is read up to the limit into memory and handed on with its length set."""

    def __init__(self, app: WsgiApp, limit: int | None = None) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        limit = self.limit or settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        declared = environ.get("CONTENT_LENGTH") or ""
        if declared.strip():
            try:
                too_big = int(declared) > limit
            except ValueError:
                too_big = False  # Django answers a malformed length itself
            if too_big:
                return self._refuse(start_response, limit)
        elif "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            body = environ["wsgi.input"].read(limit + 1)
            if len(body) > limit:
                return self._refuse(start_response, limit)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)

    @staticmethod
    def _refuse(start_response: Callable[..., Any], limit: int) -> list[bytes]:
        body = _too_large(limit)
        start_response(
            "413 Payload Too Large",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Connection", "close"),
            ],
        )
        return [body]
