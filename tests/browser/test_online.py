"""The hallway's "Online now": the people you follow who have the app open, on any page."""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import expect

from rooms.services import room_create
from tests.browser.conftest import PHONE, assert_every_control_is_named
from tests.factories import UserFactory
from tests.rooms.factories import block, follow


def online_strip(page: Any) -> Any:
    return page.get_by_role("region", name="Online now")


def test_followed_person_is_online_while_a_page_is_open(new_page: Any, screenshots: Any) -> None:
    ada = UserFactory(username="ada", display_name="Ada Lovelace")
    bob = UserFactory(username="bob", display_name="Bob")
    cy = UserFactory(username="cy", display_name="Cy Blocked")
    follow(bob, ada)
    follow(bob, cy)
    block(cy, bob)  # cy is online too, but a block hides each from the other
    room = room_create(user=ada, title="Engines")

    watcher = new_page(bob)
    watcher.clock.install()  # its timers run on time, and can be moved on (below)
    watcher.goto("/")
    expect(watcher.get_by_role("heading", name="Hallway")).to_be_visible()
    expect(online_strip(watcher)).to_be_hidden()  # nobody Bob follows has the app open

    cy_page = new_page(cy)
    cy_page.goto("/search/")
    ada_page = new_page(ada)
    ada_page.goto("/events/")  # any page keeps a socket open

    # The hallway's own refresh (every 20 s) brings Ada in, no reload needed. Rather than wait
    # for it, the watcher's clock jumps 20 s at a time, which runs the refresh's timer once.
    strip = online_strip(watcher)
    ada_online = strip.get_by_role("link", name="Ada Lovelace")
    deadline = time.monotonic() + 45
    while not ada_online.is_visible() and time.monotonic() < deadline:
        watcher.clock.fast_forward(20_000)
        watcher.wait_for_load_state("networkidle")
        time.sleep(0.5)
    expect(ada_online).to_be_visible()
    expect(strip.get_by_role("link", name="in Engines")).to_have_attribute(
        "href", f"/rooms/{room.pk}/"
    )
    expect(strip).not_to_contain_text("Cy Blocked")
    assert_every_control_is_named(watcher)
    screenshots(watcher, "hallway-online-now")

    # Ada moves to another page: still online (the grace covers the navigation).
    ada_page.goto("/notifications/")
    watcher.reload()
    expect(online_strip(watcher).get_by_role("link", name="Ada Lovelace")).to_be_visible()

    ada_page.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # grace (2 s in tests) + a loaded machine
        watcher.reload()
        expect(watcher.get_by_role("heading", name="Hallway")).to_be_visible()
        watcher.wait_for_load_state("networkidle")
        if online_strip(watcher).is_hidden():
            break
        time.sleep(0.5)
    expect(online_strip(watcher)).to_be_hidden()
    watcher.console.assert_clean()


def test_online_strip_fits_a_phone(new_page: Any) -> None:
    me = UserFactory(username="me")
    friends = [UserFactory(display_name=f"Friend with a long name {n}") for n in range(6)]
    pages = []
    for friend in friends:
        follow(me, friend)
        friend_page = new_page(friend)
        friend_page.goto("/events/")
        pages.append(friend_page)

    phone = new_page(me, viewport=PHONE)
    phone.goto("/")
    strip = online_strip(phone)
    expect(strip.get_by_role("listitem")).to_have_count(6, timeout=45_000)
    # The row scrolls sideways inside itself; the page never gets wider than the phone.
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.console.assert_clean()
