"""Throttling of failed sign-ins and of password-reset mails, per client address and per
email, in the cache (Redis when REDIS_URL is set, so every web process shares the counts).

Counters live in fixed windows of EMITRUN_SIGNIN_WINDOW_SECONDS: once an address or an
email has reached its limit in the current window, the request is refused (429) without
checking the password or sending mail, until the window ends. Keys hold a hash of the
email, never the email itself. A cache outage turns the throttle off (logged), never the
sign-in form.
"""

import hashlib
import logging
import time
from typing import Literal

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from emitrun import cache as shared_cache

Kind = Literal["signin", "reset"]
log = logging.getLogger(__name__)


def _limits(kind: Kind) -> tuple[int, int]:
    """(per address, per email) for failed sign-ins, or for reset mails asked for."""
    per_email = {
        "signin": settings.EMITRUN_SIGNIN_FAILURES_PER_EMAIL,
        "reset": settings.EMITRUN_PASSWORD_RESETS_PER_EMAIL,
    }[kind]
    return settings.EMITRUN_SIGNIN_FAILURES_PER_IP, per_email


def _keys(request: HttpRequest, email: str, kind: Kind) -> list[tuple[str, int]]:
    window = int(time.time()) // settings.EMITRUN_SIGNIN_WINDOW_SECONDS
    ip = request.META.get("REMOTE_ADDR", "")
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    per_ip, per_email = _limits(kind)
    return [
        (f"{kind}:ip:{ip}:{window}", per_ip),
        (f"{kind}:email:{digest}:{window}", per_email),
    ]


def retry_after(request: HttpRequest, email: str, kind: Kind = "signin") -> int:
    """Seconds until this client may try again for this email; 0 when not throttled."""
    keys = _keys(request, email, kind)
    try:
        counts = cache.get_many([key for key, _ in keys])
    except Exception:  # noqa: BLE001 - the cache is down: do not throttle, do not fail
        log.warning("sign-in throttle skipped: the cache is unreachable")
        return 0
    if all(counts.get(key, 0) < limit for key, limit in keys):
        return 0
    window = settings.EMITRUN_SIGNIN_WINDOW_SECONDS
    return max(1, window - int(time.time()) % window)


def record(request: HttpRequest, email: str, kind: Kind = "signin") -> None:
    """Counts one failed sign-in (or one reset mail asked for) against the client's
    address and the email."""
    timeout = settings.EMITRUN_SIGNIN_WINDOW_SECONDS + 5
    try:
        for key, _ in _keys(request, email, kind):
            shared_cache.count(key, timeout=timeout)
    except Exception:  # noqa: BLE001 - the cache is down: the attempt goes uncounted
        log.warning("sign-in throttle not counted: the cache is unreachable")


def clear(request: HttpRequest, email: str) -> None:
    """Forgets the email's failed sign-ins after a successful one (the address's stay)."""
    try:
        cache.delete(_keys(request, email, "signin")[1][0])
    except Exception:  # noqa: BLE001
        log.warning("sign-in throttle not cleared: the cache is unreachable")
