"""Throttling of failed sign-ins, per client address and per email, in the cache (Redis
when REDIS_URL is set, so every web process shares the counters).

Counters live in fixed windows of EMITRUN_SIGNIN_WINDOW_SECONDS: once an address or an
email has that many failures in the current window, sign-in is refused (429) without
checking the password until the window ends. Keys hold a hash of the email, never the
email itself.
"""

import hashlib
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


def _keys(request: HttpRequest, email: str) -> list[tuple[str, int]]:
    window = int(time.time()) // settings.EMITRUN_SIGNIN_WINDOW_SECONDS
    ip = request.META.get("REMOTE_ADDR", "")
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return [
        (f"signin-fail:ip:{ip}:{window}", settings.EMITRUN_SIGNIN_FAILURES_PER_IP),
        (f"signin-fail:email:{digest}:{window}", settings.EMITRUN_SIGNIN_FAILURES_PER_EMAIL),
    ]


def retry_after(request: HttpRequest, email: str) -> int:
    """Seconds until this client may try again for this email; 0 when not throttled."""
    counts = cache.get_many([key for key, _ in _keys(request, email)])
    if all(counts.get(key, 0) < limit for key, limit in _keys(request, email)):
        return 0
    window = settings.EMITRUN_SIGNIN_WINDOW_SECONDS
    return max(1, window - int(time.time()) % window)


def record_failure(request: HttpRequest, email: str) -> None:
    """Counts one failed sign-in against the client's address and the email."""
    for key, _ in _keys(request, email):
        # add() then incr(): incr alone fails on a missing key, and a key must expire.
        cache.add(key, 0, timeout=settings.EMITRUN_SIGNIN_WINDOW_SECONDS + 5)
        try:
            cache.incr(key)
        except ValueError:  # expired between add() and incr(): the window has just ended
            cache.add(key, 1, timeout=settings.EMITRUN_SIGNIN_WINDOW_SECONDS + 5)


def clear(request: HttpRequest, email: str) -> None:
    """Forgets the email's failures after a successful sign-in (the address's stay)."""
    cache.delete(_keys(request, email)[1][0])
