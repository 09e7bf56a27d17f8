import time

import pytest

from tests.chaos.harness import seed_space, wait_until
from tests.chaos.load import Ledger, Load

JOBS = 120
RECOVERY_BOUND_SECONDS = 120  # docs/reliability.md


@pytest.mark.timeout(600)
def test_the_api_server_killed_mid_load_loses_and_doubles_nothing(stack):
    space_id, secret = seed_space(stack, "api-killed", delivery_timeout=10)
    api = stack.api()
    stack.worker()
    stack.beat()
    load = Load(api.base, secret, space_id, "burst", JOBS).start()
    assert wait_until(lambda: len(load.acknowledged) >= JOBS // 3, 120)
    in_flight = Ledger.read(stack, space_id).unfinished()
    port = int(api.base.rsplit(":", 1)[1])
    api.kill()
    killed_at = time.monotonic()
    time.sleep(1)
    stack.api(port=port)

    assert load.producers_done(180), load.statuses
    assert wait_until(lambda: Ledger.read(stack, space_id).unfinished() == 0, 180), load.statuses
    recovered_in = time.monotonic() - killed_at
    load.finish()

    ledger = Ledger.read(stack, space_id)
    assert in_flight > 0
    assert len(load.acknowledged) == JOBS
    assert len(ledger.by_id) == JOBS
    assert ledger.lost(load) == 0
    assert ledger.doubled() == 0
    assert recovered_in < RECOVERY_BOUND_SECONDS
    failures = {k: n for k, n in load.statuses.items() if k[0] not in (200, 201, 409)}
    # Only the connections cut by the kill fail, never with a 5xx answer.
    assert all(isinstance(status, str) for status, _ in failures), failures
