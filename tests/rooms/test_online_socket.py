"""A member's /ws/ socket (no room needed) makes them online; closing it makes them offline once
the grace period is over; the hub's heartbeat keeps a long-lived socket online."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from django.conf import settings
from django.test import override_settings

from rooms.realtime.coalesce import make_coalescer
from rooms.realtime.fanout import Hub
from rooms.realtime.online import LocalOnline, RedisOnline
from rooms.realtime.presence import make_presence
from tests.rooms.test_realtime_support import make_user, open_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]


@pytest.fixture
async def hub(redis_url: str) -> AsyncIterator[Hub]:
    online = RedisOnline(
        settings.REDIS_URL, ttl=0.5, grace=0.4, prefix=f"rt-test-{uuid.uuid4().hex[:8]}"
    )
    hub = Hub(
        redis_url=settings.REDIS_URL,
        presence=make_presence(settings.REDIS_URL, grace=0.4, ttl=0.6),
        coalescer=make_coalescer(settings.REDIS_URL, interval=0.2),
        online=online,
        sweep_seconds=0.05,
        heartbeat_seconds=0.1,
    )
    await hub.start()
    yield hub
    await hub.close()  # bounded by the hub itself (CLOSE_TIMEOUT_S per step)


async def is_online(hub: Hub, user_id: int) -> bool:
    return user_id in await hub.online.online([user_id])


async def wait_for(hub: Hub, user_id: int, online: bool, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while await is_online(hub, user_id) != online:
        if time.monotonic() > deadline:
            raise AssertionError(f"user {user_id} never became {'on' if online else 'off'}line")
        await asyncio.sleep(0.02)


async def test_open_socket_is_online_heartbeat_keeps_it_close_ends_it_after_grace(hub: Hub) -> None:
    ada = await make_user("ada")
    _client, socket = await open_socket(hub, ada)
    await wait_for(hub, ada.pk, True)
    await asyncio.sleep(1.2)  # more than twice the heartbeat TTL: only heartbeats keep it
    assert await is_online(hub, ada.pk)

    await socket.disconnect()
    assert await is_online(hub, ada.pk)  # within the grace period
    await wait_for(hub, ada.pk, False)
    assert hub.connected == set()


async def test_waitlisted_and_anonymous_sockets_are_not_online(hub: Hub) -> None:
    waiting = await make_user("wait", member=False)
    _client, socket = await open_socket(hub, waiting)
    _client2, anonymous = await open_socket(hub)
    await asyncio.sleep(0.3)
    assert not await is_online(hub, waiting.pk)
    assert hub.connected == set()
    await socket.disconnect()
    await anonymous.disconnect()


@override_settings(REDIS_URL="", REALTIME_REDIS_URL=None, REALTIME_ONLINE_GRACE_SECONDS=0.2)
async def test_hub_without_redis_shares_its_store_with_the_request_threads() -> None:
    from rooms.realtime import online

    hub = Hub(redis_url="")
    assert isinstance(hub.online, LocalOnline)
    await hub.connected_user(77, "tab")
    # what a sync API view (another thread) reads
    assert await asyncio.to_thread(online.online_user_ids, [77, 78]) == {77}
    await hub.disconnected_user(77, "tab")
    await asyncio.sleep(0.4)
    assert await asyncio.to_thread(online.online_user_ids, [77, 78]) == set()
    await hub.close()
