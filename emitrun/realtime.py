"""Fan-out of job events to the channel layer, after commit and best-effort.

The database is the truth: a client that misses a message replays it from its
last `seq`. So a channel layer outage is logged and never fails a job request.
"""

import asyncio
import atexit
import logging
import os
import re
import threading
import time
from collections import deque
from uuid import UUID

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.core import signing

from jobs.events import StreamMessage

log = logging.getLogger("emitrun.realtime")

# Publish calls that failed since the process started (health and metrics read it).
_failures = 0
_failures_lock = threading.Lock()


def publish_failures() -> int:
    """How many publish calls of this process could not reach the channel layer (one per
    committed transaction whose events were lost).
    """
    return _failures


def _count_failure(batches: int = 1) -> None:
    global _failures  # one process-wide counter, guarded by the lock
    with _failures_lock:
        _failures += batches


def space_group(space_id: UUID | str) -> str:
    return f"space.{_hex(space_id)}"


def job_group(job_id: UUID | str) -> str:
    return f"job.{_hex(job_id)}"


_CANONICAL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _hex(value: UUID | str) -> str:
    """The id's 32 hex digits; a canonical id (as str(UUID) writes it, and as every stream
    message holds it) without parsing it again: a bulk publishes two hundred group names.
    """
    text = str(value)
    if _CANONICAL.fullmatch(text):
        return text.replace("-", "")
    return UUID(text).hex


def message(event: object) -> StreamMessage:
    """The stream message of a JobEvent."""
    return {
        "seq": event.pk,
        "type": event.type,
        "job_id": str(event.job_id),
        "space_id": str(event.space_id),
        "status": event.status,
        "data": event.data,
        "at": event.at.isoformat().replace("+00:00", "Z"),
    }


# Longest one batch of sends may take before it is given up (and counted as failed).
PUBLISH_TIMEOUT_SECONDS = 5.0
# Batches waiting to be sent, per process; past this the oldest are dropped (and counted):
# a channel layer that is down must not grow a web process without bound.
MAX_PENDING = 10_000


def publish(messages: list[StreamMessage]) -> None:
    """Sends each message to its space group and its job group, in order, without making
    the caller wait: the messages are handed to this process's publishing loop, which sends
    them in the order they were published (see `flush`). A failure is logged and counted.
    """
    layer = get_channel_layer()
    if layer is None or not messages:
        return
    if isinstance(layer, InMemoryChannelLayer):  # its queues belong to the caller's loop
        try:
            async_to_sync(_send_all)(layer, messages)
        except Exception:
            _count_failure()
            log.warning("could not publish %d event(s)", len(messages), exc_info=True)
        return
    try:
        _publisher_state().loop.call_soon_threadsafe(_enqueue, layer, messages)
    except Exception:
        _count_failure()
        log.warning("could not hand %d event(s) to the publisher", len(messages), exc_info=True)


def flush(timeout: float = PUBLISH_TIMEOUT_SECONDS) -> bool:
    """Waits until everything published so far by this process was sent (or given up).
    True when the publisher is idle. Runs at interpreter exit; tests call it too.
    """
    state = _publisher
    if state is None or state.pid != os.getpid() or not state.loop.is_running():
        return True
    try:
        future = asyncio.run_coroutine_threadsafe(_idle(state), state.loop)
        future.result(timeout=timeout)
    except Exception:  # noqa: BLE001 - a timeout (or a stopped loop) at shutdown
        return False
    return True


class _Publisher:
    """One event loop thread per process with the batches it still has to send."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.pending: deque[tuple[object, list[StreamMessage]]] = deque()
        self.draining = False
        self.idle: asyncio.Event | None = None
        ready = threading.Event()
        self.loop.call_soon(ready.set)
        threading.Thread(target=self.loop.run_forever, name="emitrun-publish", daemon=True).start()
        ready.wait(5)


_publisher: _Publisher | None = None
_publisher_lock = threading.Lock()


def _publisher_state() -> _Publisher:
    """This process's publisher (made anew after a fork).

    One long-lived loop keeps the channel layer's Redis connections open between
    requests; async_to_sync would run each publish on a fresh loop with fresh
    connections, which cost a request several milliseconds.
    """
    global _publisher
    state = _publisher
    if state is not None and state.pid == os.getpid() and state.loop.is_running():
        return state
    with _publisher_lock:
        state = _publisher
        if state is None or state.pid != os.getpid() or not state.loop.is_running():
            first = state is None
            state = _publisher = _Publisher()
            if first:
                atexit.register(flush, 2.0)
        return state


def _enqueue(layer: object, messages: list[StreamMessage]) -> None:
    """On the publishing loop: queue a batch, and start the drain unless it runs."""
    state = _publisher
    if state is None:
        return
    state.pending.append((layer, messages))
    while len(state.pending) > MAX_PENDING:
        _, dropped = state.pending.popleft()
        _count_failure()
        log.warning("publisher backlog full; dropped %d event(s)", len(dropped))
    if not state.draining:
        state.draining = True
        if state.idle is not None:
            state.idle.clear()
        state.loop.create_task(_drain(state))


async def _drain(state: _Publisher) -> None:
    """Sends queued batches in order; batches for the same layer go out together."""
    try:
        while state.pending:
            layer, messages = state.pending.popleft()
            messages, batches = list(messages), 1
            while state.pending and state.pending[0][0] is layer and len(messages) < 500:
                messages.extend(state.pending.popleft()[1])
                batches += 1
            try:
                await asyncio.wait_for(_send_all(layer, messages), PUBLISH_TIMEOUT_SECONDS)
            except Exception:
                _count_failure(batches)
                log.warning(
                    "could not publish %d event(s) to the channel layer",
                    len(messages),
                    exc_info=True,
                )
    finally:
        state.draining = False
        if state.idle is not None:
            state.idle.set()


async def _idle(state: _Publisher) -> None:
    if state.idle is None:
        state.idle = asyncio.Event()
    if not state.draining and not state.pending:
        return
    state.idle.clear()
    await state.idle.wait()


async def _send_all(layer: object, messages: list[StreamMessage]) -> None:
    """Each group's messages in order; the groups side by side."""
    groups: dict[str, list[dict]] = {}
    for msg in messages:
        envelope = {"type": "job.event", "message": msg}
        groups.setdefault(space_group(msg["space_id"]), []).append(envelope)
        groups.setdefault(job_group(msg["job_id"]), []).append(envelope)

    async def send(group: str, envelopes: list[dict]) -> None:
        for envelope in envelopes:
            await layer.group_send(group, envelope)

    listened = await _listened(layer, set(groups))
    sends = [send(group, envelopes) for group, envelopes in groups.items() if group in listened]
    results = await asyncio.gather(*sends, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise errors[0]


async def _listened(layer: object, groups: set[str]) -> set[str]:
    """The groups that have a member now: one pipelined round trip per Redis host, where
    group_send spends two per message even on an empty group (a new job's always is).

    Skipping the empty groups changes no stream: publishing runs after commit, and a
    stream joins its group before it reads the latest seq, so one that joins after this
    check already counts these events as read or replays them (StreamConsumer._open).
    """
    if not isinstance(layer, RedisChannelLayer):
        return groups
    by_host: dict[int, list[str]] = {}
    for group in groups:
        by_host.setdefault(layer.consistent_hash(group), []).append(group)
    # group_send first discards the members whose score is at or below this.
    expired = int(time.time()) - layer.group_expiry
    listened = set()
    for index, names in by_host.items():
        keys = [layer._group_key(name) for name in names]
        counts = await _count_members(layer.connection(index), keys, f"({expired}")
        listened.update(name for name, count in zip(names, counts, strict=True) if count)
    return listened


# One command for all of a batch's groups on a host: a hundred pipelined ZCOUNTs cost the
# web process more to encode and parse than the script costs Redis to run.
_COUNT_MEMBERS = """
local counts = {}
for i, key in ipairs(KEYS) do
    counts[i] = redis.call('ZCOUNT', key, ARGV[1], '+inf')
end
return counts
"""


async def _count_members(connection: object, keys: list[bytes], above: str) -> list[int]:
    """ZCOUNT key `above` +inf for each key, in one round trip (EVALSHA; EVAL the first
    time a Redis server sees the script).
    """
    return await connection.register_script(_COUNT_MEMBERS)(keys=keys, args=[above])


# --- Spooled's realtime (spooled-sdk-contract §1.3, §5) -----------------------------------

ACCESS_SALT = "emitrun.realtime.access"
REFRESH_SALT = "emitrun.realtime.refresh"

# Our status -> Spooled's (as in jobs.queries.stats).
SPOOLED_STATUS = {
    "pending": "pending",
    "scheduled": "scheduled",
    "delivered": "processing",
    "running": "processing",
    "completed": "completed",
    "dead": "deadletter",
    "killed": "cancelled",
    "cancelled": "cancelled",
}
# Events that change a job's status; job.failed is followed by job.retrying or job.dead.
STATUS_EVENTS = frozenset(
    {
        "job.scheduled",
        "job.pending",
        "job.delivered",
        "job.started",
        "job.retrying",
        "job.completed",
        "job.dead",
        "job.killed",
        "job.cancelled",
    }
)
# After a JobStatusChange to one of these the SDK stops a job's SSE stream.
SPOOLED_FINAL = frozenset({"completed", "failed", "deadletter", "cancelled"})


def sign_token(token_id: UUID, *, salt: str) -> str:
    """An opaque realtime token carrying an ApiToken id (the contract allows non-JWTs)."""
    return signing.dumps(str(token_id), salt=salt, compress=True)


def unsign_token(value: str, *, salt: str, max_age: int) -> UUID | None:
    """The ApiToken id inside a realtime token; None when forged or expired."""
    try:
        return UUID(signing.loads(value, salt=salt, max_age=max_age))
    except (signing.BadSignature, ValueError, TypeError):
        return None


def spooled_frames(msg: StreamMessage, queue_name: str | None) -> list[dict]:
    """Spooled's frames for one stream message: {"type", "data", "timestamp"}; [] for
    events Spooled has no name for (progress, checkpoints, custom events).
    """
    kind = msg["type"]
    base = {"job_id": msg["job_id"], "queue_name": queue_name, "timestamp": msg["at"]}
    if kind == "job.created":
        status = SPOOLED_STATUS.get(msg["status"], msg["status"])
        return [_frame("JobCreated", {**base, "status": status}, msg)]
    if kind == "job.failed":
        error = (msg["data"] or {}).get("error") if isinstance(msg["data"], dict) else None
        return [_frame("JobFailed", {**base, "error": error}, msg)]
    if kind not in STATUS_EVENTS:
        return []
    # A retry waits in `scheduled`; Spooled calls that state `failed`.
    new = "failed" if kind == "job.retrying" else SPOOLED_STATUS.get(msg["status"], msg["status"])
    # JobCompleted first: the SDK ends a job's SSE stream at its final JobStatusChange.
    frames = [_frame("JobCompleted", base, msg)] if kind == "job.completed" else []
    return [*frames, _frame("JobStatusChange", {**base, "new_status": new}, msg)]


def _frame(kind: str, data: dict, msg: StreamMessage) -> dict:
    return {"type": kind, "data": data, "timestamp": msg["at"]}
