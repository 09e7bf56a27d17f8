"""The failed-authentication budget per address (spaces/lockout.py) across processes: the
counter lives in the shared cache; a process remembers an address it found under budget
for CLEAN_SECONDS, and forgets it on the address's first failure there.
"""

import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache import cache, caches

from emitrun import cache as shared_cache
from emitrun.cache import SharedClientRedisCache
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


# --- The shared counter every throttle counts with (emitrun/cache.py) ----------------------


def _redis_client(key: str):
    assert isinstance(caches["default"], SharedClientRedisCache)  # tests run on Redis
    return cache._cache.get_client(cache.make_and_validate_key(key), write=True)


def test_count_adds_one_per_call_and_the_counter_expires():
    key = f"test:count:{uuid.uuid4().hex}"
    assert [shared_cache.count(key, timeout=30) for _ in range(3)] == [1, 2, 3]
    assert cache.get(key) == 3  # readable as the plain int Django's cache stores
    ttl = _redis_client(key).ttl(cache.make_and_validate_key(key))
    assert 0 < ttl <= 30


def test_count_gives_a_counter_left_without_expiry_one():
    """A key whose expiry was lost (INCR on a key that had just expired) would count for
    ever; the next count gives it the window's timeout again.
    """
    key = f"test:count:{uuid.uuid4().hex}"
    client = _redis_client(key)
    client.set(cache.make_and_validate_key(key), 7)  # no TTL
    assert shared_cache.count(key, timeout=30) == 8
    assert 0 < client.ttl(cache.make_and_validate_key(key)) <= 30


def test_concurrent_counts_lose_no_increment():
    key = f"test:count:{uuid.uuid4().hex}"
    with ThreadPoolExecutor(8) as pool:
        seen = list(pool.map(lambda _: shared_cache.count(key, timeout=30), range(200)))
    assert sorted(seen) == list(range(1, 201))
