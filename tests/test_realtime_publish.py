"""Publishing: every member of a group gets the batch's messages in order; groups
without a member cost no send."""

import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from emitrun import realtime


def message(space_id: str, seq: int) -> dict:
    return {
        "seq": seq,
        "type": "job.created",
        "job_id": str(uuid.uuid4()),
        "space_id": space_id,
        "status": "pending",
        "data": {"n": seq},
        "at": "2026-01-01T00:00:00Z",
    }


async def joined(group: str) -> str:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return channel


def test_only_groups_with_a_member_are_listened():
    layer = get_channel_layer()
    heard, silent = f"space.{uuid.uuid4().hex}", f"job.{uuid.uuid4().hex}"
    channel = async_to_sync(joined)(heard)
    try:
        assert async_to_sync(realtime._listened)(layer, {heard, silent}) == {heard}
    finally:
        async_to_sync(layer.group_discard)(heard, channel)


def test_a_member_gets_every_message_of_a_batch_in_order():
    layer = get_channel_layer()
    space_id = str(uuid.uuid4())
    group = realtime.space_group(space_id)
    channel = async_to_sync(joined)(group)
    try:
        realtime.publish([message(space_id, seq) for seq in (1, 2, 3)])

        async def receive_three() -> list[int]:
            return [(await layer.receive(channel))["message"]["seq"] for _ in range(3)]

        assert async_to_sync(receive_three)() == [1, 2, 3]
    finally:
        async_to_sync(layer.group_discard)(group, channel)
