"""WebSocket streams of job events: every event of a space, or one job's (API.md "Streams").

Contract:
- Auth once in connect(): `?token=`, `Authorization: Bearer`, subprotocol `bearer.<token>`
  (echoed back on accept), or the session of a member of the space's organization.
  Refusals accept and then close, so the client sees the code: 4401 no/bad/revoked
  token, 4403 scope or space not allowed, 4404 no such job in the token's space.
- One JSON message per JobEvent (`emitrun.realtime.message`). A jobs:read:progress-only
  reader of a job stream gets progress and status changes only, data cut to progress.
- The space stream opens with `{"type": "stream.hello", "seq", "counts"}`.
- `?since=<seq>` replays stored events after seq, then goes live with no gap or
  duplicate: the group is joined first, live messages are buffered during the replay
  and flushed after it, skipping what was already sent. More than REPLAY_MAX missed
  events give `{"type": "stream.reset", "seq", "counts"}` instead.
- `{"type": "ping"}` after PING_EVERY seconds of silence; a client ping gets a pong;
  anything else from the client is ignored. The token (or membership) is re-checked
  every RECHECK_EVERY seconds and the socket closed with 4401 once it is gone.
- Without Redis (embedded default) the in-memory layer does not cross processes, so
  the stream also tails JobEvent by seq from the database; so does a stream whose
  channel layer is down. Duplicates are dropped by seq.
"""

import asyncio
import json
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Max, Q
from django.utils import timezone

from emitrun import metrics, realtime
from emitrun.env import env_float, env_int
from emitrun.errors import RateLimited, Unauthenticated
from jobs.events import StreamMessage
from jobs.models import Job, JobEvent
from jobs.queries import counts_by_status
from orgs.models import Membership
from spaces import scopes
from spaces.authentication import authenticate_secret
from spaces.models import ApiToken, Space
from spaces.tokens import SECRET_PREFIX

log = logging.getLogger("emitrun.streams")

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_RATE_LIMITED = 4429  # too many failed authentications from this address

REPLAY_MAX = env_int("EMITRUN_STREAM_REPLAY_MAX", 10_000, minimum=1)
PING_EVERY = env_float("EMITRUN_STREAM_PING_SECONDS", 20.0, minimum=0.1)
RECHECK_EVERY = env_float("EMITRUN_STREAM_RECHECK_SECONDS", 3.0, minimum=0.1)
TICK = 0.5  # how often a stream wakes up to tail the DB, ping or re-check
PAGE = 500  # events read per query while replaying or tailing
ACCESS_TTL = env_int("EMITRUN_REALTIME_TOKEN_SECONDS", 900, minimum=60)
SEEN = 10_000  # recent seqs remembered to drop duplicates between layer and DB

# What a jobs:read:progress-only reader sees: progress and changes of status.
PROGRESS_TYPES = frozenset(
    {
        "job.created",
        "job.scheduled",
        "job.pending",
        "job.delivered",
        "job.started",
        "job.progress",
        "job.failed",
        "job.retrying",
        "job.completed",
        "job.dead",
        "job.killed",
        "job.cancelled",
    }
)
PROGRESS_FIELDS = ("percent", "message", "sub_progress")


class Denied(Exception):
    """The connection is refused with this WebSocket close code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Credentials:
    secret: str | None
    subprotocol: str | None  # the `bearer.<token>` offered, echoed back on accept
    user: Any  # the session's user (AnonymousUser when none)
    same_origin: bool  # a session counts only from a page of our own origin
    since: int | None
    client: str | None = None  # the peer address, for the auth-failure throttle


@dataclass(frozen=True)
class Access:
    space_id: UUID
    job_id: UUID | None  # set on a job stream
    token_id: UUID | None
    user_id: int | None
    organization_id: UUID | None
    progress_only: bool


def credentials_of(scope: dict) -> Credentials:
    """What the client offered: token (query, header or subprotocol), session, since."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    offered = [p for p in scope.get("subprotocols", []) if p.startswith("bearer.")]
    secret = (query.get("token") or [None])[0]
    auth = headers.get("authorization", "").split()
    if not secret and len(auth) == 2 and auth[0].lower() == "bearer":
        secret = auth[1]
    if not secret and offered:
        secret = offered[0].removeprefix("bearer.")
    return Credentials(
        secret=secret or None,
        subprotocol=offered[0] if offered else None,
        user=scope.get("user"),
        same_origin=_same_origin(headers),
        since=_since((query.get("since") or [None])[0]),
        client=(scope.get("client") or [None])[0],
    )


def _same_origin(headers: dict[str, str]) -> bool:
    # A cross-site page can open a socket carrying our session cookie: honour the
    # session only when the page's Origin is this host.
    origin = headers.get("origin")
    return origin is None or urlsplit(origin).netloc == headers.get("host")


def _since(raw: str | None) -> int | None:
    if raw is None or not raw.strip().isdigit():
        return None
    return int(raw)


def _uuid(raw: str) -> UUID | None:
    try:
        return UUID(raw)
    except (TypeError, ValueError):
        return None


def authorise(creds: Credentials, *, space_id: str | None, job_id: str | None) -> Access:
    """Who may watch the space (space_id) or the job (job_id). Raises Denied."""
    if creds.secret:
        try:
            token = authenticate_secret(creds.secret, client=creds.client)
        except RateLimited:
            raise Denied(CLOSE_RATE_LIMITED) from None
        except Unauthenticated:
            raise Denied(CLOSE_UNAUTHENTICATED) from None
        return token_access(token, space_id=space_id, job_id=job_id)
    user = creds.user
    if user is not None and user.is_authenticated and creds.same_origin:
        return _member_access(user, space_id=space_id, job_id=job_id)
    raise Denied(CLOSE_UNAUTHENTICATED)


def token_access(token: ApiToken, *, space_id: str | None, job_id: str | None) -> Access:
    full = token.has_scope(scopes.READ)
    if job_id is None:
        if not full or _uuid(space_id or "") != token.space_id:
            raise Denied(CLOSE_FORBIDDEN)
        return Access(token.space_id, None, token.pk, None, None, progress_only=False)
    if not full and not token.has_scope(scopes.READ_PROGRESS):
        raise Denied(CLOSE_FORBIDDEN)
    pk = _uuid(job_id)
    if pk is None or not Job.objects.filter(pk=pk, space_id=token.space_id).exists():
        raise Denied(CLOSE_NOT_FOUND)
    return Access(token.space_id, pk, token.pk, None, None, progress_only=not full)


def _member_access(user: Any, *, space_id: str | None, job_id: str | None) -> Access:
    mine = Membership.objects.filter(user=user).values("organization_id")
    if job_id is None:
        pk = _uuid(space_id or "")
        org = (
            Space.objects.filter(pk=pk, organization__in=mine)
            .values_list("organization_id", flat=True)
            .first()
            if pk
            else None
        )
        if org is None:
            raise Denied(CLOSE_FORBIDDEN)
        return Access(pk, None, None, user.pk, org, progress_only=False)
    pk = _uuid(job_id)
    row = (
        Job.objects.filter(pk=pk, space__organization__in=mine)
        .values("space_id", "space__organization_id")
        .first()
        if pk
        else None
    )
    if row is None:
        raise Denied(CLOSE_NOT_FOUND)
    return Access(row["space_id"], pk, None, user.pk, row["space__organization_id"], False)


def still_allowed(access: Access) -> bool:
    """False once the token is revoked or expired, or the member left the organization."""
    if access.token_id is not None:
        live = Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
        return ApiToken.objects.filter(live, pk=access.token_id, revoked_at__isnull=True).exists()
    return Membership.objects.filter(
        user_id=access.user_id, user__is_active=True, organization_id=access.organization_id
    ).exists()


def _events(access: Access) -> Any:
    if access.job_id is not None:
        return JobEvent.objects.filter(job_id=access.job_id)
    return JobEvent.objects.filter(space_id=access.space_id)


def snapshot(access: Access) -> tuple[int, dict[str, int]]:
    """The latest seq of the stream and the counts of jobs by status."""
    latest = _events(access).aggregate(m=Max("id"))["m"] or 0
    if access.job_id is not None:
        status = Job.objects.filter(pk=access.job_id).values_list("status", flat=True).first()
        return latest, ({status: 1} if status else {})
    return latest, counts_by_status(Space(pk=access.space_id))


def too_far_behind(access: Access, since: int) -> bool:
    return _events(access).filter(id__gt=since).order_by("id")[REPLAY_MAX:].exists()


def events_after(access: Access, seq: int) -> list[StreamMessage]:
    """Up to PAGE stored events after seq, in seq order."""
    rows = _events(access).filter(id__gt=seq).order_by("id")[:PAGE]
    return [realtime.message(row) for row in rows]


def for_progress_reader(msg: StreamMessage) -> StreamMessage | None:
    """The message cut for a jobs:read:progress reader: no payloads, results or errors."""
    if msg["type"] not in PROGRESS_TYPES:
        return None
    data = msg["data"] if msg["type"] == "job.progress" else None
    kept = {k: data[k] for k in PROGRESS_FIELDS if k in data} if isinstance(data, dict) else None
    return {**msg, "data": kept}


class SeqWindow:
    """The last SEEN seqs sent, to drop an event that arrives by both layer and DB."""

    def __init__(self, size: int = SEEN) -> None:
        self._order: deque[int] = deque()
        self._set: set[int] = set()
        self._size = size

    def __contains__(self, seq: int) -> bool:
        return seq in self._set

    def add(self, seq: int) -> None:
        if len(self._order) >= self._size:
            self._set.discard(self._order.popleft())
        self._order.append(seq)
        self._set.add(seq)


db = database_sync_to_async


class StreamConsumer(AsyncWebsocketConsumer):
    """The space stream or, when the route names a job_id, the job stream."""

    hello: ClassVar[bool] = True  # the space stream opens with stream.hello
    ping_every: ClassVar[float] = PING_EVERY
    recheck_every: ClassVar[float] = RECHECK_EVERY

    async def connect(self) -> None:
        self.task: asyncio.Task | None = None
        self.group: str | None = None
        creds = credentials_of(self.scope)
        try:
            self.access = await db(self.authorise)(creds)
        except Denied as exc:
            await self.accept(creds.subprotocol)
            await self.close(code=exc.code)
            return
        self.window = SeqWindow()
        self.buffer: list[StreamMessage] = []
        self.live = False
        self.floor = 0  # live messages at or below it were replayed or counted already
        self.tailing = not settings.REDIS_URL
        await self._join()
        # Taken before accept: whatever the client causes once connected is newer.
        self.opening = await db(snapshot)(self.access)
        await self.accept(creds.subprotocol)
        metrics.WEBSOCKETS.inc()
        self.counted = True
        self.last_sent = time.monotonic()
        self.task = asyncio.create_task(self._run(creds.since))

    def authorise(self, creds: Credentials) -> Access:
        kwargs = self.scope["url_route"]["kwargs"]
        return authorise(creds, space_id=kwargs.get("space_id"), job_id=kwargs.get("job_id"))

    async def _join(self) -> None:
        group = (
            realtime.job_group(self.access.job_id)
            if self.access.job_id
            else realtime.space_group(self.access.space_id)
        )
        try:
            await self.channel_layer.group_add(group, self.channel_name)
            self.group = group
        except Exception:  # the layer is best-effort; the DB still serves
            log.warning("channel layer unavailable; tailing the database", exc_info=True)
            self.tailing = True

    async def disconnect(self, code: int) -> None:
        if getattr(self, "counted", False):
            metrics.WEBSOCKETS.dec()
            self.counted = False
        if self.task is not None:
            self.task.cancel()
        if self.group is not None:
            try:
                await self.channel_layer.group_discard(self.group, self.channel_name)
            except Exception:  # group membership expires on its own
                log.info("could not leave %s", self.group, exc_info=True)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Answers a ping; anything else, malformed or not, is ignored."""
        try:
            msg = json.loads(text_data or "")
        except ValueError:
            return
        if isinstance(msg, dict) and msg.get("type") == "ping":
            await self._send({"type": "pong"})

    async def job_event(self, envelope: dict) -> None:
        """A live message from the channel layer."""
        if not self.live:
            self.buffer.append(envelope["message"])
            return
        await self._emit(envelope["message"])

    async def _run(self, since: int | None) -> None:
        try:
            cursor = await self._open(since)
            await self._go_live(cursor)
            await self._tick(cursor)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("stream failed")
            await self.close(code=1011)

    async def _open(self, since: int | None) -> int:
        """Hello, then the replay (or a reset); returns the seq the stream is live from."""
        latest, counts = self.opening
        if self.hello and self.access.job_id is None:
            await self._send({"type": "stream.hello", "seq": latest, "counts": counts})
        if since is None or since >= latest:
            self.floor = latest
            return latest
        if await db(too_far_behind)(self.access, since):
            await self._send({"type": "stream.reset", "seq": latest, "counts": counts})
            self.floor = latest
            return latest
        # The floor stays at the client's own `since`, not at the end of the replay: a
        # seq is taken at insert, not at commit, so an event below the replay's end can
        # still commit (and arrive through the layer) after the replay read past it. The
        # window drops what the replay already sent.
        self.floor = since
        return await self._replay(since)

    async def _replay(self, cursor: int) -> int:
        while page := await db(events_after)(self.access, cursor):
            for msg in page:
                await self._emit(msg)
            cursor = page[-1]["seq"]
        return cursor

    async def _go_live(self, cursor: int) -> None:
        while self.buffer:
            await self._emit(self.buffer.pop(0))
        self.live = True  # no await since the buffer was found empty: nothing slips by

    async def _tick(self, cursor: int) -> None:
        recheck_at = time.monotonic() + self.recheck_every
        while True:
            await asyncio.sleep(TICK)
            if self.tailing:
                cursor = await self._replay(cursor)
            if time.monotonic() >= recheck_at:
                if not await db(still_allowed)(self.access):
                    await self.close(code=CLOSE_UNAUTHENTICATED)
                    return
                recheck_at = time.monotonic() + self.recheck_every
            if time.monotonic() - self.last_sent >= self.ping_every:
                await self._send({"type": "ping"})

    async def _emit(self, msg: StreamMessage) -> None:
        seq = msg["seq"]
        if seq <= self.floor or seq in self.window:
            return
        self.window.add(seq)
        for out in await self.render(msg):
            await self._send(out)

    async def render(self, msg: StreamMessage) -> list[dict]:
        """What the client gets for one event (nothing, or one or more frames)."""
        out = for_progress_reader(msg) if self.access.progress_only else msg
        return [out] if out is not None else []

    async def _send(self, msg: dict) -> None:
        self.last_sent = time.monotonic()
        await self.send(text_data=json.dumps(msg, cls=DjangoJSONEncoder))


def token_for(value: str, *, client: str | None = None) -> ApiToken:
    """The active ApiToken behind a realtime access token (or a raw API key).

    Raises Unauthenticated, or RateLimited for a client over its auth-failure budget.
    """
    if value.startswith(SECRET_PREFIX):
        return authenticate_secret(value, client=client)
    pk = realtime.unsign_token(value, salt=realtime.ACCESS_SALT, max_age=ACCESS_TTL)
    token = ApiToken.objects.select_related("space").filter(pk=pk).first() if pk else None
    if token is None or not token.is_active:
        raise Unauthenticated("Invalid or expired realtime token")
    return token


def queue_of(job_id: str) -> str | None:
    return Job.objects.filter(pk=job_id).values_list("name", flat=True).first()


class SpooledConsumer(StreamConsumer):
    """Spooled's `/api/v1/ws?token=` (contract §5.2): the token's space, narrowed by
    `{"cmd": "subscribe", "queue" | "job_id"}` (everything until the first subscribe),
    as Spooled frames. Commands are never acknowledged; unknown ones are ignored.
    """

    hello = False

    def authorise(self, creds: Credentials) -> Access:
        self.queues: set[str] = set()
        self.jobs: set[str] = set()
        self.queue_names: dict[str, str | None] = {}
        try:
            token = token_for(creds.secret or "", client=creds.client)
        except RateLimited:
            raise Denied(CLOSE_RATE_LIMITED) from None
        except Unauthenticated:
            raise Denied(CLOSE_UNAUTHENTICATED) from None
        return token_access(token, space_id=str(token.space_id), job_id=None)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            cmd = json.loads(text_data or "")
        except ValueError:
            return
        if not isinstance(cmd, dict):
            return
        if cmd.get("cmd") == "ping":
            await self._send({"type": "Ping", "data": {}})
        elif cmd.get("cmd") in ("subscribe", "unsubscribe"):
            self._subscription(cmd)

    def _subscription(self, cmd: dict) -> None:
        adding = cmd["cmd"] == "subscribe"
        for key, chosen in (("queue", self.queues), ("job_id", self.jobs)):
            value = cmd.get(key)
            if isinstance(value, str) and value:
                (chosen.add if adding else chosen.discard)(value)

    async def render(self, msg: StreamMessage) -> list[dict]:
        queue = await self._queue_of(msg)
        wanted = not (self.queues or self.jobs)
        if not wanted and msg["job_id"] not in self.jobs and queue not in self.queues:
            return []
        return realtime.spooled_frames(msg, queue)

    async def _queue_of(self, msg: StreamMessage) -> str | None:
        job_id = msg["job_id"]
        if job_id not in self.queue_names:
            if len(self.queue_names) > SEEN:  # a long-lived socket: forget, re-read later
                self.queue_names.clear()
            data = msg["data"] if isinstance(msg["data"], dict) else {}
            created = msg["type"] == "job.created" and "name" in data
            self.queue_names[job_id] = data["name"] if created else await db(queue_of)(job_id)
        return self.queue_names[job_id]
