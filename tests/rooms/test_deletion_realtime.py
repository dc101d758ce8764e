"""Deleting an account reaches live sockets like a ban (issue #12, Accounts): every socket of
the person closes with `account_disabled` / 4403, they leave their rooms in front of everyone,
and their session opens no new socket. Real room domain on PostgreSQL, embedded and on Redis
(the `web` fixture of the ban tests)."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from accounts import services as account_services
from rooms.realtime.fanout import Hub
from tests.rooms import test_consumers
from tests.rooms.test_ban_realtime import refusal, web
from tests.rooms.test_consumers import connect, next_of_type
from tests.rooms.test_consumers_integration import live_room, member, role_of
from tests.rooms.test_realtime_support import eventually, session_key_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

sockets = test_consumers.sockets
__all__ = ["web"]


@sync_to_async
def delete(user: Any) -> None:
    account_services.account_delete(user=user, actor=user)


async def test_deleting_an_account_closes_its_sockets_and_it_leaves_the_room(
    web: list[Hub], sockets: list
) -> None:
    room, moderator = await live_room()
    leaver = await member()
    key = await session_key_for(leaver)
    mod_client, _ = await connect(web[0], sockets, moderator)
    room_page, _ = await connect(web[1], sockets, leaver)
    other_tab, _ = await connect(web[0], sockets, leaver)
    await mod_client.join(room.pk)
    await room_page.join(room.pk)

    await delete(leaver)

    for client in (room_page, other_tab):
        assert await client.wait_closed(timeout=10) == 4403
        [error] = refusal(client)
        assert error["code"] == "account_disabled"
    removed = await next_of_type(mod_client, "room.user_removed", timeout=10)
    assert removed["data"]["user_id"] == leaver.pk
    assert removed["data"]["reason"] == "account_disabled"
    assert await role_of(room, leaver) is None
    for hub in web:
        await eventually(lambda h=hub: all(user != leaver.pk for user, _ in h.connected))
    # their old session (cookie or app token) opens nothing any more
    by_cookie, _ = await connect(
        web[0], sockets, headers=[(b"cookie", f"sessionid={key}".encode())]
    )
    error = await by_cookie.next_event()
    assert error["type"] == "error"
    assert error["code"] == "not_authenticated"
    assert await by_cookie.wait_closed() == 4401
