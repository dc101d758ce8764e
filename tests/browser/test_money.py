"""The money flows in the browser: buying a ticket for a priced room, a paid club's
subscription (premium access, then "cancels at period end"), a creator pricing an event.
All through the Stripe stand-in (test mode: Stripe's test cards, no Stripe.js). Screenshots of
the new dialogs go to artifacts/screenshots/."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from clubhouse.money import Money
from clubs.models import ClubMembership
from clubs.services import club_create
from payouts import services
from payouts.models import ClubSubscription, Ticket, TicketPrice
from payouts.services.tickets import ticket_price_set
from rooms.services import room_create
from tests.browser.conftest import assert_every_control_is_named
from tests.browser.test_pages import make_creator
from tests.browser.test_room import SLOW_MS, off_loop, open_room, skip_mic
from tests.factories import UserFactory
from tests.rooms.factories import EventFactory


def test_a_listener_buys_a_ticket_on_the_room_page_and_gets_in(
    new_page: Any, standin_shared: Any, screenshots: Any
) -> None:
    host = make_creator(standin_shared, username="host", display_name="Hal Host")
    room = off_loop(room_create, user=host, title="Paid jazz night")
    # The room's creator prices the live room from the room page.
    hosting = new_page(host)
    open_room(hosting, room.pk)
    skip_mic(hosting)
    hosting.get_by_role("button", name="Ticket price").click()
    pricing = hosting.get_by_role("dialog", name="Ticket price")
    pricing.get_by_label("Price", exact=True).fill("5")
    pricing.get_by_role("button", name="Set price").click()
    expect(hosting.get_by_text("New listeners need a ticket: $5.00.")).to_be_visible()
    price = TicketPrice.objects.get(room=room)
    assert (price.amount, price.currency, price.creator) == (500, "USD", host)
    hosting.console.assert_clean()

    listener = UserFactory(display_name="Lis")
    page = new_page(listener)
    page.goto(f"/rooms/{room.pk}/")

    expect(page.locator("#room")).to_have_attribute("data-state", "gone", timeout=SLOW_MS)
    expect(page.get_by_role("heading", name="A ticket is required")).to_be_visible()
    offer = page.locator("[data-ticket-offer]")
    expect(offer).to_contain_text("$5.00")
    offer.get_by_role("button", name="Buy ticket", exact=True).click()

    dialog = page.get_by_role("dialog", name="Buy a ticket")
    expect(dialog.locator("[data-ticket-price]")).to_have_text("$5.00")
    expect(dialog).to_contain_text("Paid jazz night")
    # First payment: no saved card, so the test cards are offered, the succeeding one first.
    expect(dialog.get_by_label(re.compile("4242"))).to_be_checked()
    expect(dialog.get_by_text("Saved card")).to_have_count(0)
    screenshots(page, "buy-ticket")
    assert_every_control_is_named(page)
    dialog.get_by_role("button", name="Buy ticket · $5.00").click()

    # Paid: the page joins again, and this time the room lets the listener in.
    expect(page.locator("#room")).to_have_attribute("data-state", "live", timeout=SLOW_MS)
    expect(page.get_by_role("heading", name="A ticket is required")).to_be_hidden()
    ticket = Ticket.objects.get(buyer=listener)
    assert (ticket.room_id, ticket.amount, ticket.currency, ticket.status) == (
        room.pk, 500, "USD", "paid",
    )  # fmt: skip

    page.goto("/wallet/")
    mine = page.get_by_role("table", name="My tickets")
    expect(mine).to_contain_text("Paid jazz night")
    expect(mine).to_contain_text("$5.00")
    expect(mine).to_contain_text("Paid")
    page.console.assert_clean()

    # The creator's wallet shows the sale, net of the platform's 10%.
    seller = new_page(host)
    seller.goto("/wallet/")
    sales = seller.get_by_role("table", name="Ticket sales")
    expect(sales).to_contain_text("Paid jazz night")
    expect(sales).to_contain_text("$4.50")
    expect(seller.locator("[data-figures]")).to_contain_text("Ticket sales, after the platform fee")
    screenshots(seller, "wallet-money")
    seller.console.assert_clean()


def test_a_member_subscribes_to_a_paid_club_enters_its_premium_room_then_cancels(
    new_page: Any, standin_shared: Any, screenshots: Any
) -> None:
    owner = make_creator(standin_shared, username="owl", display_name="Olive Owl")
    club = off_loop(club_create, creator=owner, name="Night Owls", is_exclusive=True)
    services.club_plan_set(club=club, actor=owner, price=Money(900, "USD"))
    member = UserFactory(display_name="Mia")
    ClubMembership.objects.create(club=club, user=member, role=ClubMembership.Role.MEMBER)
    room = off_loop(
        room_create, user=owner, title="After hours", club_id=club.pk, members_only=True
    )
    page = new_page(member)

    # Without premium: the room says why, and leads to the club.
    page.goto(f"/rooms/{room.pk}/")
    expect(
        page.get_by_role("heading", name="This room is for the club's premium members.")
    ).to_be_visible()
    expect(page.get_by_text("Premium membership of the club opens")).to_be_visible()
    page.get_by_role("link", name="Go to the club").click()

    box = page.locator("[data-club-plan]")
    expect(box.locator("[data-plan-price]")).to_have_text("$9.00")
    expect(box.locator('[data-premium-access="no"]')).to_contain_text("need premium membership")
    box.get_by_role("button", name="Subscribe", exact=True).click()
    dialog = page.get_by_role("dialog", name="Subscribe to Night Owls")
    expect(dialog.get_by_label(re.compile("4242"))).to_be_checked()
    screenshots(page, "club-subscribe")
    assert_every_control_is_named(page)
    dialog.get_by_role("button", name="Subscribe · $9.00 / month").click()
    expect(dialog.get_by_text("Welcome! You are a premium member of Night Owls.")).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(box.locator('[data-premium-access="yes"]')).to_be_visible()
    expect(box.locator('[data-subscription-state="active"]')).to_contain_text("Active")

    # Premium: the members-only room now lets them in.
    open_room(page, room.pk)

    # Cancel: access continues until the period ends.
    page.goto(f"/clubs/{club.slug}/")
    box.get_by_role("button", name="Cancel membership").click()
    page.get_by_role("dialog", name="Cancel your membership of Night Owls?").get_by_role(
        "button", name="Cancel membership"
    ).click()
    expect(box.locator('[data-subscription-state="active"]')).to_contain_text(
        "Cancels at period end"
    )
    expect(box.get_by_role("button", name="Resume")).to_be_visible()
    expect(box.locator('[data-premium-access="yes"]')).to_be_visible()
    screenshots(page, "club-membership")
    sub = ClubSubscription.objects.get(user=member, club=club)
    assert (sub.status, sub.cancel_at_period_end, sub.amount) == ("active", True, 900)

    page.goto("/wallet/")
    mine = page.get_by_role("table", name="My club memberships")
    expect(mine).to_contain_text("Night Owls")
    expect(mine).to_contain_text("Cancels at period end")
    expect(mine.get_by_role("button", name="Resume")).to_be_visible()
    page.console.assert_clean(allow=("status of 403",))  # the room page, before premium


def test_a_creator_prices_an_event_with_readable_errors(
    new_page: Any, standin_shared: Any, screenshots: Any
) -> None:
    creator = make_creator(standin_shared, username="maker", display_name="Mae Maker")
    event = EventFactory(created_by=creator, title="Launch party")
    page = new_page(creator)
    page.goto(f"/events/{event.pk}/")
    page.get_by_role("button", name="Sell tickets").click()
    dialog = page.get_by_role("dialog", name="Ticket price")
    dialog.get_by_label("Price", exact=True).fill("0.10")
    dialog.get_by_role("button", name="Set price").click()
    expect(dialog.get_by_text("A ticket costs between $1.00 and $1,000.00.")).to_be_visible()
    expect(dialog.get_by_label("Price", exact=True)).to_have_attribute("aria-invalid", "true")
    screenshots(page, "ticket-price")
    assert_every_control_is_named(page)
    dialog.get_by_label("Price", exact=True).fill("12.50")
    dialog.get_by_role("button", name="Set price").click()
    expect(page.locator("[data-event-price]")).to_have_text("$12.50")
    expect(page.get_by_role("button", name="Change ticket price")).to_be_visible()
    price = TicketPrice.objects.get(event=event)
    assert (price.amount, price.currency, price.creator) == (1250, "USD", creator)
    page.console.assert_clean(allow=("status of 400",))

    # A listener sees the price and can buy; a host who is not a creator is told why not.
    fan = new_page(UserFactory())
    fan.goto(f"/events/{event.pk}/")
    expect(fan.locator("[data-event-price]")).to_have_text("$12.50")
    expect(fan.get_by_role("button", name="Buy ticket")).to_be_visible()
    fan.console.assert_clean()

    plain = UserFactory()
    other = EventFactory(created_by=plain, title="Free chat")
    host = new_page(plain)
    host.goto(f"/events/{other.pk}/")
    host.get_by_role("button", name="Sell tickets").click()
    dialog = host.get_by_role("dialog", name="Ticket price")
    dialog.get_by_label("Price", exact=True).fill("5")
    dialog.get_by_role("button", name="Set price").click()
    expect(dialog.locator("[data-form-error]")).to_contain_text("creator")
    assert not TicketPrice.objects.filter(event=other).exists()


def test_buying_an_event_ticket_explains_a_decline_then_waits_for_3d_secure(
    new_page: Any, standin_shared: Any
) -> None:
    creator = make_creator(standin_shared, username="maker", display_name="Mae Maker")
    event = EventFactory(created_by=creator, title="Launch party")
    ticket_price_set(user=creator, event_id=event.pk, price=Money(800, "USD"))
    fan = UserFactory()
    page = new_page(fan)
    page.goto("/events/")
    page.get_by_role("tab", name="Everything upcoming").click()
    card = page.locator(f'[data-event-id="{event.pk}"]')
    expect(card.locator("[data-card-price]")).to_have_text("Ticket $8.00")
    card.get_by_role("link", name="Launch party").click()

    page.get_by_role("button", name="Buy ticket").click()
    dialog = page.get_by_role("dialog", name="Buy a ticket")
    dialog.get_by_label(re.compile("declined")).check()
    dialog.get_by_role("button", name="Buy ticket · $8.00").click()
    expect(dialog.locator("[data-form-error]")).to_contain_text(re.compile("declined", re.I))
    assert Ticket.objects.get(buyer=fan).status == "failed"

    dialog.get_by_label(re.compile("3-D Secure")).check()
    dialog.get_by_role("button", name="Buy ticket · $8.00").click()
    expect(
        dialog.get_by_text("Your bank needs to confirm this payment (3-D Secure).")
    ).to_be_visible()
    ticket = Ticket.objects.get(buyer=fan)  # the same ticket, a new attempt: one row
    assert (ticket.status, ticket.event_id, ticket.amount) == ("requires_action", event.pk, 800)
    page.console.assert_clean(allow=("status of 402",))


def test_a_price_raised_while_the_buy_dialog_is_open_is_shown_and_confirmed(
    new_page: Any, standin_shared: Any
) -> None:
    creator = make_creator(standin_shared, username="raiser", display_name="Ray Raiser")
    event = EventFactory(created_by=creator, title="Late raise")
    ticket_price_set(user=creator, event_id=event.pk, price=Money(800, "USD"))
    fan = UserFactory()
    page = new_page(fan)
    page.goto(f"/events/{event.pk}/")
    page.get_by_role("button", name="Buy ticket").click()
    dialog = page.get_by_role("dialog", name="Buy a ticket")
    expect(dialog.locator("[data-ticket-price]")).to_have_text("$8.00")
    # The creator raises the price after the quote, while the buyer reads it.
    ticket_price_set(user=creator, event_id=event.pk, price=Money(1200, "USD"))

    dialog.get_by_role("button", name="Buy ticket · $8.00").click()

    expect(dialog.locator("[data-form-error]")).to_contain_text(
        "The price changed from $8.00 to $12.00. Nothing was charged."
    )
    expect(dialog.locator("[data-ticket-price]")).to_have_text("$12.00")
    assert not Ticket.objects.filter(buyer=fan).exists()
    dialog.get_by_role("button", name="Buy ticket · $12.00").click()
    expect(dialog.get_by_text("You have a ticket ✓")).to_be_visible()
    ticket = Ticket.objects.get(buyer=fan)
    assert (ticket.status, ticket.amount) == ("paid", 1200)
    page.console.assert_clean(allow=("status of 409",))
