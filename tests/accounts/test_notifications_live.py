"""New notifications reach the member's open /ws/ sockets at once (issue #17, point 4): the
badge changes without polling. `notification.created` carries the row and the unread count;
`notification.read` the count after the person read some (in another tab or device).

Real room domain and consumer on PostgreSQL; in memory (embedded) and on Redis with two hubs
standing for two web processes, like the other realtime tests.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from accounts import services as account_services
from rooms.realtime import conf
from rooms.realtime.fanout import Hub
from tests.rooms import test_consumers
from tests.rooms.test_consumers import connect
from tests.rooms.test_consumers_integration import member
from tests.rooms.test_realtime_support import flush_redis_keys, make_hub

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

sockets = test_consumers.sockets


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def web(request: Any, settings: Any) -> AsyncIterator[list[Hub]]:
    if request.param == "memory":
        settings.REDIS_URL = ""
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
        hub = make_hub(redis_url="")
        await hub.start()
        hubs = [hub, hub]
    else:
        settings.REALTIME_KEY_PREFIX = f"notif{uuid.uuid4().hex[:8]}"
        await flush_redis_keys(conf.key_prefix())
        hubs = [make_hub(), make_hub()]
        for hub in hubs:
            await hub.start()
    yield hubs
    for hub in {id(h): h for h in hubs}.values():
        await hub.close()


follow = sync_to_async(account_services.user_follow)


async def test_a_new_notification_reaches_every_open_socket_of_the_person_with_the_count(
    web: list[Hub], sockets: list
) -> None:
    alice, bob, carol = await member(), await member(), await member()
    this_tab, _ = await connect(web[0], sockets, alice)
    other_device, _ = await connect(web[1], sockets, alice)
    onlooker, _ = await connect(web[1], sockets, carol)

    await follow(follower=bob, followee=alice)

    for socket in (this_tab, other_device):
        push = await socket.wait_push("notification.created")
        assert push["data"]["unread"] == 1
        notification = push["data"]["notification"]
        assert notification["kind"] == "followed"
        assert notification["actor"]["username"] == bob.username
        assert notification["read"] is False
    await follow(follower=carol, followee=alice)
    second = await this_tab.wait_push(
        "notification.created", where=lambda p: p["data"]["unread"] == 2
    )
    assert second["data"]["notification"]["actor"]["username"] == carol.username
    assert onlooker.pushes_of("notification.created") == []  # nobody else hears of it


async def test_reading_on_one_device_updates_the_count_on_the_others(
    web: list[Hub], sockets: list
) -> None:
    alice, bob, carol = await member(), await member(), await member()
    await follow(follower=bob, followee=alice)
    await follow(follower=carol, followee=alice)
    phone, _ = await connect(web[1], sockets, alice)
    notifications = await sync_to_async(
        lambda: list(alice.notifications.order_by("pk").values_list("pk", flat=True))
    )()

    await sync_to_async(account_services.notification_mark_read)(
        user=alice, notification_id=notifications[0]
    )
    read = await phone.wait_push("notification.read")
    assert read["data"] == {"unread": 1}

    await sync_to_async(account_services.notification_mark_all_read)(user=alice)
    await phone.wait_push("notification.read", where=lambda p: p["data"]["unread"] == 0)
