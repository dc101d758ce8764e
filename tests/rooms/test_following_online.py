"""GET /api/v1/me/following/online/: people you follow who have the app open, with the room
they are in when you may enter it. Run against both stores (Redis, in-process)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient

from rooms.models import Room
from rooms.realtime.online import RedisOnline, local_online
from rooms.services import room_create, room_join
from tests.factories import UserFactory
from tests.rooms.factories import block, follow

pytestmark = pytest.mark.django_db

GRACE = 0.3
LONG_GRACE = 4.0


class Switch:
    """Opens and closes sockets for people, as the socket layer would."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.grace = GRACE

    def _run(self, method: str, user: Any, sid: str) -> None:
        if self.kind == "memory":
            async_to_sync(getattr(local_online(), method))(user.pk, sid)
            return

        async def call() -> None:
            store = RedisOnline(settings.REDIS_URL, ttl=60, grace=self.grace)
            try:
                await getattr(store, method)(user.pk, sid)
            finally:
                await store.close()

        async_to_sync(call)()

    def on(self, user: Any, sid: str = "tab") -> None:
        self._run("connect", user, sid)

    def off(self, user: Any, sid: str = "tab") -> None:
        self._run("disconnect", user, sid)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def sockets(request: pytest.FixtureRequest) -> Iterator[Switch]:
    overrides: dict[str, Any] = {
        "REALTIME_KEY_PREFIX": f"rt-test-{uuid.uuid4().hex[:8]}",
        "REALTIME_ONLINE_GRACE_SECONDS": GRACE,
    }
    if request.param == "memory":
        overrides.update(REDIS_URL="", REALTIME_REDIS_URL=None)
    with override_settings(**overrides):
        yield Switch(request.param)


def online(user: Any, **query: Any) -> dict[str, Any]:
    client = APIClient()
    client.force_authenticate(user)
    response = client.get("/api/v1/me/following/online/", query)
    assert response.status_code == 200, response.content
    return response.json()


def names(page: dict[str, Any]) -> list[str]:
    return [entry["user"]["name"] for entry in page["results"]]


def test_lists_online_people_i_follow_only(sockets: Switch) -> None:
    me, ada, bob, cy, stranger = (
        UserFactory(),
        UserFactory(display_name="Ada"),
        UserFactory(display_name="bob"),
        UserFactory(display_name="Cy"),
        UserFactory(display_name="Stranger"),
    )
    for person in (ada, bob, cy):
        follow(me, person)
    follow(stranger, me)  # follows me; I do not follow them
    for person in (cy, bob, ada, stranger):
        sockets.on(person)

    page = online(me)

    assert page["count"] == 3
    assert names(page) == ["Ada", "bob", "Cy"]  # by name, case-insensitively
    assert page["results"][0] == {
        "user": {"id": ada.pk, "username": ada.username, "name": "Ada", "avatar_url": None},
        "room": None,
    }


def test_offline_after_the_grace_not_during_it(sockets: Switch) -> None:
    """The grace is long enough here that one API call on a loaded machine fits in it many
    times over (0.3 s did not: the check "still online during the grace" came too late)."""
    sockets.grace = LONG_GRACE
    me, ada = UserFactory(), UserFactory(display_name="Ada")
    follow(me, ada)
    with override_settings(REALTIME_ONLINE_GRACE_SECONDS=LONG_GRACE):
        assert names(online(me)) == []
        sockets.on(ada)
        assert names(online(me)) == ["Ada"]
        closed_at = time.monotonic()
        sockets.off(ada)
        assert names(online(me)) == ["Ada"]
        checked_within = time.monotonic() - closed_at
        assert checked_within < LONG_GRACE, f"the check itself took {checked_within:.1f} s"
        deadline = closed_at + LONG_GRACE + 20
        while names(online(me)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert names(online(me)) == []
        assert time.monotonic() - closed_at >= LONG_GRACE


def test_blocked_either_way_never_appear(sockets: Switch) -> None:
    me, ada, bob, cy = (
        UserFactory(),
        UserFactory(display_name="Ada"),
        UserFactory(display_name="Bob"),
        UserFactory(display_name="Cy"),
    )
    for person in (ada, bob, cy):
        follow(me, person)
        sockets.on(person)
    block(me, ada)
    block(bob, me)

    assert names(online(me)) == ["Cy"]


def test_room_shown_only_when_i_may_enter_it(sockets: Switch) -> None:
    me, ada, bob = UserFactory(), UserFactory(display_name="Ada"), UserFactory(display_name="Bob")
    follow(me, ada)
    follow(me, bob)
    open_room = room_create(user=ada, title="Engines")
    room_create(user=bob, title="Secret", type=Room.Type.CLOSED)
    sockets.on(ada)
    sockets.on(bob)

    results = online(me)["results"]

    assert [(e["user"]["name"], e["room"]) for e in results] == [
        ("Ada", {"id": open_room.pk, "title": "Engines", "role": "moderator"}),
        ("Bob", None),
    ]


def test_paginated(sockets: Switch) -> None:
    me = UserFactory()
    people = [UserFactory(display_name=f"P{n:02}") for n in range(5)]
    for person in people:
        follow(me, person)
        sockets.on(person)

    first = online(me, limit=2)
    second = online(me, limit=2, offset=2)

    assert first["count"] == 5
    assert first["next"]
    assert first["previous"] is None
    assert names(first) == ["P00", "P01"]
    assert names(second) == ["P02", "P03"]


@pytest.mark.parametrize("count", [2, 12])
def test_query_count_does_not_grow(
    sockets: Switch, count: int, django_assert_num_queries: Callable[..., Any]
) -> None:
    me = UserFactory()
    client = APIClient()
    client.force_authenticate(me)
    for n in range(count):
        person = UserFactory()
        follow(me, person)
        sockets.on(person)
        room = room_create(user=UserFactory(), title=f"R{n}")
        room_join(user=person, room_id=room.pk)
    # followed ids, count, page, rooms of the page (the viewer comes from force_authenticate)
    with django_assert_num_queries(4):
        response = client.get("/api/v1/me/following/online/")
    assert response.json()["count"] == count
    assert all(entry["room"] for entry in response.json()["results"])


def test_is_for_members_only() -> None:
    client = APIClient()
    client.force_authenticate(UserFactory(waitlisted=True))
    response = client.get("/api/v1/me/following/online/")
    assert response.status_code == 403
    assert "error" in response.json()
