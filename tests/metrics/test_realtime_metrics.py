"""Sockets open, rooms live and room-event fan-out latency, as /metrics shows them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from rooms import services as room_services
from rooms.realtime import broadcast, conf
from rooms.realtime.fanout import Hub
from tests.rooms.factories import MemberFactory
from tests.rooms.test_realtime_support import (
    eventually,
    flush_redis_keys,
    make_hub,
    make_user,
    open_socket,
)

from .conftest import parse, sample_value

pytestmark = [pytest.mark.django_db(transaction=True)]


async def scrape_async(token: str) -> dict[str, list[Any]]:
    response = await AsyncClient().get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    return parse(response.content.decode())


@pytest.fixture
async def hub(redis_url: str, settings: Any) -> AsyncIterator[Hub]:
    settings.REALTIME_KEY_PREFIX = f"metrics{uuid.uuid4().hex[:8]}"
    await flush_redis_keys(conf.key_prefix())
    made = make_hub()
    await made.start()
    yield made
    await made.close()


async def test_an_open_websocket_raises_sockets_open_and_closing_it_lowers_it(
    hub: Hub, metrics_token: str
) -> None:
    before = sample_value(await scrape_async(metrics_token), "clubhouse_websockets_open")
    alice = await make_user("alice")
    client, communicator = await open_socket(hub, alice)
    assert client is not None
    assert "time" in await client.request("ping")  # authenticated and served
    opened = sample_value(await scrape_async(metrics_token), "clubhouse_websockets_open")
    assert opened == before + 1
    await communicator.disconnect()
    closed = sample_value(await scrape_async(metrics_token), "clubhouse_websockets_open")
    assert closed == before


async def test_an_event_delivered_to_a_socket_is_timed_in_the_fanout_histogram(
    hub: Hub, metrics_token: str
) -> None:
    name = "clubhouse_room_event_fanout_seconds_count"
    before = sample_value(await scrape_async(metrics_token), name)
    alice = await make_user("alice")
    client, communicator = await open_socket(hub, alice)
    assert client is not None
    await client.request("ping")
    await sync_to_async(broadcast.user_send)(alice.pk, {"type": "notification.new", "data": {}})
    event = await client.next_event()
    assert event == {"type": "notification.new", "data": {}}  # clients get the JSON alone
    after = await scrape_async(metrics_token)
    assert sample_value(after, name) == before + 1
    assert sample_value(after, "clubhouse_room_event_fanout_seconds_sum") > 0
    await communicator.disconnect()
    await eventually(lambda: not hub.connected)


async def test_a_live_room_shows_in_rooms_live_and_leaves_it_when_it_ends(
    metrics_token: str,
) -> None:
    before = sample_value(await scrape_async(metrics_token), "clubhouse_rooms_live")
    host = await sync_to_async(MemberFactory)()
    room = await sync_to_async(room_services.room_create)(user=host, title="Metrics")
    live = sample_value(await scrape_async(metrics_token), "clubhouse_rooms_live")
    assert live == before + 1
    await sync_to_async(room_services.room_end)(user=host, room_id=room.pk)
    assert sample_value(await scrape_async(metrics_token), "clubhouse_rooms_live") == before
