"""GET /api/v1/payouts/prices/: the prices of many events, rooms and clubs in one read (for
lists and for pages that must not meet a 404 for a free event or a club without a plan)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from clubhouse.money import Money
from clubs.models import ClubMembership
from clubs.services import club_create
from payouts import services
from payouts.services import tickets
from rooms import schedule_services
from tests.rooms.factories import EventFactory, RoomFactory

from .conftest import make_creator, make_user

pytestmark = pytest.mark.django_db


def _prices(api_client: Any, user: Any, **query: str) -> Any:
    api_client.force_authenticate(user)
    return api_client.get(reverse("api:payouts-prices"), query)


def test_priced_events_rooms_and_clubs_are_listed_and_free_ones_are_absent(api_client) -> None:
    creator = make_creator()
    priced, free = EventFactory(created_by=creator), EventFactory(created_by=creator)
    tickets.ticket_price_set(user=creator, event_id=priced.pk, price=Money(1200, "USD"))
    own_room, free_room = RoomFactory(created_by=creator), RoomFactory(created_by=creator)
    tickets.ticket_price_set(user=creator, room_id=own_room.pk, price=Money(300, "USD"))
    event_room = schedule_services.event_start_room(user=creator, event_id=priced.pk)
    club = club_create(creator=creator, name="Night Owls", is_exclusive=True)
    services.club_plan_set(club=club, actor=creator, price=Money(900, "USD"))
    plain = club_create(creator=creator, name="Day Larks")

    response = _prices(
        api_client,
        make_user(),
        events=f"{priced.pk},{free.pk}",
        rooms=f"{own_room.pk},{free_room.pk},{event_room.pk}",
        clubs=f"{club.slug},{plain.slug}",
    )

    assert response.status_code == 200
    assert response.json() == {
        "events": {str(priced.pk): {"amount": 1200, "currency": "USD"}},
        "rooms": {
            str(own_room.pk): {"amount": 300, "currency": "USD"},
            # a room started from a priced event costs the event's ticket
            str(event_room.pk): {"amount": 1200, "currency": "USD"},
        },
        "clubs": {club.slug: {"amount": 900, "currency": "USD"}},
    }


def test_a_hidden_members_only_event_is_left_out(api_client) -> None:
    creator = make_creator()
    club = club_create(creator=creator, name="Night Owls", is_exclusive=True)
    event = EventFactory(created_by=creator, club=club, members_only=True)
    tickets.ticket_price_set(user=creator, event_id=event.pk, price=Money(1200, "USD"))
    outsider = make_user()
    assert _prices(api_client, outsider, events=str(event.pk)).json()["events"] == {}
    ClubMembership.objects.create(club=club, user=outsider, role=ClubMembership.Role.ADMIN)
    assert str(event.pk) in _prices(api_client, outsider, events=str(event.pk)).json()["events"]


@pytest.mark.parametrize("query", [{"events": "1,x"}, {"rooms": ",".join(["1"] * 101)}])
def test_bad_ids_are_a_clear_400(api_client, query: dict[str, str]) -> None:
    response = _prices(api_client, make_user(), **query)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert list(error["fields"]) == list(query)


def test_nothing_asked_is_nothing_answered_and_visitors_are_refused(api_client) -> None:
    assert _prices(api_client, make_user()).json() == {"events": {}, "rooms": {}, "clubs": {}}
    api_client.force_authenticate(None)
    assert api_client.get(reverse("api:payouts-prices")).status_code in (401, 403)
