"""Structured logs: one JSON object a line, carrying the request, space and job of the work.

The request middleware puts the ids in context variables; `ContextFilter` copies them
onto every record logged while the request runs, whichever logger writes it. Nothing
here logs headers, bodies or query strings, where tokens and payloads travel.
"""

import json
import logging
import time
from contextvars import ContextVar
from datetime import UTC, datetime

from emitrun.redaction import redact

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
space_id: ContextVar[str | None] = ContextVar("space_id", default=None)
job_id: ContextVar[str | None] = ContextVar("job_id", default=None)

_CONTEXT = {"request_id": request_id, "space_id": space_id, "job_id": job_id}
# Attributes every LogRecord has; anything else was passed as `extra=` and is kept.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class ContextFilter(logging.Filter):
    """Adds request_id, space_id and job_id (None outside a request) to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _CONTEXT.items():
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        return True


class JsonFormatter(logging.Formatter):
    """{"time", "level", "logger", "message", ids..., extras..., "exc"} on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str))


def bind(**ids: str | None) -> None:
    """Sets ids for what is logged from here on in this context (a request, a task)."""
    for name, value in ids.items():
        _CONTEXT[name].set(value)


def clear() -> None:
    for var in _CONTEXT.values():
        var.set(None)


def access(request_method: str, route: str, status: int, started: float) -> None:
    """The one line each HTTP request writes when it ends (path pattern, not the path)."""
    logging.getLogger("emitrun.access").info(
        "%s %s %s",
        request_method,
        route,
        status,
        extra={
            "method": request_method,
            "route": route,
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )
