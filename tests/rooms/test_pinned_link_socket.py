"""The pinned link and a full room over the room WebSocket, against the real room domain on
PostgreSQL and the Redis fan-out (as test_consumers_integration.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from rooms.client import ProtocolError
from rooms.models import Room
from tests.rooms import test_consumers
from tests.rooms.factories import MemberFactory, RoomFactory
from tests.rooms.test_consumers import connect, next_of_type

hubs = test_consumers.hubs
sockets = test_consumers.sockets

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis, pytest.mark.postgres]


@sync_to_async
def live_room(**fields: Any) -> tuple[Room, Any]:
    room = RoomFactory(**fields)
    return room, room.created_by


@sync_to_async
def member() -> Any:
    return MemberFactory()


async def test_a_pin_reaches_the_room_and_a_later_listener_finds_it_in_the_snapshot(
    hubs: Callable[..., Any], sockets: list
) -> None:
    first, second = await hubs(), await hubs()
    room, moderator = await live_room()
    listener, latecomer = await member(), await member()
    mod_client, _ = await connect(first, sockets, moderator)
    listener_client, _ = await connect(second, sockets, listener)
    await mod_client.join(room.pk)
    before = await listener_client.join(room.pk)
    assert before["room"]["pinned_link"] is None

    reply = await mod_client.request(
        "room.pinned_link_set", room_id=room.pk, url="https://example.org/", title="Slides"
    )
    assert reply["room_id"] == room.pk
    assert reply["pinned_link"]["url"] == "https://example.org/"
    event = await next_of_type(listener_client, "room.pinned_link_changed")
    assert event["seq"] > before["seq"]
    assert event["data"]["pinned_link"]["title"] == "Slides"
    assert event["data"]["by"] == moderator.pk

    late_client, _ = await connect(second, sockets, latecomer)
    snapshot = await late_client.join(room.pk)
    assert snapshot["room"]["pinned_link"]["url"] == "https://example.org/"
    assert snapshot["room"]["pinned_link"]["title"] == "Slides"

    reply = await mod_client.request("room.pinned_link_clear", room_id=room.pk)
    assert reply == {"room_id": room.pk, "pinned_link": None}
    event = await next_of_type(late_client, "room.pinned_link_changed")
    assert event["data"]["pinned_link"] is None


async def test_pin_errors_come_back_as_error_frames(
    hubs: Callable[..., Any], sockets: list
) -> None:
    hub = await hubs()
    room, moderator = await live_room()
    listener = await member()
    mod_client, _ = await connect(hub, sockets, moderator)
    listener_client, _ = await connect(hub, sockets, listener)
    await mod_client.join(room.pk)
    await listener_client.join(room.pk)
    with pytest.raises(ProtocolError) as caught:
        await mod_client.request("room.pinned_link_set", room_id=room.pk, url="javascript:x()")
    assert caught.value.code == "invalid"
    assert "url" in caught.value.fields
    with pytest.raises(ProtocolError) as caught:
        await listener_client.request(
            "room.pinned_link_set", room_id=room.pk, url="https://example.org/"
        )
    assert caught.value.code == "not_moderator"


async def test_joining_a_full_room_answers_room_full_and_the_snapshot_says_full(
    hubs: Callable[..., Any], sockets: list
) -> None:
    hub = await hubs()
    room, moderator = await live_room(capacity=2)
    listener, third = await member(), await member()
    mod_client, _ = await connect(hub, sockets, moderator)
    await mod_client.join(room.pk)
    listener_client, _ = await connect(hub, sockets, listener)
    snapshot = await listener_client.join(room.pk)
    assert snapshot["room"]["capacity"] == 2
    assert snapshot["participant_count"] == 2
    assert snapshot["full"] is True

    third_client, _ = await connect(hub, sockets, third)
    with pytest.raises(ProtocolError) as caught:
        await third_client.join(room.pk)
    assert caught.value.code == "room_full"
