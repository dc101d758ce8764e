"""Live notifications in the browser (issue #17, points 4 and 5): the badge changes without a
reload when another member follows you (on any page, over the page's light socket) or invites
you to speak (on the room page, over the room's socket); the notifications page shows the new
row; the settings page explains push before asking; the app is installable."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.test_room import SLOW_MS, card, off_loop, open_room, skip_mic, tool
from tests.factories import UserFactory


def badge(page: Any) -> Any:
    return page.locator("[data-unread]")


def test_the_badge_changes_without_reload_when_someone_follows_you(new_page: Any) -> None:
    alice = UserFactory(username="alice", display_name="Alice")
    bob = UserFactory(username="bob", display_name="Bob Builder")
    hers = new_page(alice)
    hers.goto("/events/")
    expect(badge(hers)).to_be_hidden()
    # No polling: any fetch of the count after the first would be a poll.
    counts: list[str] = []
    hers.on("request", lambda r: counts.append(r.url) if "unread-count" in r.url else None)

    his = new_page(bob)
    his.goto("/u/alice/")
    his.get_by_role("button", name="Follow").click()
    expect(his.get_by_role("button", name="Following ✓")).to_be_visible()

    expect(badge(hers)).to_have_text("1", timeout=SLOW_MS)
    expect(hers.locator("[data-notifications]")).to_have_attribute(
        "aria-label", "Notifications, 1 unread"
    )
    assert counts == []  # the count came with the event

    hers.goto("/notifications/")
    expect(hers.locator("[data-notifications-list]")).to_contain_text("Bob Builder followed you.")
    # Another follower while the list is open: the row appears at the top, the badge says 2.
    carol = UserFactory(username="carol", display_name="Carol")
    theirs = new_page(carol)
    theirs.goto("/u/alice/")
    theirs.get_by_role("button", name="Follow").click()
    expect(badge(hers)).to_have_text("2", timeout=SLOW_MS)
    expect(hers.locator("[data-notifications-list] li").first).to_contain_text(
        "Carol followed you."
    )
    hers.console.assert_clean()


def test_the_badge_changes_in_a_room_when_the_moderator_invites_you_to_speak(
    new_page: Any,
) -> None:
    from rooms.services.lifecycle import room_create

    moderator = UserFactory(display_name="Mo Derator")
    listener = UserFactory(display_name="Lis Tener")
    room = off_loop(room_create, user=moderator, title="Open mic")
    lis = new_page(listener)
    open_room(lis, room.pk)
    expect(badge(lis)).to_be_hidden()
    mod = new_page(moderator)
    open_room(mod, room.pk)
    skip_mic(mod)
    expect(card(mod, "audience", listener)).to_be_visible(timeout=SLOW_MS)

    tool(mod, "audience", listener, "room.speaker_invite")

    expect(lis.locator("#invite-dialog")).to_be_visible()
    expect(badge(lis)).to_have_text("1", timeout=SLOW_MS)
    lis.console.assert_clean()


def test_push_is_explained_and_asked_for_only_on_the_button(new_page: Any) -> None:
    page = new_page(UserFactory())
    asked: list[bool] = []
    page.expose_function("__permissionAsked", lambda: asked.append(True))
    page.add_init_script(
        """
        window.__asked = 0;
        const ask = Notification.requestPermission.bind(Notification);
        Notification.requestPermission = (...args) => {
            window.__asked += 1;
            window.__permissionAsked();
            return ask(...args);
        };
        """
    )
    page.goto("/settings/")
    push = page.locator("[data-push]")
    expect(push).to_contain_text("when someone you follow starts a room")
    expect(push.get_by_role("button", name="Turn on push notifications")).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert asked == []  # nothing asked before the person pressed the button
    push.get_by_role("button", name="Turn on push notifications").click()
    page.wait_for_function("() => window.__asked === 1")
    assert asked == [True]


def test_email_switches_save_through_the_api(new_page: Any) -> None:
    user = UserFactory()
    page = new_page(user)
    page.goto("/settings/")
    page.get_by_label("Weekly digest", exact=False).uncheck()
    expect(page.locator("[data-email-status]")).to_have_text("Saved.")
    user.refresh_from_db()
    assert user.email_weekly_digest is False
    assert user.email_event_reminders is True


def test_the_app_is_installable_with_a_service_worker_and_an_offline_page(
    new_page: Any, live_url: str
) -> None:
    page = new_page(UserFactory())
    page.goto("/")
    manifest = page.locator("link[rel=manifest]").get_attribute("href")
    assert manifest == "/manifest.webmanifest"
    scope = page.evaluate("async () => (await navigator.serviceWorker.ready).scope")
    assert scope == f"{live_url}/"
    # The worker controls the next load; then, with the network gone, a page shows the
    # offline page from its cache.
    page.reload()
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    page.context.set_offline(True)
    try:
        page.goto("/events/")
        expect(page.get_by_role("heading", name="You're offline")).to_be_visible()
    finally:
        page.context.set_offline(False)
