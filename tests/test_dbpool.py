"""Pooled connections (emitrun/dbpool.py, emitrun/db/): one back in the pool recently is
handed out without a round trip; one idle longer is checked, and replaced when dead.
"""

import time

import psycopg
import pytest
from django.db import connection

from emitrun import dbpool

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def observer():
    """A second connection to the test database, to watch the first one's backend."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    with psycopg.connect(**params, autocommit=True) as conn:
        yield conn


def last_statement(observer: psycopg.Connection, pid: int) -> str:
    row = observer.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
    return row[0]


def taken(observer: psycopg.Connection) -> psycopg.Connection:
    connection.ensure_connection()
    conn = connection.connection
    conn.execute("SELECT 'marker'")
    assert last_statement(observer, conn.info.backend_pid) == "SELECT 'marker'"
    return conn


def test_the_backend_is_ours_and_pooled():
    assert connection.settings_dict["ENGINE"] == "emitrun.db"
    assert connection.pool is not None


def test_a_connection_back_recently_is_handed_out_without_a_round_trip(observer, settings):
    settings.DB_POOL_CHECK_AFTER = 60
    conn = taken(observer)
    dbpool.returned(conn)
    assert dbpool.usable(conn)
    assert last_statement(observer, conn.info.backend_pid) == "SELECT 'marker'"


def test_a_connection_idle_past_the_window_is_checked(observer, settings):
    settings.DB_POOL_CHECK_AFTER = 0.05
    conn = taken(observer)
    dbpool.returned(conn)
    time.sleep(0.1)
    assert dbpool.usable(conn)
    assert last_statement(observer, conn.info.backend_pid) == ""  # psycopg's empty query


def test_a_dead_connection_idle_past_the_window_is_closed_and_refused(observer, settings):
    settings.DB_POOL_CHECK_AFTER = 0.05
    conn = taken(observer)
    dbpool.returned(conn)
    observer.execute("SELECT pg_terminate_backend(%s)", [conn.info.backend_pid])
    time.sleep(0.1)
    assert not dbpool.usable(conn)
    assert conn.closed
    connection.connection = None  # Django's handle on it is gone with it


def test_requests_after_pooled_connections_died_get_fresh_ones(observer, settings, api):
    """The database dropped every connection (a restart): once past the window, the next
    requests are served on new connections instead of failing.
    """
    settings.DB_POOL_CHECK_AFTER = 0.05
    assert api.admin.get("/api/v1/jobs").status_code == 200
    connection.close()  # back to the pool, as at the end of a request
    observer.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    time.sleep(0.1)
    for _ in range(3):
        r = api.admin.get("/api/v1/jobs")
        assert r.status_code == 200, r.content
