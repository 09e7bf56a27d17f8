"""Throttling of failed authentication per client address (brute force, credential stuffing).

A fixed window counted in the shared cache: once an address has failed
EMITRUN_AUTH_FAILURE_RATE times in the current window, every further attempt from it is
refused with 429 RATE_LIMITED and `Retry-After` (close code 4429 on a WebSocket) until the
window ends, before any token is looked up, so a correct guess inside the window is not
revealed either. The address is the connection's peer (REMOTE_ADDR): behind a proxy, have
it set the peer address (e.g. uvicorn --proxy-headers with trusted --forwarded-allow-ips).
A cache outage turns the throttle off rather than the API.

An address found under its budget is remembered as such in this process for
CLEAN_SECONDS, so a busy worker's requests do not each cost a cache round trip; a
failure from it in this process forgets that at once. An address pushed over its budget
through other processes is refused here within CLEAN_SECONDS.
"""

import logging
import time

from django.conf import settings
from django.core.cache import cache

from emitrun import cache as shared_cache
from emitrun.errors import RateLimited
from spaces.rates import parse_rate

log = logging.getLogger(__name__)

CLEAN_SECONDS = 1.0
_MAX_CLEAN = 10_000
_clean: dict[str, float] = {}  # address -> until when (monotonic) it is known under budget


def _window(client: str) -> tuple[str, int, float] | None:
    """(cache key, limit, seconds until the window ends), or None when throttling is off."""
    limit = parse_rate(settings.EMITRUN_AUTH_FAILURE_RATE)
    if limit is None or not client:
        return None
    count, period = limit
    now = time.time()
    window = int(now // period)
    return f"authfail:{client}:{window}", count, (window + 1) * period - now


def check(client: str | None) -> None:
    """Raises RateLimited when `client` is over its failure budget for this window."""
    address = client or ""
    spec = _window(address)
    if spec is None:
        return
    now = time.monotonic()
    if _clean.get(address, 0.0) > now:
        return
    key, limit, remaining = spec
    try:
        failures = cache.get(key, 0)
    except Exception:  # noqa: BLE001 - a cache outage must not take authentication down
        return
    if failures < limit:
        if len(_clean) >= _MAX_CLEAN:
            _clean.clear()
        _clean[address] = now + CLEAN_SECONDS
        return
    wait = max(1, round(remaining))
    raise RateLimited(
        f"Too many failed authentication attempts; retry in {wait} s",
        {"retry_after_seconds": wait},
        retry_after=wait,
    )


def record_failure(client: str | None) -> None:
    """Counts one failed attempt of `client` in the current window."""
    address = client or ""
    spec = _window(address)
    if spec is None:
        return
    _clean.pop(address, None)
    key, limit, remaining = spec
    try:
        failures = shared_cache.count(key, timeout=int(remaining) + 1)
    except Exception:  # noqa: BLE001
        return
    if failures == limit:
        log.warning("authentication failures from %s reached %d; throttled", client, limit)
