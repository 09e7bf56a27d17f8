"""How pooled PostgreSQL connections are checked before a request gets one.

psycopg's stock pool check sends an empty query on every checkout: one more round trip on
every API call (a worker's ack is five statements; this made it six), paid on a busy node
thousands of times a second to catch the rare connection that died in the pool, after a
database restart or a network cut. Here a connection that went back to the pool less than
DB_POOL_CHECK_AFTER seconds ago is handed out without it; one idle longer is checked as
before, and replaced when dead. A restart of PostgreSQL takes longer than that window, so
connections returned before it are checked afterwards; one that still fails mid-request
answers 503 `SERVICE_UNAVAILABLE` and the pool drops it (docs/reliability.md).

The backend in emitrun/db/ calls these: Django's own pool check (CONN_HEALTH_CHECKS)
would make the round trip every time.
"""

import time
from typing import Any

from django.conf import settings
from psycopg.pq import ConnStatus
from psycopg_pool import ConnectionPool

_IDLE_SINCE = "_emitrun_idle_since"


def returned(conn: Any) -> None:
    """Notes that the connection goes back to the pool now."""
    setattr(conn, _IDLE_SINCE, time.monotonic())


def usable(conn: Any) -> bool:
    """Whether a connection just taken from the pool may serve a request: without a round
    trip when it went back recently, else after an empty query; a dead one is closed.
    """
    if conn.pgconn.status != ConnStatus.OK:
        conn.close()
        return False
    since = getattr(conn, _IDLE_SINCE, None)
    if since is not None and time.monotonic() - since < settings.DB_POOL_CHECK_AFTER:
        return True
    try:
        ConnectionPool.check_connection(conn)
    except Exception:  # noqa: BLE001 - any failure means this connection is gone
        conn.close()
        return False
    return True
