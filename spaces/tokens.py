"""Token secrets: how they look, how they are hashed, how a presented one is checked."""

import hashlib
import hmac
import secrets

SECRET_PREFIX = "emr_"  # noqa: S105 - a public marker, not a secret
DISPLAY_PREFIX_LENGTH = 12


def new_secret() -> str:
    """A fresh token secret: 'emr_' and 256 random bits, URL-safe."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    # The secret carries 256 random bits, so a fast hash is as safe as a slow one
    # here and keeps per-request verification cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


def display_prefix(secret: str) -> str:
    return secret[:DISPLAY_PREFIX_LENGTH]


def matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
