"""The per-process publisher: a request hands its events over without waiting, and they
reach the channel layer's groups in the order they were committed.
"""

import asyncio
import threading
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from emitrun import realtime


def message(space_id: str, job_id: str, seq: int) -> dict:
    return {
        "seq": seq,
        "type": "job.progress",
        "job_id": job_id,
        "space_id": space_id,
        "status": "running",
        "data": {"n": seq},
        "at": "2026-01-01T00:00:00Z",
    }


def test_batches_from_many_threads_arrive_in_each_threads_order_and_flush_waits():
    layer = get_channel_layer()
    assert not isinstance(layer, type(None))
    space_id, job_ids = str(uuid.uuid4()), [str(uuid.uuid4()) for _ in range(4)]
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(realtime.space_group(space_id), channel)

    def producer(job_id: str) -> None:
        for seq in range(25):
            realtime.publish([message(space_id, job_id, seq)])

    threads = [threading.Thread(target=producer, args=(job_id,)) for job_id in job_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert realtime.flush(10)

    async def receive_all() -> list[dict]:
        got = []
        for _ in range(100):
            envelope = await asyncio.wait_for(layer.receive(channel), 5)
            got.append(envelope["message"])
        return got

    got = async_to_sync(receive_all)()
    for job_id in job_ids:
        assert [m["seq"] for m in got if m["job_id"] == job_id] == list(range(25))


def test_flush_with_nothing_pending_returns_at_once():
    assert realtime.flush(0.5)


def test_only_groups_with_members_are_sent_to():
    layer = get_channel_layer()
    joined, empty = realtime.space_group(uuid.uuid4()), realtime.job_group(uuid.uuid4())
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(joined, channel)
    assert async_to_sync(realtime._listened)(layer, {joined, empty}) == {joined}
    async_to_sync(layer.group_discard)(joined, channel)
    assert async_to_sync(realtime._listened)(layer, {joined, empty}) == set()
