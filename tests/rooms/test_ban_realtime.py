"""A ban reaches live sockets (issue #12): every socket of the person closes with
`account_disabled` / 4403 on every web process, they leave their rooms in front of everyone,
and a frame racing the close is refused.

Real room domain on PostgreSQL. Each test runs in embedded mode (in-process delivery, no Redis)
and on Redis with two hubs standing for two web processes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from accounts import events as account_events
from accounts import services as account_services
from rooms.client import ProtocolError, RoomClient
from rooms.models import Room
from rooms.realtime import conf
from rooms.realtime.fanout import Hub
from tests.factories import UserFactory
from tests.rooms import test_consumers
from tests.rooms.factories import participant
from tests.rooms.test_consumers import connect, next_of_type
from tests.rooms.test_consumers_integration import live_room, member, role_of
from tests.rooms.test_realtime_support import (
    eventually,
    flush_redis_keys,
    make_hub,
    session_key_for,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

sockets = test_consumers.sockets


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def web(request: Any, settings: Any) -> AsyncIterator[list[Hub]]:
    """Two web processes' hubs: on Redis, two hubs with their own connections; embedded, the
    one process's hub (events are delivered in memory). Presence keeps a closed socket's member
    for 5 s: what a ban does must not be confused with the ordinary leave after the grace (with
    the default 0.4 s a loaded machine saw that leave inside a test's 0.3 s quiet window)."""
    if request.param == "memory":
        settings.REDIS_URL = ""
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
        hub = make_hub(redis_url="", grace=5.0, ttl=6.0)
        await hub.start()
        hubs = [hub, hub]
    else:
        settings.REALTIME_KEY_PREFIX = f"ban{uuid.uuid4().hex[:8]}"
        await flush_redis_keys(conf.key_prefix())
        hubs = [make_hub(grace=5.0, ttl=6.0), make_hub(grace=5.0, ttl=6.0)]
        for hub in hubs:
            await hub.start()
    yield hubs
    for hub in {id(h): h for h in hubs}.values():
        await hub.close()


@sync_to_async
def on_stage(room: Room, user: Any) -> None:
    participant(room, user, "speaker", muted=False)


@sync_to_async
def ban(user: Any) -> None:
    account_services.user_ban(user=user, staff=UserFactory(staff=True))


@sync_to_async
def status_of(room: Room) -> str:
    return str(Room.objects.get(pk=room.pk).status)


def refusal(client: RoomClient) -> list[dict[str, Any]]:
    return [push for push in client.pushes if push["type"] == "error"]


async def test_a_ban_closes_every_socket_of_the_person_on_every_process(
    web: list[Hub], sockets: list
) -> None:
    room, _moderator = await live_room()
    troll, bystander = await member(), await member()
    room_page, _ = await connect(web[0], sockets, troll)
    other_tab, _ = await connect(web[1], sockets, troll)  # the light socket of any other page
    someone, _ = await connect(web[1], sockets, bystander)
    await room_page.join(room.pk)
    await someone.join(room.pk)
    assert "time" in await other_tab.request("ping")

    await ban(troll)

    for client in (room_page, other_tab):
        assert await client.wait_closed(timeout=10) == 4403
        [error] = refusal(client)
        assert (error["id"], error["code"]) == (None, "account_disabled")
        assert error["message"]
    # the processes let go of the sockets at once: no room membership, not online
    for hub in web:
        await eventually(lambda h=hub: all(user != troll.pk for user, _ in h.connected))
        await eventually(lambda h=hub: all(user != troll.pk for _, user, _ in h.attached))
        assert all(getattr(m, "user_id", None) != troll.pk for m in hub.room_members(room.pk))
    # nobody else noticed
    assert "time" in await someone.request("ping")
    assert refusal(someone) == []


async def test_a_banned_moderator_leaves_the_room_and_everyone_sees_them_go(
    web: list[Hub], sockets: list
) -> None:
    room, moderator = await live_room()
    speaker, listener = await member(), await member()
    await on_stage(room, speaker)
    mod_client, _ = await connect(web[0], sockets, moderator)
    speaker_client, _ = await connect(web[1], sockets, speaker)
    listener_client, _ = await connect(web[1], sockets, listener)
    for client in (mod_client, speaker_client, listener_client):
        await client.join(room.pk)

    await ban(moderator)

    assert await mod_client.wait_closed(timeout=10) == 4403
    for client in (speaker_client, listener_client):
        removed = await next_of_type(client, "room.user_removed", timeout=10)
        assert removed["data"] == {
            "user_id": moderator.pk,
            "by": None,
            "was_on_stage": True,
            "reason": "account_disabled",
        }
        promoted = await next_of_type(client, "room.moderator_added", timeout=10)
        assert promoted["data"]["user"]["id"] == speaker.pk
        assert client.gaps == 0
    assert await role_of(room, moderator) is None
    # the room goes on under its new moderator
    reply = await speaker_client.request("room.hand_policy_set", room_id=room.pk, policy="off")
    assert reply == {"room_id": room.pk, "policy": "off"}


async def test_a_banned_listener_leaves_in_front_of_everyone(web: list[Hub], sockets: list) -> None:
    room, moderator = await live_room()
    listener = await member()
    mod_client, _ = await connect(web[0], sockets, moderator)
    listener_client, _ = await connect(web[1], sockets, listener)
    await mod_client.join(room.pk)
    await listener_client.join(room.pk)

    await ban(listener)

    assert await listener_client.wait_closed(timeout=10) == 4403
    removed = await next_of_type(mod_client, "room.user_removed", timeout=10)
    assert removed["data"]["user_id"] == listener.pk
    assert removed["data"]["was_on_stage"] is False
    count = await next_of_type(mod_client, "room.audience_count", timeout=10)
    assert count["data"] == {"count": 0}
    assert await role_of(room, listener) is None


def _frame(kind: str, room: Room, other_room: Room, victim: Any) -> dict[str, Any]:
    return {
        "room.end": {"room_id": room.pk},
        "room.user_remove": {"room_id": room.pk, "user_id": victim.pk},
        "room.join": {"room_id": other_room.pk},
        "room.snapshot": {},
        "rtc.offer": {"sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendrecv\r\n"},
    }[kind]


@pytest.mark.parametrize(
    "kind", ["room.end", "room.user_remove", "room.join", "room.snapshot", "rtc.offer"]
)
async def test_a_frame_racing_the_ban_is_refused_and_closes_the_socket(
    web: list[Hub], sockets: list, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """The ban has committed; its news has not reached the socket yet (no hook runs here), and
    the moderator's next frame arrives: it is refused with `account_disabled`, never acted on,
    and the socket closes."""
    monkeypatch.setattr(account_events, "ACCOUNT_DISABLED_HOOKS", [])
    room, moderator = await live_room()
    other_room, _ = await live_room()
    listener = await member()
    mod_client, _ = await connect(web[0], sockets, moderator)
    listener_client, _ = await connect(web[1], sockets, listener)
    await mod_client.join(room.pk)
    await listener_client.join(room.pk)

    await ban(moderator)
    with pytest.raises(ProtocolError) as refused:
        await mod_client.request(kind, **_frame(kind, room, other_room, listener))

    assert refused.value.code == "account_disabled"
    assert await mod_client.wait_closed(timeout=10) == 4403
    assert await status_of(room) == "live"
    assert await role_of(room, listener) == "listener"
    assert await role_of(other_room, moderator) is None
    await asyncio.sleep(0.3)
    assert [e["type"] for e in listener_client.pending_events() if "seq" in e] == []


async def test_a_banned_persons_cookie_and_session_token_open_no_socket(
    web: list[Hub], sockets: list
) -> None:
    person = await member()
    key = await session_key_for(person)  # logged in (browser cookie = app session token)
    await ban(person)

    by_cookie, _ = await connect(
        web[0], sockets, headers=[(b"cookie", f"sessionid={key}".encode())]
    )
    by_token, _ = await connect(web[1], sockets, headers=[(b"x-session-token", key.encode())])
    for client in (by_cookie, by_token):
        error = await client.next_event()
        assert error["type"] == "error"
        assert error["code"] == "not_authenticated"
        assert await client.wait_closed() == 4401
