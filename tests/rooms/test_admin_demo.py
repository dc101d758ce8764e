"""The back office and the demo data."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts import demo as accounts_demo
from rooms import demo
from rooms.models import Room, RoomParticipant, ScheduledEvent
from tests.rooms.factories import MemberFactory, RoomFactory, participant

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client() -> Client:
    staff = MemberFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/admin/rooms/room/",
        "/admin/rooms/roomparticipant/",
        "/admin/rooms/roomremoval/",
        "/admin/rooms/roominvite/",
        "/admin/rooms/roomeventlog/",
        "/admin/rooms/scheduledevent/",
    ],
)
def test_admin_lists_render(staff_client: Client, url: str) -> None:
    room = RoomFactory()
    participant(room, MemberFactory())
    assert staff_client.get(url, {"q": "x"}).status_code == 200
    assert staff_client.get(url).status_code == 200


def test_admin_room_page_renders(staff_client: Client) -> None:
    room = RoomFactory()
    assert staff_client.get(f"/admin/rooms/room/{room.pk}/change/").status_code == 200


def test_admin_action_ends_rooms_through_the_service(staff_client: Client) -> None:
    room = RoomFactory()
    asked = staff_client.post(
        "/admin/rooms/room/", {"action": "end_rooms", "_selected_action": [room.pk]}
    )
    assert b"data-staff-reason" in asked.content
    room.refresh_from_db()
    assert room.status == "live"  # not before the reason is given
    response = staff_client.post("/admin/rooms/room/", {"action": "end_rooms", "apply": "1",
        "_selected_action": [room.pk], "reason": "hate speech on stage"})  # fmt: skip
    assert response.status_code == 302
    room.refresh_from_db()
    assert room.status == "ended"
    assert room.end_reason == "ended_by_staff"
    assert not RoomParticipant.objects.filter(room=room).exists()


def test_demo_data_loads_live_rooms_and_an_event_idempotently() -> None:
    list(accounts_demo.load())
    lines = list(demo.load())
    assert any("Live room" in line for line in lines)
    assert any("Upcoming event" in line for line in lines)
    rooms = Room.objects.filter(status="live")
    assert rooms.count() == 2
    ada_room = rooms.get(title="Computing before computers")
    roles = dict(
        RoomParticipant.objects.filter(room=ada_room).values_list("user__username", "role")
    )
    assert roles["ada"] == "moderator"
    assert roles["grace"] == "speaker"
    assert roles["hedy"] == "listener"
    list(demo.load())
    assert Room.objects.count() == 2
    assert ScheduledEvent.objects.count() == 1
    assert RoomParticipant.objects.filter(room=ada_room).count() == len(roles)
