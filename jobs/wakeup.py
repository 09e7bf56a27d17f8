"""Wakes long-polling workers when a job of their space becomes pending.

Within a process, waiters sleep on a Condition per space. Across processes (several
ASGI/WSGI nodes, Celery promoting scheduled jobs) PostgreSQL LISTEN/NOTIFY carries
the signal: each process runs one listener thread that relays notifications to its
waiters. On SQLite only the in-process signal exists; pollers also re-check every
second, which bounds how late a cross-process wake can be.

No thundering herd: n new jobs wake at most n waiters (one wake, one claimer), not all
of them, and only waiters whose queue names take the jobs. The process that made the
jobs claimable wakes its own waiters first and notifies the other processes only of the
jobs it had no waiter for. A waiter that was not woken still sees the version move the
next time it checks, and long-polls re-check every second, so nothing is lost. The same listener relays API token
evictions (spaces/token_cache.py) on its second channel.
"""

import logging
import os
import threading
import uuid
from dataclasses import dataclass, field
from uuid import UUID

from django.conf import settings
from django.db import connection

from spaces import token_cache

log = logging.getLogger("emitrun.wakeup")
CHANNEL = "emitrun_wake"

_lock = threading.Lock()
_waiting: dict[str, list["_Waiter"]] = {}
_versions: dict[str, int] = {}
_listener: threading.Thread | None = None
_stop = threading.Event()
_draining = threading.Event()


@dataclass(eq=False)
class _Waiter:
    """One long-poll asleep on a space: the queue names it takes (None: any)."""

    names: frozenset[str] | None
    event: threading.Event = field(default_factory=threading.Event)

    def takes(self, name: str | None) -> bool:
        return self.names is None or name is None or name in self.names


def version(space_id: UUID | str) -> int:
    """A counter that moves on each wake; read it before checking for work."""
    return _versions.get(str(space_id), 0)


def wait(space_id: UUID | str, seen: int, timeout: float, names: list[str] | None = None) -> bool:
    """Sleeps until a job of the space (of one of `names`, if given) may be waiting after
    `seen`, or `timeout` passes. True if woken.
    """
    ensure_listener()
    key = str(space_id)
    waiter = _Waiter(frozenset(names) if names else None)
    with _lock:
        if _versions.get(key, 0) != seen or _draining.is_set():
            return True
        _waiting.setdefault(key, []).append(waiter)
    try:
        return waiter.event.wait(timeout)
    finally:
        with _lock:
            queue = _waiting.get(key)
            if queue is not None and waiter in queue:
                queue.remove(waiter)
            if not queue:
                _waiting.pop(key, None)


def drain() -> None:
    """The process is stopping: every long-poll returns now, empty, and new ones do not wait
    (the server's graceful shutdown then finishes them instead of cutting them off).
    """
    _draining.set()
    with _lock:
        waiters = [w for queue in _waiting.values() for w in queue]
        _waiting.clear()
    for waiter in waiters:
        waiter.event.set()


def draining() -> bool:
    return _draining.is_set()


def _wake_local(key: str, count: int = 1, name: str | None = None) -> int:
    """Wakes up to `count` of this process's waiters that take `name`, longest waiting
    first. Returns how many were woken.
    """
    with _lock:
        _versions[key] = _versions.get(key, 0) + 1
        queue = _waiting.get(key, [])
        woken = [w for w in queue if w.takes(name)][:count]
        for waiter in woken:
            queue.remove(waiter)
    for waiter in woken:
        waiter.event.set()
    return len(woken)


def notify(space_id: UUID | str, count: int = 1, name: str | None = None) -> None:
    """`count` jobs of the space (of queue `name`) became claimable: wakes as many waiters
    of this process, and on PostgreSQL asks the other processes for the rest only, so a
    job is not chased by a waiter in every process.
    """
    key = str(space_id)
    woken = _wake_local(key, count, name)
    if not settings.IS_POSTGRES or woken >= count:
        return
    payload = f"{key} {count - woken} {_origin()} {name or ''}"
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, payload])
    except Exception:
        log.warning("could not send wake-up for space %s", key, exc_info=True)


def ensure_listener() -> None:
    """Starts this process's listener thread (PostgreSQL only) unless it runs."""
    global _listener
    if not settings.IS_POSTGRES or (_listener is not None and _listener.is_alive()):
        return
    with _lock:
        if _listener is None or not _listener.is_alive():
            _stop.clear()
            _listener = threading.Thread(target=_listen_forever, name="emitrun-wakeup", daemon=True)
            _listener.start()


def stop(timeout: float = 5.0) -> None:
    """Ends this process's listener and closes its connection (shutdown, end of tests)."""
    global _listener
    _stop.set()
    if _listener is None:
        return
    import psycopg

    try:  # wakes the listener at once, wherever it waits
        with psycopg.connect(autocommit=True, **_connect_params()) as conn:
            conn.execute("SELECT pg_notify(%s, '')", [CHANNEL])
    except psycopg.Error:
        log.warning("could not wake the listener to stop it", exc_info=True)
    _listener.join(timeout)
    _listener = None


def _connect_params() -> dict[str, object]:
    db = connection.settings_dict  # the test database's name in tests
    params = {
        "dbname": db["NAME"],
        "user": db.get("USER"),
        "password": db.get("PASSWORD"),
        "host": db.get("HOST"),
        "port": db.get("PORT"),
        "connect_timeout": 5,
    }
    return {key: value for key, value in params.items() if value}


def _listen_forever() -> None:
    import psycopg

    params = _connect_params()
    delay = 0.5
    while not _stop.is_set():
        try:
            with psycopg.connect(autocommit=True, **params) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                conn.execute(f"LISTEN {token_cache.CHANNEL}")
                delay = 0.5
                while not _stop.is_set():
                    # A timeout lets the loop notice stop() within a second.
                    for note in conn.notifies(timeout=1.0):
                        if _stop.is_set():
                            return
                        _dispatch(note.channel, note.payload)
        except Exception:
            log.warning("wake-up listener lost its connection; reconnecting", exc_info=True)
            _stop.wait(delay)
            delay = min(delay * 2, 10)


def _dispatch(channel: str, payload: str) -> None:
    if not payload:
        return
    if channel == token_cache.CHANNEL:
        token_cache.evict(payload)
        return
    key, _, rest = payload.partition(" ")
    count, _, rest = rest.partition(" ")
    origin, _, name = rest.partition(" ")
    if origin == _origin():
        return  # this process woke its own waiters when it sent the notification
    _wake_local(key, int(count) if count.isdigit() else 1, name or None)


_origin_of: tuple[int, str] = (0, "")


def _origin() -> str:
    """This process's name on the channel; made anew after a fork."""
    global _origin_of
    if _origin_of[0] != os.getpid():
        _origin_of = (os.getpid(), uuid.uuid4().hex[:12])
    return _origin_of[1]
