"""The room page's extras (issue #17 point 3), two browsers where two people are involved: a
moderator pins a link that a listener who joins later sees; a member reports the room from the
page and staff find it in the admin; a full room says "Room full" in the hallway and on its
page, with the join button disabled until a seat frees up."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from rooms.models import Room, RoomReport
from rooms.services.lifecycle import room_create, room_join, room_leave
from tests.browser.conftest import assert_every_control_is_named
from tests.browser.test_room import SLOW_MS, off_loop, open_room, skip_mic
from tests.factories import UserFactory


def open_menu(page: Any) -> None:
    page.locator("#room-menu summary").click()


def test_a_moderator_pins_a_link_and_a_listener_who_joins_afterwards_sees_it(
    new_page: Any, screenshots: Any
) -> None:
    moderator = UserFactory(display_name="Mo Derator")
    early, late = UserFactory(display_name="Early Bird"), UserFactory(display_name="Late Comer")
    room = off_loop(room_create, user=moderator, title="Reading group")

    mod = new_page(moderator)
    open_room(mod, room.pk)
    skip_mic(mod)
    first = new_page(early)
    open_room(first, room.pk)
    expect(first.locator("#pinned")).to_be_hidden()
    open_menu(first)
    expect(first.locator("#pin-btn")).to_be_hidden()  # listeners do not pin

    open_menu(mod)
    mod.get_by_role("button", name="Pin a link").click()
    expect(mod.locator("#pin-dialog")).to_be_visible()
    assert_every_control_is_named(mod)
    # Anything but an http(s) address is refused by the server, under the field.
    mod.get_by_label("Web address").fill("javascript:alert(1)")
    mod.get_by_role("button", name="Pin link").click()
    expect(mod.locator("#pin-dialog [data-field-error='url']")).to_be_visible()
    expect(mod.locator("#pin-url")).to_have_attribute("aria-invalid", "true")
    mod.get_by_label("Web address").fill("https://example.org/reading-list")
    mod.get_by_label("Title").fill("This week's chapter")
    mod.get_by_role("button", name="Pin link").click()
    expect(mod.locator("#pin-dialog")).to_be_hidden()
    expect(mod.locator("#pinned-link")).to_have_text("This week's chapter")

    # Someone already in the room sees it arrive (the room event).
    expect(first.locator("#pinned-link")).to_have_text("This week's chapter", timeout=SLOW_MS)
    expect(first.locator("#room-announcer")).to_contain_text("pinned a link")

    # Someone who joins afterwards finds it in the snapshot.
    later = new_page(late)
    open_room(later, room.pk)
    link = later.locator("#pinned-link")
    expect(link).to_have_text("This week's chapter")
    expect(link).to_have_attribute("href", "https://example.org/reading-list")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow ugc")
    expect(later.locator("#pinned-host")).to_have_text("(example.org)")
    screenshots(later, "room-pinned-link")

    # Taken down: gone for everyone.
    open_menu(mod)
    mod.get_by_role("button", name="Remove pinned link").click()
    mod.locator("#confirm-ok").click()
    expect(later.locator("#pinned")).to_be_hidden(timeout=SLOW_MS)
    expect(first.locator("#pinned")).to_be_hidden()
    for page in (mod, first, later):
        page.console.assert_clean(allow=("400",))


def test_reporting_a_room_from_the_page_lands_in_admin(new_page: Any) -> None:
    moderator = UserFactory()
    listener = UserFactory(username="carol")
    staff = UserFactory(is_staff=True, is_superuser=True)
    room = off_loop(room_create, user=moderator, title="Suspicious giveaway")

    page = new_page(listener)
    open_room(page, room.pk)
    open_menu(page)
    page.get_by_role("button", name="Report room").click()
    dialog = page.locator("#report-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Report this room?")
    assert_every_control_is_named(page)
    # No reason chosen: the API says which field, and nothing is filed.
    dialog.get_by_role("button", name="Report room").click()
    expect(dialog.locator("[data-field-error='reason']")).to_be_visible()
    assert RoomReport.objects.count() == 0
    # Cancelling files nothing either.
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert RoomReport.objects.count() == 0

    open_menu(page)
    page.get_by_role("button", name="Report room").click()
    page.get_by_label("What is wrong").select_option("spam")
    page.get_by_label("Anything to add").fill("Asks everyone for card numbers.")
    dialog.get_by_role("button", name="Report room").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_text("The Clubhouse team will review this room")).to_be_visible()
    report = RoomReport.objects.get()
    assert (report.room_id, report.reporter_id, report.reason, report.text) == (
        room.pk,
        listener.pk,
        "spam",
        "Asks everyone for card numbers.",
    )

    # A second report of the same room is refused, in the dialog.
    open_menu(page)
    page.get_by_role("button", name="Report room").click()
    page.get_by_label("What is wrong").select_option("other")
    dialog.get_by_role("button", name="Report room").click()
    expect(dialog.locator("[data-form-error]")).to_contain_text("already reported")
    page.console.assert_clean(allow=("400", "409"))

    admin = new_page(staff)
    admin.goto("/admin/")
    admin.get_by_role("link", name="Room reports").click()
    row = admin.locator("#result_list tbody tr", has_text="Suspicious giveaway")
    expect(row).to_contain_text("Spam or scam")
    expect(row).to_contain_text("carol")
    expect(row).to_contain_text("Open")


def test_a_full_room_shows_room_full_in_the_hallway_and_on_its_page(
    new_page: Any, screenshots: Any
) -> None:
    moderator, guest, outsider = UserFactory(), UserFactory(), UserFactory()
    room = off_loop(room_create, user=moderator, title="Tiny salon", capacity=2)
    off_loop(room_join, user=guest, room_id=room.pk)
    assert Room.objects.get(pk=room.pk).participants.count() == 2

    hall = new_page(outsider)
    hall.goto("/")
    card = hall.locator("[data-rooms] .room-card", has_text="Tiny salon")
    expect(card).to_contain_text("Room full")
    button = card.get_by_role("button", name="Room full")
    expect(button).to_be_disabled()
    expect(card).not_to_have_attribute("href", f"/rooms/{room.pk}/")
    screenshots(hall, "hallway-room-full")

    page = new_page(outsider)
    page.goto(f"/rooms/{room.pk}/")
    expect(page.locator("#room-gone-title")).to_have_text("Room full", timeout=SLOW_MS)
    join = page.locator("#join-btn")
    expect(join).to_have_text("Room full")
    expect(join).to_be_disabled()
    screenshots(page, "room-full")

    # The moderator, inside, sees the room is full too.
    mod = new_page(moderator)
    open_room(mod, room.pk)
    skip_mic(mod)
    expect(mod.locator("#room-full-badge")).to_have_text("Room full")
    open_menu(mod)
    screenshots(mod, "room-full-moderator-menu")
    open_menu(mod)

    # A seat frees up: the waiting page offers to join, and joining works.
    off_loop(room_leave, user=guest, room_id=room.pk)
    expect(mod.locator("#room-full-badge")).to_be_hidden(timeout=SLOW_MS)
    expect(join).to_have_text("Join", timeout=SLOW_MS)
    expect(join).to_be_enabled()
    join.click()
    expect(page.locator("#room")).to_have_attribute("data-state", "live", timeout=SLOW_MS)
    page.console.assert_clean(allow=("409",))
