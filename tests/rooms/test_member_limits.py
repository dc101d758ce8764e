"""One member cannot hold unbounded sockets or rooms (issue #12, point 10).

Real sockets and room services on PostgreSQL; in embedded mode (in-process) and on Redis with
two hubs standing for two web processes (the socket count is cluster-wide).
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from rest_framework.test import APIClient

from rooms.client import ProtocolError
from rooms.consumers import CLOSE_TOO_MANY
from rooms.realtime.fanout import Hub
from tests.rooms import test_consumers
from tests.rooms.test_ban_realtime import web
from tests.rooms.test_consumers import connect
from tests.rooms.test_consumers_integration import live_room, member, role_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

sockets = test_consumers.sockets
__all__ = ["sockets", "web"]  # fixtures


async def test_a_socket_past_the_per_member_limit_is_refused_on_any_process(
    web: list[Hub], sockets: list, settings: Any
) -> None:
    settings.REALTIME_MAX_SOCKETS_PER_USER = 2
    person = await member()
    first, first_socket = await connect(web[0], sockets, person)
    second, _ = await connect(web[1], sockets, person)
    for client in (first, second):
        assert "time" in await client.request("ping")

    third, _ = await connect(web[1], sockets, person)

    error = await third.next_event(timeout=10)
    assert (error["type"], error["code"]) == ("error", "too_many_sockets")
    assert "2" in error["message"]
    assert await third.wait_closed(timeout=10) == CLOSE_TOO_MANY
    assert "time" in await first.request("ping")  # the open ones are untouched

    # closing one makes room for another
    await first_socket.disconnect()
    fourth, _ = await connect(web[0], sockets, person)
    assert "time" in await fourth.request("ping")


async def test_someone_else_is_not_limited_by_anothers_sockets(
    web: list[Hub], sockets: list, settings: Any
) -> None:
    settings.REALTIME_MAX_SOCKETS_PER_USER = 1
    busy, other = await member(), await member()
    await connect(web[0], sockets, busy)
    client, _ = await connect(web[1], sockets, other)
    assert "time" in await client.request("ping")


async def test_joining_more_rooms_than_allowed_is_refused_on_the_socket(
    web: list[Hub], sockets: list, settings: Any
) -> None:
    settings.ROOM_MAX_JOINED_PER_USER = 2
    person = await member()
    rooms = [(await live_room())[0] for _ in range(3)]
    tabs = [(await connect(web[n % 2], sockets, person))[0] for n in range(3)]
    await tabs[0].join(rooms[0].pk)
    await tabs[1].join(rooms[1].pk)

    with pytest.raises(ProtocolError) as refused:
        await tabs[2].join(rooms[2].pk)

    assert refused.value.code == "too_many_rooms"
    assert await role_of(rooms[2], person) is None
    # moving a socket to another room leaves its first one: that is allowed
    await tabs[1].join(rooms[2].pk)
    assert await role_of(rooms[2], person) == "listener"
    assert await role_of(rooms[1], person) is None


async def test_joining_more_rooms_than_allowed_is_refused_over_rest(settings: Any) -> None:
    settings.ROOM_MAX_JOINED_PER_USER = 1
    person = await member()
    (first, _), (second, _) = await live_room(), await live_room()

    @sync_to_async
    def join(room_id: int) -> Any:
        api = APIClient()
        api.force_authenticate(person)
        return api.post(f"/api/v1/rooms/{room_id}/join/")

    assert (await join(first.pk)).status_code == 200
    response = await join(second.pk)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "too_many_rooms"
    assert (await join(first.pk)).status_code == 200  # idempotent for the room they are in
