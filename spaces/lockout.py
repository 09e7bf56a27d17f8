"""Throttling of failed authentication per client address (brute force, credential stuffing).

A fixed window counted in the shared cache: once an address has failed
EMITRUN_AUTH_FAILURE_RATE times in the current window, every further attempt from it is
refused with 429 RATE_LIMITED and `Retry-After` (close code 4429 on a WebSocket) until the
window ends, before any token is looked up, so a correct guess inside the window is not
revealed either. The address is the connection's peer (REMOTE_ADDR): behind a proxy, have
it set the peer address (e.g. uvicorn --proxy-headers with trusted --forwarded-allow-ips).
A cache outage turns the throttle off rather than the API.
"""

import logging
import time

from django.conf import settings
from django.core.cache import cache

from emitrun.errors import RateLimited
from spaces.rates import parse_rate

log = logging.getLogger(__name__)


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
    spec = _window(client or "")
    if spec is None:
        return
    key, limit, remaining = spec
    try:
        failures = cache.get(key, 0)
    except Exception:  # noqa: BLE001 - a cache outage must not take authentication down
        return
    if failures >= limit:
        wait = max(1, round(remaining))
        raise RateLimited(
            f"Too many failed authentication attempts; retry in {wait} s",
            {"retry_after_seconds": wait},
            retry_after=wait,
        )


def record_failure(client: str | None) -> None:
    """Counts one failed attempt of `client` in the current window."""
    spec = _window(client or "")
    if spec is None:
        return
    key, limit, remaining = spec
    try:
        cache.add(key, 0, timeout=int(remaining) + 1)
        failures = cache.incr(key)
    except Exception:  # noqa: BLE001
        return
    if failures == limit:
        log.warning("authentication failures from %s reached %d; throttled", client, limit)
