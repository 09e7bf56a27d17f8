"""Sends one Delivery row: claim it, POST it, record the attempt, schedule the next one.

At-least-once: a row is claimed with a guarded UPDATE (pending -> sending, one row or
skip), so two messages for the same row never send it at the same time; a sender that
dies mid-send leaves the row in `sending`, and the dispatcher returns it to pending.
Receivers deduplicate on X-Emitrun-Delivery, which is the same on every attempt.
"""

import hashlib
import hmac
import json
import random
import time
from dataclasses import dataclass
from datetime import timedelta

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs import lifecycle
from notifications.models import Delivery, DeliveryStatus, Kind
from notifications.urls import Target, UnsafeURL, target
from spaces.models import SpaceSettings

MAX_RESPONSE_BYTES = 64 * 1024  # read and keep no more of an answer than this
USER_AGENT = "emitrun-webhooks/1"


@dataclass(frozen=True)
class Attempt:
    """What one POST did: `ok` is a 2xx answer."""

    ok: bool
    status_code: int | None
    error: str
    latency_ms: int


def deliver(delivery_id: str) -> str:
    """Sends the row once if it is pending. Returns "sent", "retry", "failed" or "skipped".

    Network I/O happens outside any transaction; the outcome is written in one.
    """
    if not claim(delivery_id):
        return "skipped"
    row = Delivery.objects.select_related("job").get(pk=delivery_id)
    return finish(row, send(row))


def claim(delivery_id: str) -> bool:
    """pending -> sending; False when another sender has it or it is done."""
    now = timezone.now()
    claimed = Delivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.SENDING, updated_at=now
    )
    return claimed == 1


def send(row: Delivery) -> Attempt:
    """POSTs the row's body as JSON; never raises for network or receiver trouble."""
    body = json.dumps(row.body, separators=(",", ":"), sort_keys=True)
    started = time.monotonic()
    try:
        # Checked again at send time (DNS may point elsewhere now), and the connection
        # goes to the very address that was checked.
        status = _post(target(row.url), body, _headers(row, body))
    except UnsafeURL as exc:
        return Attempt(False, None, f"refused: {exc}", _ms(started))
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return Attempt(False, None, f"{type(exc).__name__}: {exc}"[:1000], _ms(started))
    error = "" if 200 <= status < 300 else f"HTTP {status}"
    return Attempt(not error, status, error, _ms(started))


def _post(to: Target, body: str, headers: dict[str, str]) -> int:
    """The status code of one POST; each phase within the delivery timeout."""
    budget = settings.EMITRUN_DELIVERY_TIMEOUT_SECONDS
    deadline = time.monotonic() + budget
    if to.host:
        headers = {**headers, "Host": to.host}
    extensions = {"sni_hostname": to.sni} if to.sni else None
    with (
        httpx.Client(timeout=budget, follow_redirects=False) as client,
        client.stream(
            "POST", to.url, content=body.encode(), headers=headers, extensions=extensions
        ) as response,
    ):
        read = 0
        # A receiver trickling its answer must not hold the sender past the budget.
        for chunk in response.iter_raw():
            read += len(chunk)
            if read >= MAX_RESPONSE_BYTES or time.monotonic() > deadline:
                break
        return response.status_code


def _headers(row: Delivery, body: str) -> dict[str, str]:
    headers = {str(k): str(v) for k, v in (row.headers or {}).items()}
    headers.update(
        {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Emitrun-Delivery": str(row.id),
        }
    )
    secret = _callback_secret(row) if row.kind == Kind.CALLBACK else ""
    if secret:
        headers["X-Emitrun-Signature"] = signature(secret, body, int(time.time()))
    return headers


def signature(secret: str, body: str, timestamp: int) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: what a receiver recomputes."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def _callback_secret(row: Delivery) -> str:
    if row.job is not None and row.job.callback_secret:
        return row.job.callback_secret
    conf = SpaceSettings.objects.filter(space_id=row.space_id).first()
    return conf.callback_secret if conf else ""


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


@transaction.atomic
def finish(row: Delivery, attempt: Attempt) -> str:
    """Records the attempt: sent, back to pending after backoff, or failed for good."""
    now = timezone.now()
    attempts = row.attempts + 1
    if attempt.ok:
        status, extra = DeliveryStatus.SENT, {"sent_at": now}
    elif attempts >= row.max_attempts:
        status, extra = DeliveryStatus.FAILED, {}
    else:
        status = DeliveryStatus.PENDING
        extra = {"next_attempt_at": now + timedelta(seconds=backoff_seconds(attempts))}
    updated = Delivery.objects.filter(pk=row.pk, status=DeliveryStatus.SENDING).update(
        status=status,
        attempts=attempts,
        last_status_code=attempt.status_code,
        last_error=attempt.error,
        last_latency_ms=attempt.latency_ms,
        updated_at=now,
        **extra,
    )
    if updated != 1:
        # The row was taken back as stuck while this attempt ran; its next sender records.
        return "skipped"
    if row.kind == Kind.CALLBACK and row.job_id is not None:
        _record_on_job(row, attempt, attempts)
    return {"sent": "sent", "failed": "failed"}.get(status, "retry")


def _record_on_job(row: Delivery, attempt: Attempt, number: int) -> None:
    lifecycle.record_callback(
        row.job_id,
        delivery_id=str(row.id),
        attempt=number,
        ok=attempt.ok,
        status_code=attempt.status_code,
        error=attempt.error,
        latency_ms=attempt.latency_ms,
    )


def backoff_seconds(attempts: int) -> float:
    """Delay before attempt `attempts + 1`: exponential, the upper half jittered.

    Half fixed, half random ("equal jitter"): retries after an outage spread out, yet
    never come back almost at once the way full jitter can.
    """
    ceiling = min(
        settings.EMITRUN_DELIVERY_BACKOFF_CAP_SECONDS,
        settings.EMITRUN_DELIVERY_BACKOFF_BASE_SECONDS * 2 ** min(attempts - 1, 30),
    )
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not security
