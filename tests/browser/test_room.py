"""The live room page (issue #5): stage, hands, invitations, moderator tools, reconnects, refusals.

These run with or without audio: they check what people see and do on the page. The audio path
(tone in, energy out) is in test_room_audio.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from playwright.sync_api import expect

from rooms.models import RoomParticipant
from rooms.services.lifecycle import room_create, room_end, room_join
from rooms.services.stage import (
    room_hand_raise,
    room_speaker_invite,
    room_speaker_invite_accept,
)
from tests.factories import UserFactory

# Generous: two cores shared by several test runs.
SLOW_MS = 30_000
T = TypeVar("T")


def off_loop(service: Callable[..., T], **kwargs: Any) -> T:
    """Call a room service as another client would, outside this thread: Playwright's sync API
    keeps an event loop here, where the service's after-commit broadcast cannot run."""
    from django.db import connections

    def call() -> T:
        try:
            return service(**kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result(timeout=30)


def open_room(page: Any, room_id: int) -> None:
    page.goto(f"/rooms/{room_id}/")
    expect(page.locator("#room")).to_have_attribute("data-state", "live", timeout=SLOW_MS)


def skip_mic(page: Any) -> None:
    """A moderator who opens the page is on stage: the mic explainer comes up first."""
    expect(page.locator("#mic-dialog")).to_be_visible()
    page.locator("#mic-dialog button[value=cancel]").click()
    expect(page.locator("#mic-dialog")).to_be_hidden()


def card(page: Any, section: str, user: Any) -> Any:
    return page.locator(f"#{section} li[data-user-id='{user.pk}']")


def tool(page: Any, section: str, user: Any, action: str) -> None:
    person = card(page, section, user)
    person.locator("summary").click()
    person.locator(f"button[data-action='{action}']").click()


def test_listener_raises_hand_is_invited_accepts_and_the_moderator_moves_them_back(
    new_page: Any,
) -> None:
    moderator = UserFactory(display_name="Mo Derator")
    listener = UserFactory(display_name="Lis Tener")
    room = off_loop(room_create, user=moderator, title="Gardening at dawn")

    mod = new_page(moderator)
    open_room(mod, room.pk)
    skip_mic(mod)
    expect(mod.locator("#room-title")).to_have_text("Gardening at dawn")
    expect(card(mod, "stage", moderator)).to_contain_text("Moderator")
    # Declining the microphone leaves the creator muted rather than silently "unmuted".
    expect(card(mod, "stage", moderator)).to_contain_text("Muted")

    lis = new_page(listener)
    open_room(lis, room.pk)
    expect(card(lis, "stage", moderator)).to_be_visible()
    expect(lis.locator("#hands-section")).to_be_hidden()
    expect(lis.locator("#end-btn")).to_be_hidden()
    expect(card(mod, "audience", listener)).to_be_visible(timeout=SLOW_MS)

    lis.get_by_role("button", name="Raise hand").click()
    expect(lis.locator("#hand-btn")).to_have_attribute("aria-pressed", "true")
    expect(lis.locator("#room-announcer")).to_contain_text("Hand raised")
    hand = mod.locator(f"#hands li[data-user-id='{listener.pk}']")
    expect(hand).to_contain_text("Lis Tener")
    expect(mod.locator("#hands-count")).to_have_text("(1)")

    hand.get_by_role("button", name="Invite to speak").click()
    expect(lis.locator("#invite-dialog")).to_be_visible()
    expect(lis.locator("#invite-dialog-text")).to_contain_text("Mo Derator")
    lis.get_by_role("button", name="Join the stage").click()
    # On stage, muted; the mic explainer comes before the browser's own prompt.
    expect(lis.locator("#mic-dialog")).to_be_visible()
    lis.locator("#mic-dialog button[value=cancel]").click()
    expect(card(lis, "stage", listener)).to_contain_text("Muted")
    expect(lis.locator("#mic-btn")).to_have_text("Unmute")
    expect(lis.locator("#hand-btn")).to_be_hidden()
    expect(card(mod, "stage", listener)).to_be_visible()
    expect(card(mod, "audience", listener)).to_have_count(0)
    expect(mod.locator("#hands li")).to_have_count(0)
    expect(mod.locator("#room-announcer")).to_contain_text("Lis Tener joined the stage")

    tool(mod, "stage", listener, "room.moderator_add")
    expect(card(lis, "stage", listener)).to_contain_text("Moderator")
    expect(lis.locator("#end-btn")).to_be_visible()
    expect(lis.locator("#room-announcer")).to_contain_text("You are now a moderator")
    tool(mod, "stage", listener, "room.moderator_remove")
    expect(card(lis, "stage", listener)).not_to_contain_text("Moderator")
    expect(lis.locator("#end-btn")).to_be_hidden()

    tool(mod, "stage", listener, "room.speaker_move_to_audience")
    expect(card(lis, "stage", listener)).to_have_count(0)
    expect(lis.locator("#hand-btn")).to_be_visible()
    expect(lis.locator("#mic-btn")).to_be_hidden()
    expect(lis.locator("#room-announcer")).to_contain_text("moved you to the audience")
    expect(card(mod, "audience", listener)).to_be_visible()

    mod.locator("#end-btn").click()
    mod.locator("#confirm-ok").click()
    for page in (mod, lis):
        expect(page.locator("#room")).to_have_attribute("data-state", "ended")
        expect(page.locator("#room-gone")).to_contain_text("This room has ended")
        expect(page.locator(".room-bar")).to_be_hidden()
        page.console.assert_clean()


def test_declining_an_invitation_tells_the_moderator(new_page: Any) -> None:
    moderator = UserFactory()
    listener = UserFactory(display_name="Shy Person")
    room = off_loop(room_create, user=moderator, title="Open mic")
    mod = new_page(moderator)
    open_room(mod, room.pk)
    skip_mic(mod)
    lis = new_page(listener)
    open_room(lis, room.pk)

    tool(mod, "audience", listener, "room.speaker_invite")
    expect(lis.locator("#invite-dialog")).to_be_visible()
    lis.get_by_role("button", name="Not now").click()
    expect(mod.locator("[data-toasts]")).to_contain_text("Shy Person declined to speak")
    expect(card(lis, "stage", listener)).to_have_count(0)


def test_moderator_removes_a_listener_whose_page_says_so(new_page: Any) -> None:
    moderator = UserFactory()
    listener = UserFactory(display_name="Troll")
    room = off_loop(room_create, user=moderator, title="Calm talk")
    mod = new_page(moderator)
    open_room(mod, room.pk)
    skip_mic(mod)
    lis = new_page(listener)
    open_room(lis, room.pk)

    tool(mod, "audience", listener, "room.user_remove")
    expect(mod.locator("#confirm-dialog")).to_be_visible()
    mod.locator("#confirm-ok").click()
    expect(lis.locator("#room-gone")).to_contain_text("You were removed")
    expect(lis.locator("#room")).to_have_attribute("data-state", "gone")
    expect(card(mod, "audience", listener)).to_have_count(0)

    # Coming back is refused, in words (the page itself refuses now).
    lis.reload()
    expect(lis.locator("main")).to_contain_text("You were removed", timeout=SLOW_MS)


def test_an_ended_room_says_so_instead_of_connecting(new_page: Any) -> None:
    moderator = UserFactory()
    room = off_loop(room_create, user=moderator, title="Yesterday")
    off_loop(room_end, user=moderator, room_id=room.pk)
    # Its creator may still open the page (others get the page-level refusal); the socket
    # refuses the join and the page says why instead of spinning.
    page = new_page(moderator)
    page.goto(f"/rooms/{room.pk}/")
    expect(page.locator("#room-gone")).to_contain_text("This room has ended", timeout=SLOW_MS)
    expect(page.locator("#listen-btn")).to_be_hidden()


def test_a_network_blip_reconnects_and_catches_up_with_what_happened_meanwhile(
    new_page: Any,
) -> None:
    moderator = UserFactory()
    listener = UserFactory(display_name="Wobbly Wifi")
    room = off_loop(room_create, user=moderator, title="Resilience")
    off_loop(room_join, user=listener, room_id=room.pk)
    off_loop(room_hand_raise, user=listener, room_id=room.pk)
    lis = new_page(listener)
    open_room(lis, room.pk)
    expect(lis.locator("#hand-btn")).to_have_attribute("aria-pressed", "true")

    # Cut the socket and keep it down while the room changes; then let it back.
    lis.evaluate(
        """() => {
        const socket = window.clubhouseRoom.socket;
        window.__realOpen = socket._open.bind(socket);
        socket._open = () => {};  // the network stays down
        socket.simulateDrop();
    }"""
    )
    expect(lis.locator("#room")).to_have_attribute("data-state", "reconnecting")
    expect(lis.locator("#room-conn")).to_contain_text("Reconnecting")
    off_loop(room_speaker_invite, user=moderator, room_id=room.pk, target_id=listener.pk)
    lis.evaluate(
        """() => {
        const socket = window.clubhouseRoom.socket;
        socket._open = window.__realOpen;
        socket._open();
    }"""
    )
    expect(lis.locator("#room")).to_have_attribute("data-state", "live", timeout=SLOW_MS)
    # Still in the room with the same place (grace period), and the invitation sent while
    # offline shows up from the fresh snapshot.
    expect(lis.locator("#invite-dialog")).to_be_visible()
    expect(lis.locator("#room-announcer")).to_contain_text("Reconnected")


def test_a_gap_in_seq_is_repaired_from_a_fresh_snapshot(new_page: Any) -> None:
    moderator = UserFactory()
    listener = UserFactory()
    room = off_loop(room_create, user=moderator, title="Gaps")
    lis = new_page(listener)
    open_room(lis, room.pk)
    # Pretend an event was lost: the next real event arrives with seq two ahead.
    lis.evaluate(
        """() => {
        const socket = window.clubhouseRoom.socket;
        window.__snapshots = 0;
        const request = socket.request.bind(socket);
        socket.request = (type, ...rest) => {
            if (type === "room.snapshot") window.__snapshots += 1;
            return request(type, ...rest);
        };
        socket.seq -= 1;
    }"""
    )
    speaker = UserFactory(display_name="Late Arrival")
    off_loop(room_join, user=speaker, room_id=room.pk)
    off_loop(room_speaker_invite, user=moderator, room_id=room.pk, target_id=speaker.pk)
    off_loop(room_speaker_invite_accept, user=speaker, room_id=room.pk)
    expect(card(lis, "stage", speaker)).to_be_visible(timeout=SLOW_MS)
    seq = lis.evaluate("() => window.clubhouseRoom.socket.seq")
    room.refresh_from_db()
    assert seq == room.seq
    assert lis.evaluate("() => window.__snapshots") >= 1


def test_a_big_audience_is_paged(new_page: Any) -> None:
    moderator = UserFactory()
    room = off_loop(room_create, user=moderator, title="Town hall")
    listeners = UserFactory.create_batch(55)

    def join_all() -> None:
        for listener in listeners:
            room_join(user=listener, room_id=room.pk)

    off_loop(join_all)
    page = new_page(moderator)
    open_room(page, room.pk)
    skip_mic(page)
    expect(page.locator("#audience-count")).to_have_text("(55)")
    expect(page.locator("#audience > li")).to_have_count(50)  # ROOM_AUDIENCE_PAGE_SIZE
    page.get_by_role("button", name="Show more people").click()
    expect(page.locator("#audience > li")).to_have_count(55)
    expect(page.get_by_role("button", name="Show more people")).to_be_hidden()


def test_ping_someone_into_the_room_reaches_them_in_another_room(new_page: Any) -> None:
    moderator = UserFactory()
    friend = UserFactory(username="zed", display_name="Zed Friend")
    here = off_loop(room_create, user=moderator, title="Come over")
    elsewhere = off_loop(room_create, user=UserFactory(), title="Somewhere else")

    theirs = new_page(friend)
    open_room(theirs, elsewhere.pk)
    mine = new_page(moderator)
    open_room(mine, here.pk)
    skip_mic(mine)

    mine.get_by_role("button", name="Ping someone").click()
    dialog = mine.locator("#ping-dialog")
    dialog.get_by_label("Name or username").fill("zed")
    dialog.get_by_role("button", name="Search").click()
    result = dialog.locator("#ping-results li", has_text="Zed Friend")
    result.get_by_role("button", name="Ping").click()
    expect(result.get_by_role("button")).to_have_text(re.compile("Pinged|Invited"))

    toast = theirs.locator("[data-toasts]")
    expect(toast).to_contain_text("Come over")
    toast.get_by_role("link", name="Join").click()
    expect(theirs).to_have_url(re.compile(rf"/rooms/{here.pk}/$"))
    expect(theirs.locator("#room")).to_have_attribute("data-state", "live", timeout=SLOW_MS)


def test_leave_quietly_goes_back_to_the_hallway_and_out_of_the_room(new_page: Any) -> None:
    moderator = UserFactory()
    listener = UserFactory()
    room = off_loop(room_create, user=moderator, title="Drop in")
    mod = new_page(moderator)
    open_room(mod, room.pk)
    skip_mic(mod)
    lis = new_page(listener)
    open_room(lis, room.pk)
    expect(card(mod, "audience", listener)).to_be_visible(timeout=SLOW_MS)

    lis.get_by_role("button", name="Leave quietly").click()
    expect(lis).to_have_url(re.compile(r"/$"))
    # No grace period for an explicit leave: the audience updates within seconds.
    expect(card(mod, "audience", listener)).to_have_count(0, timeout=SLOW_MS)
    expect(mod.locator("#audience-count")).to_have_text("")
    assert not RoomParticipant.objects.filter(room=room, user=listener).exists()


def test_share_link_copies_the_rooms_share_url(new_page: Any, live_url: str) -> None:
    moderator = UserFactory()
    room = off_loop(room_create, user=moderator, title="Tell your friends")
    page = new_page(UserFactory())
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_url)
    open_room(page, room.pk)
    page.get_by_role("button", name="Share link").click()
    expect(page.locator("[data-toasts]")).to_contain_text("Link copied")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied == f"{live_url}/r/{room.share_token}/"


def test_the_room_works_from_the_keyboard(new_page: Any) -> None:
    moderator = UserFactory()
    listener = UserFactory(display_name="Key Board")
    room = off_loop(room_create, user=moderator, title="No mouse")
    mod = new_page(moderator)
    open_room(mod, room.pk)
    expect(mod.locator("#mic-dialog")).to_be_visible()
    mod.keyboard.press("Escape")  # a native modal dialog closes on Escape: "not now"
    expect(mod.locator("#mic-dialog")).to_be_hidden()
    lis = new_page(listener)
    open_room(lis, room.pk)

    lis.get_by_role("button", name="Raise hand").focus()
    lis.keyboard.press("Enter")
    expect(lis.locator("#hand-btn")).to_have_attribute("aria-pressed", "true")

    invite = mod.locator(f"#hands li[data-user-id='{listener.pk}']").get_by_role(
        "button", name="Invite to speak"
    )
    invite.focus()
    mod.keyboard.press("Enter")
    expect(lis.locator("#invite-dialog")).to_be_visible()
    # Focus moves into the modal; Tab reaches "Join the stage".
    lis.get_by_role("button", name="Join the stage").focus()
    lis.keyboard.press("Enter")
    expect(lis.locator("#mic-dialog")).to_be_visible()
    lis.keyboard.press("Escape")
    expect(card(mod, "stage", listener)).to_be_visible()

    # Moderator tools: the "⋯" menu is a disclosure that opens with Enter.
    menu = card(mod, "stage", listener).get_by_label("Actions for Key Board")
    menu.focus()
    mod.keyboard.press("Enter")
    card(mod, "stage", listener).get_by_role("button", name="Move to audience").focus()
    mod.keyboard.press("Enter")
    expect(card(lis, "stage", listener)).to_have_count(0)


def test_moderator_turns_hand_raising_off_and_listeners_lose_the_button(new_page: Any) -> None:
    moderator = UserFactory()
    listener = UserFactory()
    room = off_loop(room_create, user=moderator, title="Lecture")
    mod = new_page(moderator)
    open_room(mod, room.pk)
    skip_mic(mod)
    lis = new_page(listener)
    open_room(lis, room.pk)
    expect(lis.get_by_role("button", name="Raise hand")).to_be_visible()

    mod.get_by_label("Who may raise a hand").select_option("off")
    expect(lis.get_by_role("button", name="Raise hand")).to_be_hidden()
    expect(lis.locator("#room-announcer")).to_contain_text("Hand raising is now off")
    mod.get_by_label("Who may raise a hand").select_option("everyone")
    expect(lis.get_by_role("button", name="Raise hand")).to_be_visible()
