"""The failed-authentication budget per address (spaces/lockout.py) across processes: the
counter lives in the shared cache; a process remembers an address it found under budget
for CLEAN_SECONDS, and forgets it on the address's first failure there.
"""

import random
import time

import pytest
from django.core.cache import cache

from emitrun.errors import RateLimited
from spaces import lockout

LIMIT = 3


@pytest.fixture
def budget(settings, monkeypatch):
    settings.EMITRUN_AUTH_FAILURE_RATE = f"{LIMIT}/hour"
    monkeypatch.setattr(lockout, "CLEAN_SECONDS", 0.2)


def address() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"  # noqa: S311


def over_budget_elsewhere(ip: str) -> None:
    """What other processes' failures leave in the shared cache."""
    key, _, remaining = lockout._window(ip)
    cache.set(key, LIMIT, timeout=int(remaining) + 1)


def test_failures_here_refuse_the_address_at_once(budget):
    ip = address()
    lockout.check(ip)  # under budget: remembered as clean
    for _ in range(LIMIT):
        lockout.record_failure(ip)
    with pytest.raises(RateLimited):
        lockout.check(ip)


def test_failures_elsewhere_refuse_the_address_here_within_the_clean_window(budget):
    ip = address()
    lockout.check(ip)
    over_budget_elsewhere(ip)
    lockout.check(ip)  # still remembered as clean here
    time.sleep(0.25)
    with pytest.raises(RateLimited):
        lockout.check(ip)
    with pytest.raises(RateLimited):
        lockout.check(ip)  # an address over budget is not remembered as clean


def test_an_address_never_checked_here_is_looked_up(budget):
    ip = address()
    over_budget_elsewhere(ip)
    with pytest.raises(RateLimited):
        lockout.check(ip)
    assert lockout.check(address()) is None  # others are unaffected
