"""The room page offers as many receive slots as the API says the relay forwards (issue #22,
point 4): `listener_slots` of GET /api/v1/rtc/ice-servers/, which apps read too, decides how many
recvonly transceivers the page's connection has."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from rooms.services.lifecycle import room_create
from tests.browser.test_room import SLOW_MS, off_loop, open_room
from tests.factories import UserFactory

RECEIVE_SLOTS = (
    "() => window.clubhouseRoom.audio.pc.getTransceivers()"
    ".filter((t) => t.direction === 'recvonly').length"
)


def test_the_room_page_offers_the_apis_listener_slots(new_page: Any) -> None:
    room = off_loop(room_create, user=UserFactory(), title="Many voices")
    page = new_page(UserFactory(display_name="Ear"))
    served: list[int] = []

    def raise_slots(route: Any) -> None:
        # What a deployment with RELAY_LISTENER_SLOTS=5 answers (the page's template says 3).
        body = route.fetch().json()
        served.append(body["listener_slots"])
        route.fulfill(json={**body, "listener_slots": 5})

    page.route("**/api/v1/rtc/ice-servers/", raise_slots)
    open_room(page, room.pk)
    assert page.locator("#room").get_attribute("data-listener-slots") == "3"
    page.get_by_role("button", name="Tap to listen").click()
    expect(page.locator("#room")).to_have_attribute("data-audio", "connected", timeout=SLOW_MS)
    assert served == [3]  # the API says what the page's template says, unless raised
    assert page.evaluate(RECEIVE_SLOTS) == 5
