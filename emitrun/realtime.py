"""Fan-out of job events to the channel layer, after commit and best-effort.

The database is the truth: a client that misses a message replays it from its
last `seq`. So a channel layer outage is logged and never fails a job request.
"""

import logging
from uuid import UUID

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from jobs.events import StreamMessage

log = logging.getLogger("emitrun.realtime")


def space_group(space_id: UUID | str) -> str:
    return f"space.{UUID(str(space_id)).hex}"


def job_group(job_id: UUID | str) -> str:
    return f"job.{UUID(str(job_id)).hex}"


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


def publish(messages: list[StreamMessage]) -> None:
    """Sends each message to its space group and its job group."""
    layer = get_channel_layer()
    if layer is None or not messages:
        return
    try:
        async_to_sync(_send_all)(layer, messages)
    except Exception:
        log.warning(
            "could not publish %d event(s) to the channel layer", len(messages), exc_info=True
        )


async def _send_all(layer: object, messages: list[StreamMessage]) -> None:
    for msg in messages:
        envelope = {"type": "job.event", "message": msg}
        await layer.group_send(space_group(msg["space_id"]), envelope)
        await layer.group_send(job_group(msg["job_id"]), envelope)
