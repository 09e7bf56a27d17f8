import time

import httpx
import pytest

from tests.chaos.harness import seed_space, wait_until
from tests.chaos.load import Ledger, Load

JOBS = 120
DOWN_SECONDS = 5
ANSWER_BOUND_SECONDS = 12  # the slowest answer while the database is down
RECONNECT_BOUND_SECONDS = 10  # from the database's return to the next successful create


@pytest.mark.timeout(600)
def test_postgres_restarted_under_load_answers_503_then_reconnects_and_loses_nothing(stack):
    space_id, secret = seed_space(stack, "pg-restart", delivery_timeout=10)
    api = stack.api()
    stack.worker()
    stack.beat()
    load = Load(api.base, secret, space_id, "pgload", JOBS).start()
    assert wait_until(lambda: len(load.acknowledged) >= JOBS // 3, 120)
    in_flight = Ledger.read(stack, space_id).unfinished()
    stack.pg.stop("fast")
    with api.client(secret, timeout=30) as http:
        started = time.monotonic()
        down = http.get("/jobs")
        took = time.monotonic() - started
    time.sleep(DOWN_SECONDS)
    stack.pg.start()
    back_at = time.monotonic()
    with api.client(secret, timeout=30) as http:
        assert wait_until(
            lambda: http.post("/jobs", json={"name": "pgload"}).status_code == 201, 30
        )
    reconnected_in = time.monotonic() - back_at

    assert (down.status_code, down.json()["code"]) == (503, "SERVICE_UNAVAILABLE")
    assert down.headers["Retry-After"]
    assert took < ANSWER_BOUND_SECONDS
    assert reconnected_in < RECONNECT_BOUND_SECONDS
    assert load.producers_done(180), load.statuses
    assert wait_until(lambda: Ledger.read(stack, space_id).unfinished() == 0, 180), load.statuses
    load.finish()

    ledger = Ledger.read(stack, space_id)
    assert in_flight > 0
    assert ledger.lost(load) == 0
    assert ledger.doubled() == 0
    assert len(ledger.by_id) == JOBS + 1  # and the probe
    bad = {k: n for k, n in load.statuses.items() if k[0] not in (200, 201, 409, 503)}
    assert not bad, bad  # no 500, no HTML, no cut connection
    assert (503, "SERVICE_UNAVAILABLE") in load.statuses
    assert load.slowest_error < ANSWER_BOUND_SECONDS


def test_health_ready_reports_the_database_down(stack):
    api = stack.api()
    stack.pg.stop("fast")
    try:
        r = httpx.get(f"{api.base}/health/ready", timeout=20)
    finally:
        stack.pg.start()
    assert r.status_code == 503
    assert r.json()["database"] is False
