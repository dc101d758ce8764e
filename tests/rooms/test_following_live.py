"""GET /api/v1/me/following/live/: people you follow who are in a live room you may enter."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from rooms.models import Room
from rooms.services import room_create, room_end, room_join
from tests.factories import UserFactory
from tests.rooms.factories import block, follow

pytestmark = pytest.mark.django_db


def live(user) -> list[dict]:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.force_authenticate(user)
    response = client.get("/api/v1/me/following/live/")
    assert response.status_code == 200
    return response.json()["results"]


def test_lists_followed_people_on_stage_first_then_listening() -> None:
    me, ada, bob, stranger = (
        UserFactory(),
        UserFactory(display_name="Ada"),
        UserFactory(display_name="Bob"),
        UserFactory(),
    )
    follow(me, ada)
    follow(me, bob)
    room = room_create(user=ada, title="Engines")
    room_join(user=bob, room_id=room.pk)
    room_join(user=stranger, room_id=room.pk)

    people = live(me)

    assert [(p["user"]["name"], p["role"], p["room"]["title"]) for p in people] == [
        ("Ada", "moderator", "Engines"),
        ("Bob", "listener", "Engines"),
    ]


def test_leaves_out_ended_rooms_and_rooms_i_may_not_enter() -> None:
    me, ada, cy = UserFactory(), UserFactory(), UserFactory()
    follow(me, ada)
    follow(me, cy)
    ended = room_create(user=ada, title="Over")
    room_end(user=ada, room_id=ended.pk)
    room_create(user=cy, title="Invite only", type=Room.Type.CLOSED)

    assert live(me) == []


def test_leaves_out_rooms_whose_moderator_blocked_me() -> None:
    me, ada = UserFactory(), UserFactory()
    follow(me, ada)
    room_create(user=ada, title="Mine")
    block(ada, me)

    assert live(me) == []


def test_is_for_members_only() -> None:
    client = APIClient()
    client.force_authenticate(UserFactory(waitlisted=True))
    assert client.get("/api/v1/me/following/live/").status_code == 403
