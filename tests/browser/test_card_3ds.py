"""3-D Secure finished in the browser, against the Stripe stand-in: the payment dialog offers
the stand-in's test authentication (as Stripe's test pages do), the webhook settles the
payment (a tip, an event ticket, a paid club's first invoice), and the dialog shows it. Stand-in mode never loads Stripe.js.

What this does not cover (it cannot without Stripe): the Stripe.js path of payment_card.js
(Card Element, SetupIntent confirmation, handleNextAction); see docs/web.md."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from accounts.models import Follow
from clubhouse.money import Money
from clubs.models import ClubMembership
from clubs.services import club_create
from payouts import services
from payouts.models import ClubSubscription, HandledEvent, Journal, Ticket, Tip
from payouts.services.tickets import ticket_price_set
from tests.browser.test_pages import make_creator
from tests.browser.test_room import off_loop
from tests.factories import UserFactory
from tests.rooms.factories import EventFactory

PENDING = "Your bank needs to confirm this payment (3-D Secure)."


def _watch_stripe_js(page: Any) -> list[str]:
    """Every request the page makes to Stripe's domains (there must be none in stand-in mode)."""
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if "stripe.com" in r.url else None)
    return seen


def test_a_tip_with_a_3d_secure_card_is_authenticated_and_succeeds(
    new_page: Any, standin_shared: Any, screenshots: Any
) -> None:
    creator = make_creator(standin_shared, username="maker", display_name="Mae Maker")
    fan = UserFactory()
    Follow.objects.create(follower=fan, followee=creator)
    page = new_page(fan)
    stripe_requests = _watch_stripe_js(page)
    page.goto("/u/maker/")
    page.get_by_role("button", name="Send money").click()
    dialog = page.get_by_role("dialog", name="Send money to Mae Maker")
    dialog.get_by_role("button", name="$5.00").click()
    expect(dialog.locator("[data-charge]")).to_have_text(re.compile(r"\$5\.\d\d"))
    dialog.get_by_label(re.compile("3-D Secure")).check()
    dialog.get_by_role("button", name="Send").click()

    expect(dialog.get_by_text(PENDING)).to_be_visible()
    assert Tip.objects.get(sender=fan).status == "requires_action"
    screenshots(page, "send-money-3ds")
    dialog.get_by_role("button", name="Complete test authentication").click()

    expect(dialog.get_by_text("Sent! Mae Maker gets $5.00.")).to_be_visible()
    tip = Tip.objects.get(sender=fan)
    assert (tip.status, tip.amount, tip.creator) == ("succeeded", 500, creator)
    assert Journal.objects.filter(kind=Journal.Kind.TIP).count() == 1
    assert HandledEvent.objects.filter(type="payment_intent.succeeded").exists()
    assert stripe_requests == []
    assert page.locator("script[src*='js.stripe.com']").count() == 0
    page.console.assert_clean()


def test_a_failed_test_authentication_fails_the_tip_and_charges_nothing(
    new_page: Any, standin_shared: Any
) -> None:
    creator = make_creator(standin_shared, username="maker", display_name="Mae Maker")
    fan = UserFactory()
    Follow.objects.create(follower=fan, followee=creator)
    page = new_page(fan)
    page.goto("/u/maker/")
    page.get_by_role("button", name="Send money").click()
    dialog = page.get_by_role("dialog", name="Send money to Mae Maker")
    dialog.get_by_label("Amount (USD)").fill("3")
    dialog.get_by_label(re.compile("3-D Secure")).check()
    dialog.get_by_role("button", name="Send").click()
    dialog.get_by_role("button", name="Fail test authentication").click()

    expect(
        dialog.get_by_text(re.compile("The payment failed.*Nothing was charged"))
    ).to_be_visible()
    assert Tip.objects.get(sender=fan).status == "failed"
    assert not Journal.objects.filter(kind=Journal.Kind.TIP).exists()
    page.console.assert_clean()


def test_an_event_ticket_waiting_for_3d_secure_is_authenticated_and_paid(
    new_page: Any, standin_shared: Any
) -> None:
    creator = make_creator(standin_shared, username="host", display_name="Hal Host")
    event = EventFactory(created_by=creator, title="Launch party")
    ticket_price_set(user=creator, event_id=event.pk, price=Money(800, "USD"))
    fan = UserFactory()
    page = new_page(fan)
    stripe_requests = _watch_stripe_js(page)
    page.goto(f"/events/{event.pk}/")
    page.get_by_role("button", name="Buy ticket").click()
    dialog = page.get_by_role("dialog", name="Buy a ticket")
    dialog.get_by_label(re.compile("3-D Secure")).check()
    dialog.get_by_role("button", name="Buy ticket · $8.00").click()
    expect(dialog.get_by_text(PENDING)).to_be_visible()
    dialog.get_by_role("button", name="Complete test authentication").click()

    expect(dialog.get_by_text("You have a ticket ✓")).to_be_visible()
    ticket = Ticket.objects.get(buyer=fan)
    assert (ticket.status, ticket.amount, ticket.event_id) == ("paid", 800, event.pk)
    assert stripe_requests == []
    page.console.assert_clean()


def test_a_paid_club_subscription_waiting_for_3d_secure_is_authenticated_and_active(
    new_page: Any, standin_shared: Any
) -> None:
    owner = make_creator(standin_shared, username="owl", display_name="Olive Owl")
    club = off_loop(club_create, creator=owner, name="Night Owls", is_exclusive=True)
    services.club_plan_set(club=club, actor=owner, price=Money(900, "USD"))
    member = UserFactory(display_name="Mia")
    ClubMembership.objects.create(club=club, user=member, role=ClubMembership.Role.MEMBER)
    page = new_page(member)
    page.goto(f"/clubs/{club.slug}/")
    box = page.locator("[data-club-plan]")
    box.get_by_role("button", name="Subscribe", exact=True).click()
    dialog = page.get_by_role("dialog", name="Subscribe to Night Owls")
    dialog.get_by_label(re.compile("3-D Secure")).check()
    dialog.get_by_role("button", name="Subscribe · $9.00 / month").click()
    expect(dialog.get_by_text(PENDING)).to_be_visible()
    assert ClubSubscription.objects.get(user=member, club=club).status == "incomplete"
    dialog.get_by_role("button", name="Complete test authentication").click()

    expect(dialog.get_by_text("Welcome! You are a premium member of Night Owls.")).to_be_visible()
    sub = ClubSubscription.objects.get(user=member, club=club)
    assert (sub.status, sub.amount) == ("active", 900)
    assert Journal.objects.filter(kind=Journal.Kind.MEMBERSHIP).count() == 1
    page.console.assert_clean()
