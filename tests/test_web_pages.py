"""The web client's page views: who may see them (the data itself comes from the API)."""

from __future__ import annotations

import pytest
from django.test import Client

from rooms.services import room_create, room_end
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PAGES = ["/", "/welcome/", "/notifications/", "/invitations/", "/search/", "/clubs/",
         "/clubs/some-club/", "/events/", "/events/1/", "/wallet/", "/creator/apply/",
         "/rooms/new/", "/u/someone/followers/"]  # fmt: skip


@pytest.mark.parametrize("path", PAGES[1:])
def test_visitors_are_sent_to_log_in(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("path", PAGES)
def test_waitlisted_people_are_sent_to_the_waitlist(client: Client, path: str) -> None:
    client.force_login(UserFactory(waitlisted=True))
    response = client.get(path)
    assert (response.status_code, response["Location"]) == (302, "/waitlist/")


@pytest.mark.parametrize("path", PAGES)
def test_members_get_every_page(client: Client, path: str) -> None:
    client.force_login(UserFactory())
    response = client.get(path)
    assert response.status_code == 200
    assert b'name="csrf-token"' in response.content


def test_room_page_for_a_live_room_and_an_error_page_otherwise(client: Client) -> None:
    host = UserFactory()
    room = room_create(user=host, title="Night talk")
    client.force_login(UserFactory())
    assert client.get(f"/rooms/{room.pk}/").status_code == 200
    room_end(user=host, room_id=room.pk)
    response = client.get(f"/rooms/{room.pk}/")
    assert response.status_code >= 400
    assert b"room_ended" in response.content or b"ended" in response.content
    assert client.get("/rooms/999999/").status_code == 404


def test_the_room_page_offers_as_many_slots_as_the_relay_forwards(
    client: Client, settings: object
) -> None:
    """RELAY_LISTENER_SLOTS reaches the page's offer: a raised count is heard, not dropped."""
    room = room_create(user=UserFactory(), title="Loud room")
    client.force_login(UserFactory())
    assert b'data-listener-slots="3"' in client.get(f"/rooms/{room.pk}/").content
    settings.RELAY_LISTENER_SLOTS = 5  # type: ignore[attr-defined]
    assert b'data-listener-slots="5"' in client.get(f"/rooms/{room.pk}/").content


def test_share_link_leads_to_the_room(client: Client) -> None:
    room = room_create(user=UserFactory(), title="Shared")
    client.force_login(UserFactory())
    response = client.get(f"/r/{room.share_token}/")
    assert (response.status_code, response["Location"]) == (302, f"/rooms/{room.pk}/")
    assert client.get("/r/nope/").status_code == 404


def test_test_mode_banner_shows_while_the_stripe_stand_in_answers(client: Client) -> None:
    client.force_login(UserFactory())
    assert b"Test mode: payments go to a Stripe stand-in" in client.get("/").content
