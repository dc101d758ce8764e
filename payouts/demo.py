"""Demo money for `make run`, against the Stripe stand-in only (never real Stripe).

Two demo members become creators (Send Money on, one with a stipend), onboard their connected
accounts, the platform balance is topped up, a fan sends a tip with a test card, buys a ticket
(with the saved card) for a priced event of the first creator, and subscribes to that creator's
paid club.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from accounts.services import user_follow_seed
from clubhouse.money import Money
from clubs.errors import ClubNotFound
from clubs.selectors import club_get
from clubs.services import club_create, club_join
from payouts import services
from payouts.models import CreatorApplication, CreatorProgram, Journal, Ticket, Tip
from payouts.provider import get_provider, provider_is_standin
from payouts.services import tickets
from payouts.setup import standin_webhook_endpoint
from rooms.schedule_selectors import event_by_title
from rooms.schedule_services import event_create

if TYPE_CHECKING:
    from accounts.models import User
else:
    User = get_user_model()

CREATORS = ["nina", "miles"]
FAN = "ada"
TOP_UP = 5_000_000  # USD cents
TOP_UP_REASON = "demo top-up of the stand-in platform balance"


def _topped_up() -> bool:
    """The demo's top-up is booked (by the service, or as "demo-topup" by earlier demos)."""
    return Journal.objects.filter(
        Q(idempotency_key="demo-topup")
        | Q(kind=Journal.Kind.FUNDING, description__endswith=TOP_UP_REASON)
    ).exists()


def load() -> Iterator[str]:
    if not provider_is_standin():
        yield "Payouts demo skipped: a real Stripe key is configured."
        return
    from payouts.provider.standin import STANDIN  # loaded in stand-in mode only

    staff = User.objects.filter(is_staff=True, is_superuser=True).order_by("pk").first()
    people = {u.username: u for u in User.objects.filter(username__in=[*CREATORS, FAN])}
    if staff is None or len(people) < len(CREATORS) + 1:
        yield "Payouts demo skipped: run the accounts demo first."
        return
    standin_webhook_endpoint()
    today = timezone.now().date().replace(day=1)
    for index, username in enumerate(CREATORS):
        creator = people[username]
        if not CreatorProgram.objects.filter(user=creator).exists():
            application = CreatorApplication.objects.filter(user=creator, status="pending").first()
            application = application or services.creator_apply(user=creator, pitch="Demo creator")
            services.creator_application_approve(
                application=application,
                reviewer=staff,
                note="demo",
                stipend_start_month=today if index == 0 else None,
                stipend_end_month=today if index == 0 else None,
            )
        account = services.connected_account_ensure(user=creator)
        if not account.transfers_active:
            STANDIN.account_activate(account.stripe_account_id)
            services.connected_account_sync(
                data=get_provider().account_retrieve(account.stripe_account_id)
            )
        user_follow_seed(follower=people[FAN], followee=creator)
    if not _topped_up():
        # Booked as Stripe's top-ups are (services.topup_book), from the stand-in's top-up.
        topup = STANDIN.top_up(TOP_UP, "usd", description=TOP_UP_REASON)
        services.topup_book(topup=topup, reason=TOP_UP_REASON, actor=staff)
    if not Tip.objects.filter(sender=people[FAN]).exists():
        services.tip_send(
            sender=people[FAN],
            creator=people[CREATORS[0]],
            amount=Money(1000, "USD"),
            payment_method="pm_card_visa",
        )
    ticketed = _ticketed_event(people[CREATORS[0]], people[FAN])
    _paid_club(people[CREATORS[0]], people[FAN])
    yield (
        f"Payouts (Stripe stand-in, test mode): creators {', '.join(CREATORS)}; "
        f"{FAN} sent a $10.00 tip (card saved: pm_card_visa). Stipends: admin → Stipend runs. "
        f"Tickets: {FAN} bought a $15.00 ticket for {CREATORS[0]}'s event {ticketed!r}. "
        f"Paid clubs: {FAN} subscribed to /{PAID_CLUB}/ ($5.00 a month)."
    )


TICKETED_EVENT = "Ticketed: a late-night listening session"


def _ticketed_event(creator: User, fan: User) -> str:
    """A priced event by the first creator, with the fan's ticket (bought with the saved card)."""
    event = event_by_title(title=TICKETED_EVENT, created_by=creator)
    if event is None:
        event = event_create(
            user=creator,
            title=TICKETED_EVENT,
            starts_at=timezone.now() + timedelta(days=2),
            description="A demo of ticketed events: a ticket admits to the event's room.",
        )
        tickets.ticket_price_set(user=creator, event_id=event.pk, price=Money(1500, "USD"))
    if not Ticket.objects.filter(buyer=fan, event=event).exists():
        tickets.ticket_buy(buyer=fan, event_id=event.pk)
    return TICKETED_EVENT


PAID_CLUB = "night-owls-paid"


def _paid_club(owner: User, fan: User) -> None:
    try:
        club = club_get(slug=PAID_CLUB)
    except ClubNotFound:
        club = club_create(
            creator=owner,
            name="Night Owls (paid)",
            slug=PAID_CLUB,
            description="An exclusive club with a monthly membership (demo).",
            join_policy="open",
            is_exclusive=True,
        )
    services.club_plan_set(club=club, actor=owner, price=Money(500, "USD"))
    club_join(club=club, user=fan)
    services.club_subscribe(club=club, user=fan)
