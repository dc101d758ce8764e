"""The room WebSocket against the real room domain (rooms.services, selectors, ws_actions) on
PostgreSQL, with the Redis fan-out: no stand-in between the socket and the database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from rooms.client import ProtocolError
from rooms.models import Room, RoomParticipant
from rooms.realtime.fanout import Hub
from tests.rooms import test_consumers
from tests.rooms.factories import MemberFactory, RoomFactory
from tests.rooms.test_consumers import connect, next_of_type
from tests.rooms.test_realtime_support import eventually

hubs = test_consumers.hubs  # the same fixtures: hubs on separate Redis connections, sockets
sockets = test_consumers.sockets

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis, pytest.mark.postgres]


@sync_to_async
def live_room() -> tuple[Room, Any]:
    room = RoomFactory()
    return room, room.created_by


@sync_to_async
def member() -> Any:
    return MemberFactory()


@sync_to_async
def role_of(room: Room, user: Any) -> str | None:
    found = RoomParticipant.objects.filter(room=room, user=user).first()
    return found.role if found else None


async def test_real_action_reaches_members_on_two_processes_with_seq_after_snapshot(
    hubs: Callable[..., Any], sockets: list
) -> None:
    first, second = await hubs(), await hubs()
    room, moderator = await live_room()
    listener = await member()
    mod_client, _ = await connect(first, sockets, moderator)
    listener_client, _ = await connect(second, sockets, listener)
    mod_snapshot = await mod_client.join(room.pk)
    listener_snapshot = await listener_client.join(room.pk)
    assert mod_snapshot["you"]["role"] == "moderator"
    assert listener_snapshot["you"]["role"] == "listener"

    reply = await mod_client.request("room.hand_policy_set", room_id=room.pk, policy="off")
    assert reply == {"room_id": room.pk, "policy": "off"}
    for client, snapshot in ((mod_client, mod_snapshot), (listener_client, listener_snapshot)):
        event = await next_of_type(client, "room.hand_policy_changed")
        assert event["room_id"] == room.pk
        assert event["seq"] > snapshot["seq"]
        assert client.gaps == 0


async def test_real_action_errors_come_back_as_error_frames(
    hubs: Callable[..., Any], sockets: list
) -> None:
    hub: Hub = await hubs()
    room, _moderator = await live_room()
    listener = await member()
    client, _ = await connect(hub, sockets, listener)
    await client.join(room.pk)
    with pytest.raises(ProtocolError) as caught:
        await client.request("room.hand_policy_set", room_id=room.pk, policy="off")
    assert caught.value.code == "not_moderator"
    with pytest.raises(ProtocolError) as caught:
        await client.request("room.hand_policy_set", room_id=room.pk, policy="sometimes")
    assert caught.value.code == "invalid"
    assert "policy" in caught.value.fields


async def test_real_removal_ejects_the_socket_and_blocks_rejoin(
    hubs: Callable[..., Any], sockets: list
) -> None:
    first, second = await hubs(), await hubs()
    room, moderator = await live_room()
    troll = await member()
    mod_client, _ = await connect(first, sockets, moderator)
    troll_client, _ = await connect(second, sockets, troll)
    await mod_client.join(room.pk)
    await troll_client.join(room.pk)

    await mod_client.request("room.user_remove", room_id=room.pk, user_id=troll.pk)
    removed = await next_of_type(troll_client, "room.user_removed")
    assert removed["data"]["user_id"] == troll.pk
    await eventually(lambda: list(second.room_members(room.pk)) == [])
    with pytest.raises(ProtocolError):
        await troll_client.join(room.pk)


async def test_real_room_end_reaches_everyone(hubs: Callable[..., Any], sockets: list) -> None:
    first, second = await hubs(), await hubs()
    room, moderator = await live_room()
    clients = []
    for n, user in enumerate([moderator, await member(), await member()]):
        client, _ = await connect((first, second)[n % 2], sockets, user)
        await client.join(room.pk)
        clients.append(client)
    await clients[0].request("room.end", room_id=room.pk)
    for client in clients:
        await next_of_type(client, "room.ended")
    await eventually(lambda: not first.room_members(room.pk) and not second.room_members(room.pk))


async def test_real_reconnect_within_grace_keeps_the_stage_role_and_leave_after_grace(
    hubs: Callable[..., Any], sockets: list
) -> None:
    first, second = await hubs(grace=0.8), await hubs(grace=0.8)
    room, moderator = await live_room()
    speaker = await member()
    mod_client, _ = await connect(first, sockets, moderator)
    await mod_client.join(room.pk)
    client, communicator = await connect(first, sockets, speaker)
    await client.join(room.pk)
    await mod_client.request("room.speaker_invite", room_id=room.pk, user_id=speaker.pk)
    await client.request("room.speaker_invite_accept", room_id=room.pk)
    assert await role_of(room, speaker) == "speaker"

    await communicator.disconnect()
    await asyncio.sleep(0.3)
    again, again_communicator = await connect(second, sockets, speaker)
    snapshot = await again.join(room.pk)
    assert snapshot["you"]["role"] == "speaker"
    await asyncio.sleep(1.0)
    assert await role_of(room, speaker) == "speaker"

    await again_communicator.disconnect()  # gone for good this time
    await asyncio.sleep(0.3)
    assert await role_of(room, speaker) == "speaker"  # still inside the grace period
    deadline = asyncio.get_running_loop().time() + 5
    while await role_of(room, speaker) is not None:
        assert asyncio.get_running_loop().time() < deadline, "room_leave never ran"
        await asyncio.sleep(0.05)
