"""Smoke tests of every page but the room: each loads without console errors, shows its data,
and its main action works through the API. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import Block, Invitation, Report
from clubs.models import ClubMembership
from payouts.models import Tip
from rooms.models import EventRSVP, Room
from rooms.services import room_create
from tests.browser.conftest import assert_every_control_is_named
from tests.clubs.factories import ClubFactory
from tests.factories import FollowFactory, NotificationFactory, TopicFactory, UserFactory
from tests.rooms.factories import EventFactory


def make_creator(standin: Any, **user: Any) -> Any:
    """A creator who can receive money: approved, with an active connected account."""
    from payouts import services

    creator = UserFactory(**user)
    staff = UserFactory(staff=True)
    application = services.creator_apply(user=creator, pitch="nightly show")
    services.creator_application_approve(application=application, reviewer=staff)
    account = services.connected_account_ensure(user=creator)
    standin.account_activate(account.stripe_account_id)
    services.connected_account_sync(data=standin.get("accounts", account.stripe_account_id))
    return creator


def test_hallway_starts_a_room_and_goes_to_it(new_page: Any) -> None:
    TopicFactory(slug="jazz", name="Jazz")
    me = UserFactory(display_name="Ada")
    page = new_page(me)
    page.goto("/")
    expect(page.get_by_text("No live rooms for you right now.")).to_be_visible()
    page.get_by_role("link", name="Start a room").click()
    dialog = page.get_by_role("dialog", name="Start a room")
    dialog.get_by_label("What do you want to talk about?").fill("Tea and engines")
    dialog.get_by_text("Social", exact=True).click()
    dialog.get_by_text("Jazz", exact=True).click()
    dialog.get_by_role("button", name="Let's go").click()
    expect(page).to_have_url(re.compile(r"/rooms/\d+/$"))
    room = Room.objects.get(title="Tea and engines")
    assert room.type == "social"
    assert [t.slug for t in room.topics.all()] == ["jazz"]
    assert page.url.endswith(f"/rooms/{room.pk}/")


def test_hallway_shows_live_rooms_people_on_stage_and_events(
    new_page: Any, screenshots: Any
) -> None:
    me = UserFactory()
    ada = UserFactory(display_name="Ada Lovelace")
    FollowFactory(follower=me, followee=ada)
    club = ClubFactory(name="Analytical Society", created_by=ada)
    room_create(user=ada, title="Difference engines", club_id=club.pk)
    EventFactory(title="Weekly notes", created_by=ada, hosts=[ada])
    page = new_page(me)
    page.goto("/")
    card = page.locator(".room-card", has_text="Difference engines")
    expect(card).to_contain_text("Analytical Society")
    expect(card).to_contain_text("1 in the room")
    expect(page.locator("[data-online]")).to_contain_text("Ada Lovelace")
    expect(page.locator("[data-events]")).to_contain_text("Weekly notes")
    script_bytes = page.evaluate(
        "() => performance.getEntriesByType('resource')"
        ".filter((e) => e.name.endsWith('.js')).reduce((n, e) => n + e.decodedBodySize, 0)"
    )
    assert 0 < script_bytes < 300_000  # "a few hundred KB of script" at most
    screenshots(page, "hallway-live")
    assert_every_control_is_named(page)
    page.console.assert_clean()


def test_profile_follow_report_and_block(new_page: Any, screenshots: Any) -> None:
    me = UserFactory()
    grace = UserFactory(
        username="grace", display_name="Grace", invited_by=UserFactory(display_name="Nominator Ned")
    )
    club = ClubFactory(name="Compilers Club")
    ClubMembership.objects.create(club=club, user=grace)
    page = new_page(me)
    page.goto("/u/grace/")
    expect(page.get_by_text("Nominated by")).to_contain_text("Nominator Ned")
    expect(page.get_by_role("link", name="Compilers Club")).to_be_visible()
    page.get_by_role("button", name="Follow").click()
    expect(page.get_by_role("button", name="Following ✓")).to_be_visible()
    expect(page.locator("[data-followers-count]")).to_have_text("1")
    assert grace.follower_set.filter(follower=me).exists()
    screenshots(page, "profile")
    assert_every_control_is_named(page)

    page.get_by_label("More actions").click()
    page.get_by_role("button", name="Report @grace").click()
    dialog = page.get_by_role("dialog", name="Report @grace")
    dialog.get_by_text("Spam", exact=True).click()
    dialog.get_by_role("button", name="Send report").click()
    expect(page.get_by_text("Our moderators will look at it.")).to_be_visible()
    assert Report.objects.filter(reporter=me, reported=grace, reason="spam").exists()

    page.get_by_label("More actions").click()
    page.get_by_role("button", name="Block @grace").click()
    page.get_by_role("dialog").get_by_role("button", name="Block").click()
    expect(page.get_by_text("@grace is blocked.")).to_be_visible()
    expect(page).to_have_url(re.compile(r"^http://[^/]+/$"))  # back to the hallway
    assert Block.objects.filter(blocker=me, blocked=grace).exists()
    page.console.assert_clean()


def test_send_money_first_tip_with_a_test_card(
    new_page: Any, standin_shared: Any, screenshots: Any
) -> None:
    creator = make_creator(standin_shared, username="maker", display_name="Mae Maker")
    me = UserFactory()
    FollowFactory(follower=me, followee=creator)
    page = new_page(me)
    page.goto("/u/maker/")
    page.get_by_role("button", name="Send money").click()
    dialog = page.get_by_role("dialog", name="Send money to Mae Maker")
    dialog.get_by_role("button", name="$5.00").click()
    expect(dialog.locator("[data-charge]")).to_have_text(re.compile(r"\$5\.\d\d"))
    expect(dialog.get_by_label(re.compile("4242"))).to_be_checked()
    screenshots(page, "send-money")
    assert_every_control_is_named(page)
    dialog.get_by_role("button", name="Send").click()
    expect(dialog.get_by_text("Sent! Mae Maker gets $5.00.")).to_be_visible()
    tip = Tip.objects.get(sender=me)
    assert (tip.creator, tip.amount, tip.status) == (creator, 500, "succeeded")
    page.console.assert_clean()


def test_send_money_shows_the_3d_secure_next_action(new_page: Any, standin_shared: Any) -> None:
    creator = make_creator(standin_shared, username="maker", display_name="Mae Maker")
    me = UserFactory()
    FollowFactory(follower=me, followee=creator)
    page = new_page(me)
    page.goto("/u/maker/")
    page.get_by_role("button", name="Send money").click()
    dialog = page.get_by_role("dialog", name="Send money to Mae Maker")
    dialog.get_by_label("Amount (USD)").fill("3")
    dialog.get_by_label(re.compile("3-D Secure")).check()
    dialog.get_by_role("button", name="Send").click()
    expect(
        dialog.get_by_text("Your bank needs to confirm this payment (3-D Secure).")
    ).to_be_visible()
    assert Tip.objects.get(sender=me).status == "requires_action"


def test_notifications_list_and_mark_read(new_page: Any, screenshots: Any) -> None:
    me = UserFactory()
    NotificationFactory(recipient=me, actor=UserFactory(display_name="Linus"))
    page = new_page(me)
    page.goto("/notifications/")
    expect(page.locator("[data-unread]")).to_have_text("1")
    row = page.locator("[data-notifications-list] li", has_text="Linus followed you.")
    expect(row).to_have_class("unread")
    screenshots(page, "notifications")
    assert_every_control_is_named(page)
    page.get_by_role("button", name="Mark all as read").click()
    expect(page.locator("[data-notifications-list] li.unread")).to_have_count(0)
    expect(page.locator("[data-unread]")).to_be_hidden()
    page.console.assert_clean()


def test_a_sender_is_told_how_a_processing_tip_ended(new_page: Any) -> None:
    me, ada = UserFactory(), UserFactory(display_name="Ada")
    for event in ("tip_succeeded", "tip_failed"):
        NotificationFactory(recipient=me, actor=ada, kind="money",
                            data={"tip": "t", "event": event, "amount": 500, "currency": "USD"})  # fmt: skip
    page = new_page(me)
    page.goto("/notifications/")
    rows = page.locator("[data-notifications-list] li")
    expect(rows.filter(has_text="Your tip of $5.00 to Ada went through.")).to_have_count(1)
    expect(
        rows.filter(has_text="Your tip of $5.00 to Ada did not go through. Nothing was charged.")
    ).to_have_count(1)
    page.console.assert_clean()


def test_a_buyer_is_told_how_a_processing_ticket_payment_ended(new_page: Any) -> None:
    me, ada = UserFactory(), UserFactory(display_name="Ada")
    for event in ("ticket_paid", "ticket_failed"):
        NotificationFactory(recipient=me, actor=ada, kind="money",
                            data={"ticket": "t", "event": event, "title": "Jazz night",
                                  "amount": 1500, "currency": "USD", "event_id": 7,
                                  "room_id": None})  # fmt: skip
    page = new_page(me)
    page.goto("/notifications/")
    rows = page.locator("[data-notifications-list] li")
    paid = rows.filter(has_text="Your ticket for “Jazz night” is confirmed ($15.00).")
    expect(paid).to_have_count(1)
    expect(paid.locator("a")).to_have_attribute("href", "/events/7/")
    expect(
        rows.filter(
            has_text="Your ticket payment for “Jazz night” did not go through. Nothing was charged."
        )
    ).to_have_count(1)
    page.console.assert_clean()


def test_invitations_show_quota_and_send_one(new_page: Any, screenshots: Any) -> None:
    me = UserFactory(invitation_quota=3)
    page = new_page(me)
    page.goto("/invitations/")
    expect(page.locator("[data-quota]")).to_have_text("3")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text("Give an e-mail address or a phone number.")).to_be_visible()
    page.get_by_label("E-mail address").fill("friend@example.com")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_label("Invitation link")).to_have_value(re.compile(r"/invite/"))
    expect(page.locator("[data-quota]")).to_have_text("2")
    expect(page.locator("[data-invitations]")).to_contain_text("friend@example.com")
    assert Invitation.objects.filter(inviter=me, email="friend@example.com").exists()
    screenshots(page, "invitations")
    assert_every_control_is_named(page)
    page.console.assert_clean(allow=("status of 400",))  # the empty form, on purpose


def test_search_and_follow_lists(new_page: Any) -> None:
    me = UserFactory(username="me")
    hopper = UserFactory(username="hopper", display_name="Grace Hopper")
    FollowFactory(follower=hopper, followee=me)
    page = new_page(me)
    page.goto("/search/?q=hopp")
    expect(page.locator("[data-results]")).to_contain_text("Grace Hopper")
    page.goto("/u/me/followers/")
    expect(page.locator("[data-people]")).to_contain_text("Grace Hopper")
    page.goto("/u/me/following/")
    expect(page.locator("[data-people]")).to_contain_text("Not following anyone yet.")
    page.console.assert_clean()


def test_clubs_and_joining_a_club(new_page: Any, screenshots: Any) -> None:
    me = UserFactory()
    club = ClubFactory(
        name="Night Owls", slug="night-owls", description="Talk after midnight", join_policy="open"
    )
    EventFactory(title="Owl hour", club=club, created_by=club.created_by, hosts=[club.created_by])
    page = new_page(me)
    page.goto("/clubs/")
    expect(page.locator("[data-clubs]")).to_contain_text("Night Owls")
    screenshots(page, "clubs")
    assert_every_control_is_named(page)
    page.locator("[data-clubs]").get_by_role("link", name=re.compile("Night Owls")).click()
    expect(page.get_by_role("heading", name="Night Owls")).to_be_visible()
    expect(page.locator("[data-club-events]")).to_contain_text("Owl hour")
    page.get_by_role("button", name="Join").click()
    expect(page.get_by_role("button", name="Leave")).to_be_visible()
    assert ClubMembership.objects.filter(club=club, user=me).exists()
    screenshots(page, "club")
    assert_every_control_is_named(page)
    page.console.assert_clean()


def test_events_calendar_rsvp_and_ics(new_page: Any, screenshots: Any) -> None:
    me = UserFactory()
    host = UserFactory(display_name="Host Harriet")
    FollowFactory(follower=me, followee=host)
    event = EventFactory(
        title="Morning news",
        created_by=host,
        hosts=[host],
        starts_at=timezone.now() + timedelta(days=2),
    )
    page = new_page(me)
    page.goto("/events/")
    expect(page.locator("[data-calendar]")).to_contain_text("Morning news")
    screenshots(page, "events")
    assert_every_control_is_named(page)
    page.get_by_role("link", name="Morning news").click()
    expect(page.get_by_role("heading", name="Morning news")).to_be_visible()
    page.get_by_role("button", name="RSVP — I'll be there").click()
    expect(page.get_by_role("button", name="Going ✓")).to_be_visible()
    assert EventRSVP.objects.filter(event=event, user=me).exists()
    with page.expect_download() as download:
        page.get_by_role("link", name="Add to calendar (.ics)").click()
    assert download.value.suggested_filename == f"event-{event.pk}.ics"
    screenshots(page, "event")
    assert_every_control_is_named(page)
    page.console.assert_clean()


def test_host_schedules_an_event_and_starts_its_room(new_page: Any) -> None:
    me = UserFactory()
    page = new_page(me)
    page.goto("/events/")
    page.get_by_role("button", name="Schedule an event").click()
    dialog = page.get_by_role("dialog", name="Schedule an event")
    dialog.get_by_label("Title").fill("Launch party")
    dialog.get_by_role("button", name="Schedule").click()
    expect(page.get_by_role("heading", name="Launch party")).to_be_visible()
    page.get_by_role("button", name="Start the room now").click()
    expect(page).to_have_url(re.compile(r"/rooms/\d+/$"))
    assert Room.objects.filter(status="live", created_by=me).exists()


def test_wallet_and_creator_application(
    new_page: Any, standin_shared: Any, screenshots: Any
) -> None:
    from clubhouse.money import Money
    from payouts.services import tip_send

    creator = make_creator(standin_shared, username="maker")
    fan = UserFactory()
    FollowFactory(follower=fan, followee=creator)
    tip_send(sender=fan, creator=creator, amount=Money(700, "USD"), payment_method="pm_card_visa")
    page = new_page(creator)
    page.goto("/wallet/")
    expect(page.get_by_text("Active ✓")).to_be_visible()
    tips = page.get_by_role("table", name="Tips received")
    expect(tips).to_contain_text("$7.00")
    expect(tips).to_contain_text("Received")
    screenshots(page, "wallet")
    assert_every_control_is_named(page)
    page.console.assert_clean()

    newcomer = UserFactory()
    page = new_page(newcomer)
    page.goto("/wallet/")
    page.get_by_role("link", name="Apply to the creator program").click()
    page.get_by_label("Your pitch").fill("I host a weekly show about old machines.")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("Your application is waiting for review.")).to_be_visible()
    page.console.assert_clean()


def test_send_money_later_uses_the_saved_card_and_a_decline_is_explained(
    new_page: Any, standin_shared: Any
) -> None:
    creator = make_creator(standin_shared, username="maker", display_name="Mae Maker")
    me = UserFactory()
    FollowFactory(follower=me, followee=creator)
    page = new_page(me)
    page.goto("/u/maker/")

    page.get_by_role("button", name="Send money").click()
    dialog = page.get_by_role("dialog", name="Send money to Mae Maker")
    dialog.get_by_label("Amount (USD)").fill("2")
    dialog.get_by_label(re.compile("declined")).check()
    dialog.get_by_role("button", name="Send").click()
    expect(dialog.get_by_text(re.compile("declined", re.I)).last).to_be_visible()
    dialog.get_by_label(re.compile("4242")).check()
    dialog.get_by_role("button", name="Send").click()
    expect(dialog.get_by_text("Sent! Mae Maker gets $2.00.")).to_be_visible()
    dialog.get_by_role("button", name="Close").click()

    page.get_by_role("button", name="Send money").click()
    dialog = page.get_by_role("dialog", name="Send money to Mae Maker")
    expect(dialog.get_by_label(re.compile("Saved card: visa •••• 4242", re.I))).to_be_checked()
    dialog.get_by_role("button", name="$1.00").click()
    dialog.get_by_role("button", name="Send").click()
    expect(dialog.get_by_text("Sent! Mae Maker gets $1.00.")).to_be_visible()
    assert sorted(
        Tip.objects.filter(sender=me, status="succeeded").values_list("amount", flat=True)
    ) == [100, 200]


def test_club_admin_approves_a_nomination(new_page: Any) -> None:
    from clubs.services import club_nominate

    admin = UserFactory()
    club = ClubFactory(
        name="Quiet Room", slug="quiet-room", created_by=admin, join_policy="nomination"
    )
    member = UserFactory(username="member")
    ClubMembership.objects.create(club=club, user=member)
    nominee = UserFactory(username="newcomer", display_name="New Comer")
    club_nominate(club=club, nominator=member, nominee=nominee)
    page = new_page(admin)
    page.goto("/clubs/quiet-room/")
    row = page.locator("[data-club-nominations] li", has_text="New Comer")
    expect(row).to_contain_text("nominated by @member")
    row.get_by_role("button", name="Approve").click()
    expect(page.locator("[data-club-members]")).to_contain_text("New Comer")
    assert ClubMembership.objects.filter(club=club, user=nominee).exists()
    page.console.assert_clean()


def test_host_cancels_an_event(new_page: Any) -> None:
    host = UserFactory()
    event = EventFactory(title="Maybe later", created_by=host, hosts=[host])
    page = new_page(host)
    page.goto(f"/events/{event.pk}/")
    page.get_by_role("button", name="Cancel the event").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel the event").click()
    expect(page).to_have_url(re.compile(r"/events/$"))
    assert not type(event).objects.filter(pk=event.pk).exists()
