"""A room at capacity (issue #17): the hallway card and the snapshot say so, and joining
answers `room_full` (except for someone already in the room)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from clubhouse.errors import ApplicationError
from rooms import selectors, services
from tests.rooms.factories import MemberFactory, RoomFactory

pytestmark = pytest.mark.django_db


def as_user(user) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.force_authenticate(user)
    return client


def hallway_card(viewer, room_id: int) -> dict:  # type: ignore[no-untyped-def]
    results = as_user(viewer).get("/api/v1/hallway/").json()["results"]
    [card] = [r for r in results if r["id"] == room_id]
    return card


def test_the_hallway_card_carries_capacity_and_fills_up() -> None:
    room = RoomFactory(capacity=2)
    outsider = MemberFactory()
    card = hallway_card(outsider, room.pk)
    assert (card["capacity"], card["participant_count"], card["full"]) == (2, 1, False)
    assert card["joined"] is False

    guest = MemberFactory()
    services.room_join(user=guest, room_id=room.pk)
    card = hallway_card(outsider, room.pk)
    assert (card["participant_count"], card["full"], card["joined"]) == (2, True, False)
    # Someone in the room sees it full too, but as theirs: they may go back in.
    mine = hallway_card(guest, room.pk)
    assert (mine["full"], mine["joined"]) == (True, True)


def test_the_snapshot_says_full_and_a_newcomer_is_refused() -> None:
    room = RoomFactory(capacity=2)
    guest, late = MemberFactory(), MemberFactory()
    services.room_join(user=guest, room_id=room.pk)
    snapshot = selectors.room_snapshot(room_id=room.pk, viewer=late)  # still visible
    assert (snapshot["participant_count"], snapshot["full"]) == (2, True)
    assert snapshot["room"]["capacity"] == 2
    with pytest.raises(ApplicationError) as caught:
        services.room_join(user=late, room_id=room.pk)
    assert caught.value.code == "room_full"
    # Already in: joining again is a no-op, not a refusal.
    assert services.room_join(user=guest, room_id=room.pk).user == guest


def test_a_seat_that_frees_up_lets_the_next_person_in() -> None:
    room = RoomFactory(capacity=2)
    guest, late = MemberFactory(), MemberFactory()
    services.room_join(user=guest, room_id=room.pk)
    services.room_leave(user=guest, room_id=room.pk)
    assert selectors.room_snapshot(room_id=room.pk, viewer=late)["full"] is False
    services.room_join(user=late, room_id=room.pk)


def test_joining_a_full_room_over_rest_is_a_409_room_full() -> None:
    room = RoomFactory(capacity=1)
    response = as_user(MemberFactory()).post(f"/api/v1/rooms/{room.pk}/join/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "room_full"
