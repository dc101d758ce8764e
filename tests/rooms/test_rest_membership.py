"""Joining and leaving over REST behave like the socket (issue #12, point 14): someone who joined
over REST and never connects a socket leaves after the grace period, like a socket that went
away; leaving over REST takes the person's open sockets out of the room (no more room events,
presence let go).

Real room services on PostgreSQL, the REST API, real sockets; embedded and on Redis.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from rest_framework.test import APIClient

from rooms.models import Room
from rooms.realtime import conf
from rooms.realtime.fanout import Hub
from tests.rooms import test_consumers
from tests.rooms.test_consumers import connect, next_of_type
from tests.rooms.test_consumers_integration import live_room, member, role_of
from tests.rooms.test_realtime_support import eventually, flush_redis_keys, make_hub

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

sockets = test_consumers.sockets
GRACE = 1.0


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def hub(request: Any, settings: Any) -> AsyncIterator[Hub]:
    settings.REALTIME_GRACE_SECONDS = GRACE
    if request.param == "memory":
        settings.REDIS_URL = ""
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
        made = make_hub(redis_url="", grace=GRACE, ttl=3.0)
    else:
        settings.REALTIME_KEY_PREFIX = f"rest{uuid.uuid4().hex[:8]}"
        await flush_redis_keys(conf.key_prefix())
        made = make_hub(grace=GRACE, ttl=3.0)
    await made.start()
    yield made
    await made.close()


def api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@sync_to_async
def rest_join(user: Any, room: Room) -> int:
    return int(api(user).post(f"/api/v1/rooms/{room.pk}/join/").status_code)


@sync_to_async
def rest_leave(user: Any, room: Room) -> int:
    return int(api(user).post(f"/api/v1/rooms/{room.pk}/leave/").status_code)


async def test_joined_over_rest_without_a_socket_leaves_after_the_grace(hub: Hub) -> None:
    room, _moderator = await live_room()
    person = await member()

    assert await rest_join(person, room) == 200
    assert await role_of(room, person) == "listener"

    deadline = asyncio.get_running_loop().time() + GRACE + 10
    while await role_of(room, person) is not None:
        assert asyncio.get_running_loop().time() < deadline, "never left"
        await asyncio.sleep(0.1)


async def test_joined_over_rest_then_a_socket_keeps_the_place(hub: Hub, sockets: list) -> None:
    room, _moderator = await live_room()
    person = await member()
    assert await rest_join(person, room) == 200
    client, _ = await connect(hub, sockets, person)
    await client.join(room.pk)

    await asyncio.sleep(GRACE + 1.5)  # well past the grace the REST join started

    assert await role_of(room, person) == "listener"


async def test_leaving_over_rest_takes_the_persons_sockets_out_of_the_room(
    hub: Hub, sockets: list
) -> None:
    room, moderator = await live_room()
    person = await member()
    mod_client, _ = await connect(hub, sockets, moderator)
    await mod_client.join(room.pk)
    tab, _ = await connect(hub, sockets, person)
    other_tab, _ = await connect(hub, sockets, person)
    await tab.join(room.pk)
    await other_tab.join(room.pk)

    assert await rest_leave(person, room) == 204

    for client in (tab, other_tab):
        left = await next_of_type(client, "room.left", timeout=10)
        assert left["room_id"] == room.pk
    # the sockets no longer follow the room, and presence let go of them
    await eventually(lambda: all(m.user_id != person.pk for m in hub.room_members(room.pk)))
    await eventually(lambda: all(user != person.pk for _, user, _ in hub.attached))
    assert await role_of(room, person) is None
    # a later room event does not reach them (the moderator sees it)
    tab.pending_events(), other_tab.pending_events()
    await mod_client.request("room.hand_policy_set", room_id=room.pk, policy="off")
    await next_of_type(mod_client, "room.hand_policy_changed", timeout=10)
    await asyncio.sleep(0.5)
    for client in (tab, other_tab):
        assert [e["type"] for e in client.pending_events() if "seq" in e] == []
    # they are not put back by a grace-period sweep either
    await asyncio.sleep(GRACE + 1.0)
    assert await role_of(room, person) is None
