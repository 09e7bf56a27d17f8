"""Health endpoints: /health (summary), /health/live (the process), /health/ready (its
dependencies: the database, and Redis when configured).
"""

import time

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

_STARTED = time.monotonic()
VERSION = "1.0.0"


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 - any failure means not ready
        return False


def _redis_ok() -> bool | None:
    if not settings.REDIS_URL:
        return None
    import redis

    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1
        )
        return bool(client.ping())
    except Exception:  # noqa: BLE001
        return False


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    db, cache = _database_ok(), _redis_ok()
    ok = db and cache is not False
    return JsonResponse(
        {
            "status": "healthy" if ok else "degraded",
            "version": VERSION,
            "database": db,
            "cache": cache,
            "uptime_seconds": int(time.monotonic() - _STARTED),
        },
        status=200 if ok else 503,
    )


@require_GET
def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    db, cache = _database_ok(), _redis_ok()
    ok = db and cache is not False
    return JsonResponse(
        {"status": "ready" if ok else "unavailable", "database": db, "cache": cache},
        status=200 if ok else 503,
    )
