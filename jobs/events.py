"""The shape of what the streams carry: one message per JobEvent."""

from typing import Literal, TypedDict

EventType = Literal[
    "job.created",
    "job.scheduled",
    "job.pending",
    "job.delivered",
    "job.started",
    "job.progress",
    "job.checkpoint",
    "job.event",
    "job.keepalive",
    "job.failed",
    "job.retrying",
    "job.completed",
    "job.dead",
    "job.killed",
    "job.cancelled",
    "job.priority",
    "job.callback_sent",
    "job.callback_failed",
]


class StreamMessage(TypedDict):
    seq: int
    type: EventType
    job_id: str
    space_id: str
    status: str
    data: dict | None
    at: str
