"""A short-lived, per-process cache of verified API tokens (with their space loaded).

Every API request presents its token; looking it up joins four tables. Tokens change
rarely, so a verified token is kept for EMITRUN_TOKEN_CACHE_SECONDS (0 turns the cache
off). Revoking a token or changing its space evicts the space's entries at once in the
process that made the change and, after commit, in every other process through
PostgreSQL NOTIFY (the wake-up listener relays it); the time limit bounds how stale an
entry can be should a notification be lost. Keys are the secrets' SHA-256 hashes, never
the secrets.
"""

import logging
import threading
import time
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction

from spaces.models import ApiToken

log = logging.getLogger("emitrun.tokens")
CHANNEL = "emitrun_tokens"
MAX_ENTRIES = 10_000

_lock = threading.Lock()
_entries: dict[str, tuple[ApiToken, float]] = {}


def get(secret_hash: str) -> ApiToken | None:
    """The cached token for this hash, if still fresh."""
    entry = _entries.get(secret_hash)
    if entry is None:
        return None
    token, until = entry
    if time.time() >= until:
        with _lock:
            _entries.pop(secret_hash, None)
        return None
    return token


def put(secret_hash: str, token: ApiToken) -> None:
    seconds = settings.EMITRUN_TOKEN_CACHE_SECONDS
    if seconds <= 0:
        return
    from jobs import wakeup  # the listener relays evictions from other processes

    wakeup.ensure_listener()
    with _lock:
        if len(_entries) >= MAX_ENTRIES:
            _entries.pop(next(iter(_entries)))  # the oldest entry
        _entries[secret_hash] = (token, time.time() + seconds)


def forget_space(space_id: UUID | str) -> None:
    """Evicts the space's tokens here now, and in every process once the change commits."""
    key = str(space_id)
    evict(key)
    if settings.IS_POSTGRES:
        transaction.on_commit(lambda: _notify(key))


def evict(space_id: str) -> None:
    """Drops this process's entries of the space ("*": all of them)."""
    with _lock:
        for secret_hash, (token, _) in list(_entries.items()):
            if space_id == "*" or str(token.space_id) == space_id:
                _entries.pop(secret_hash, None)


def _notify(space_id: str) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, space_id])
    except Exception:
        log.warning("could not announce a token change of space %s", space_id, exc_info=True)
