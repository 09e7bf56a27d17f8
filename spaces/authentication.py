"""Bearer-token authentication, per-route scopes and per-token throttling for the API."""

import hmac
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from emitrun import cache as shared_cache
from emitrun.errors import Forbidden, Unauthenticated
from spaces import lockout, token_cache, tokens
from spaces.models import ApiToken
from spaces.rates import parse_rate

if TYPE_CHECKING:  # DRF imports this module while rest_framework.views is loading
    from rest_framework.views import APIView

_LAST_USED_EVERY = timedelta(seconds=60)


def authenticate_secret(secret: str, *, client: str | None = None) -> ApiToken:
    """The active token with this secret (space loaded), else Unauthenticated.

    With `client` (the peer address), failures are counted against it, and a client over
    its failure budget gets RateLimited before any lookup (spaces/lockout.py).
    """
    lockout.check(client)
    try:
        return _authenticate(secret)
    except Unauthenticated:
        lockout.record_failure(client)
        raise


def _authenticate(secret: str) -> ApiToken:
    if not secret.startswith(tokens.SECRET_PREFIX) or len(secret) > 200:
        raise Unauthenticated("Invalid API token")
    secret_hash = tokens.hash_secret(secret)
    token = token_cache.get(secret_hash)
    if token is None:
        token = _verify(secret, secret_hash)
        if token.revoked_at is None:
            token_cache.put(secret_hash, token)
    if token.revoked_at is not None:
        raise Unauthenticated("API token has been revoked")
    if token.expires_at is not None and token.expires_at <= timezone.now():
        raise Unauthenticated("API token has expired")
    _touch(token)
    return token


def _verify(secret: str, secret_hash: str) -> ApiToken:
    candidates = ApiToken.objects.select_related(
        "space", "space__organization", "space__settings"
    ).filter(prefix=tokens.display_prefix(secret))
    token = next((t for t in candidates if hmac.compare_digest(secret_hash, t.secret_hash)), None)
    if token is None:
        raise Unauthenticated("Invalid API token")
    return token


def _touch(token: ApiToken) -> None:
    """Records last use at most once a minute, so reads do not all become writes."""
    now = timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < _LAST_USED_EVERY:
        return
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now


class BearerTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <secret>`; request.auth is the ApiToken."""

    def authenticate(self, request: Request) -> tuple[None, ApiToken] | None:
        header = get_authorization_header(request).split()
        if not header:
            return None
        if header[0].lower() != b"bearer" or len(header) != 2:
            raise Unauthenticated("Authorization header must be 'Bearer <token>'")
        try:
            secret = header[1].decode("ascii")
        except UnicodeDecodeError:
            secret = ""  # counted as a failure like any other wrong secret
        return None, authenticate_secret(secret, client=request.META.get("REMOTE_ADDR"))

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class HasScopes(BasePermission):
    """The token must hold one of the view's `required_scopes` for the request's method.

    A view sets `required_scopes` to a list (any of them will do) or to a dict
    from HTTP method to such a list.
    """

    def has_permission(self, request: Request, view: "APIView") -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            raise Unauthenticated()
        wanted = getattr(view, "required_scopes", None)
        if isinstance(wanted, dict):
            wanted = wanted.get(request.method, [])
        if not wanted:
            return True
        if any(token.has_scope(scope) for scope in wanted):
            return True
        raise Forbidden(
            f"This token lacks the {' or '.join(wanted)} scope",
            {"required_scope": wanted[0], "any_of": wanted},
        )


class TokenRateThrottle(BaseThrottle):
    """Fixed-window request limit per token (EMITRUN_TOKEN_RATE), counted in the shared cache.

    A counter per window keeps each check O(1), unlike a list of timestamps.
    """

    def allow_request(self, request: Request, view: "APIView") -> bool:
        token = request.auth
        limit = parse_rate(settings.EMITRUN_TOKEN_RATE)
        if limit is None or not isinstance(token, ApiToken):
            return True
        count, period = limit
        now = time.time()
        window = int(now // period)
        key = f"throttle:token:{token.pk}:{window}"
        try:
            used = shared_cache.count(key, timeout=period + 1)
        except Exception:  # noqa: BLE001 - a cache outage must not take the API down
            return True
        self._wait = (window + 1) * period - now
        return used <= count

    def wait(self) -> float:
        return max(1.0, round(getattr(self, "_wait", 1.0)))
