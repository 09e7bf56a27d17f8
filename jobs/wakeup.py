"""Wakes long-polling workers when a job of their space becomes pending.

Within a process, waiters sleep on a Condition per space. Across processes (several
ASGI/WSGI nodes, Celery promoting scheduled jobs) PostgreSQL LISTEN/NOTIFY carries
the signal: each process runs one listener thread that relays notifications to its
waiters. On SQLite only the in-process signal exists; pollers also re-check every
second, which bounds how late a cross-process wake can be.
"""

import logging
import threading
import time
from uuid import UUID

from django.conf import settings
from django.db import connection

log = logging.getLogger("emitrun.wakeup")
CHANNEL = "emitrun_wake"

_lock = threading.Lock()
_conditions: dict[str, threading.Condition] = {}
_versions: dict[str, int] = {}
_listener: threading.Thread | None = None


def _condition(key: str) -> threading.Condition:
    with _lock:
        cond = _conditions.get(key)
        if cond is None:
            cond = _conditions[key] = threading.Condition()
            _versions[key] = 0
        return cond


def version(space_id: UUID | str) -> int:
    """A counter that moves on each wake; read it before checking for work."""
    key = str(space_id)
    _condition(key)
    return _versions[key]


def wait(space_id: UUID | str, seen: int, timeout: float) -> bool:
    """Sleeps until the space is woken after `seen`, or `timeout` passes. True if woken."""
    _ensure_listener()
    key = str(space_id)
    cond = _condition(key)
    with cond:
        return cond.wait_for(lambda: _versions[key] != seen, timeout=timeout)


def _wake_local(key: str) -> None:
    cond = _condition(key)
    with cond:
        _versions[key] += 1
        cond.notify_all()


def notify(space_id: UUID | str) -> None:
    """Signals waiters of the space in this process and, on PostgreSQL, in every other."""
    key = str(space_id)
    _wake_local(key)
    if not settings.IS_POSTGRES:
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, key])
    except Exception:
        log.warning("could not send wake-up for space %s", key, exc_info=True)


def _ensure_listener() -> None:
    global _listener
    if not settings.IS_POSTGRES or (_listener is not None and _listener.is_alive()):
        return
    with _lock:
        if _listener is None or not _listener.is_alive():
            _listener = threading.Thread(target=_listen_forever, name="emitrun-wakeup", daemon=True)
            _listener.start()


def _listen_forever() -> None:
    import psycopg

    db = settings.DATABASES["default"]
    params = {
        "dbname": db["NAME"],
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "connect_timeout": 5,
    }
    if connection.settings_dict.get("NAME"):
        params["dbname"] = connection.settings_dict["NAME"]  # the test database in tests
    delay = 0.5
    while True:
        try:
            with psycopg.connect(autocommit=True, **{k: v for k, v in params.items() if v}) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                delay = 0.5
                for note in conn.notifies():
                    _wake_local(note.payload)
        except Exception:
            log.warning("wake-up listener lost its connection; reconnecting", exc_info=True)
            time.sleep(delay)
            delay = min(delay * 2, 10)
