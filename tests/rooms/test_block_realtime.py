"""A new block reaches a live room (issue #12, point 20): when a moderator blocks someone in
their room, the blocked person is taken out in front of everyone, their socket leaves the room
and they cannot come back while the block stands (rooms/rules.py: a moderator's block bars
entry). A block by someone who does not moderate changes nothing in the room, as for entry.

Real room domain on PostgreSQL, the real channel layer: embedded (in memory) and on Redis with
two hubs standing for two web processes (the `web` fixture of the ban tests).
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from accounts import services as account_services
from rooms.client import ProtocolError
from rooms.realtime.fanout import Hub
from tests.rooms import test_ban_realtime, test_consumers
from tests.rooms.factories import participant
from tests.rooms.test_consumers import connect, next_of_type
from tests.rooms.test_consumers_integration import live_room, member, role_of
from tests.rooms.test_realtime_support import eventually

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

sockets = test_consumers.sockets
web = test_ban_realtime.web


@sync_to_async
def block(blocker: Any, blocked: Any) -> None:
    account_services.user_block(blocker=blocker, blocked=blocked)


@sync_to_async
def seat(room: Any, user: Any, role: str) -> None:
    participant(room, user, role, muted=False)


async def test_a_moderator_blocking_a_listener_takes_them_out_of_the_room(
    web: list[Hub], sockets: list
) -> None:
    room, moderator = await live_room()
    troll, bystander = await member(), await member()
    mod_client, _ = await connect(web[0], sockets, moderator)
    troll_client, _ = await connect(web[1], sockets, troll)
    bystander_client, _ = await connect(web[1], sockets, bystander)
    for client in (mod_client, troll_client, bystander_client):
        await client.join(room.pk)

    await block(moderator, troll)

    told = await next_of_type(troll_client, "room.removed", timeout=10)
    assert told["data"] == {"reason": "blocked_by_moderator"}
    for client in (mod_client, bystander_client):
        removed = await next_of_type(client, "room.user_removed", timeout=10)
        assert removed["data"] == {
            "user_id": troll.pk,
            "by": None,
            "was_on_stage": False,
            "reason": "blocked_by_moderator",
        }
    assert await role_of(room, troll) is None
    # their socket left the room on every process (no more room events reach it)
    for hub in web:
        await eventually(
            lambda h=hub: all(
                getattr(m, "user_id", None) != troll.pk for m in h.room_members(room.pk)
            )
        )
    # and the way back is shut while the block stands
    with pytest.raises(ProtocolError) as refused:
        await troll_client.join(room.pk)
    assert refused.value.code == "blocked_by_moderator"
    assert "time" in await bystander_client.request("ping")


async def test_a_moderator_blocking_a_speaker_takes_them_off_the_stage_and_out(
    web: list[Hub], sockets: list
) -> None:
    room, moderator = await live_room()
    speaker = await member()
    await seat(room, speaker, "speaker")
    mod_client, _ = await connect(web[0], sockets, moderator)
    speaker_client, _ = await connect(web[1], sockets, speaker)
    await mod_client.join(room.pk)
    await speaker_client.join(room.pk)

    await block(moderator, speaker)

    removed = await next_of_type(mod_client, "room.user_removed", timeout=10)
    assert removed["data"]["user_id"] == speaker.pk
    assert removed["data"]["was_on_stage"] is True
    assert removed["data"]["reason"] == "blocked_by_moderator"
    assert (await next_of_type(speaker_client, "room.removed", timeout=10))["data"] == {
        "reason": "blocked_by_moderator"
    }
    assert await role_of(room, speaker) is None


async def test_a_block_by_someone_who_does_not_moderate_leaves_the_room_as_it_is(
    web: list[Hub], sockets: list
) -> None:
    room, _moderator = await live_room()
    speaker, listener = await member(), await member()
    await seat(room, speaker, "speaker")
    listener_client, _ = await connect(web[1], sockets, listener)
    await listener_client.join(room.pk)

    await block(speaker, listener)  # the hook ran on the block's commit, before this returns

    assert await role_of(room, listener) == "listener"
    assert "time" in await listener_client.request("ping")
    assert [e for e in listener_client.pending_events() if e.get("type") == "room.removed"] == []


async def test_a_moderators_block_does_not_take_out_a_fellow_moderator(
    web: list[Hub], sockets: list
) -> None:
    room, moderator = await live_room()
    co_moderator = await member()
    await seat(room, co_moderator, "moderator")

    await block(moderator, co_moderator)

    assert await role_of(room, co_moderator) == "moderator"


async def test_blocking_the_moderator_from_the_audience_changes_nothing(
    web: list[Hub], sockets: list
) -> None:
    room, moderator = await live_room()
    listener = await member()
    listener_client, _ = await connect(web[0], sockets, listener)
    await listener_client.join(room.pk)

    await block(listener, moderator)

    assert await role_of(room, listener) == "listener"
    assert await role_of(room, moderator) == "moderator"
