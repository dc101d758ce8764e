"""Demo money for `make run`, against the Stripe stand-in only (never real Stripe).

Two demo members become creators (Send Money on, one with a stipend), onboard their connected
accounts, the platform balance is topped up, a fan sends a tip with a test card, and subscribes
(with the saved card) to the first creator's paid club.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.utils import timezone

from accounts.models import Follow, User
from clubhouse.money import Money
from payouts import ledger, services
from payouts.ledger import Kind, Line
from payouts.models import CreatorApplication, CreatorProgram, Journal, Tip
from payouts.provider import get_provider, provider_is_standin

CREATORS = ["nina", "miles"]
FAN = "ada"
TOP_UP = 5_000_000  # USD cents


def load() -> Iterator[str]:
    if not provider_is_standin():
        yield "Payouts demo skipped: a real Stripe key is configured."
        return
    from payouts.provider.standin import STANDIN
    from payouts.setup import standin_webhook_endpoint

    staff = User.objects.filter(is_staff=True).order_by("pk").first()
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
        Follow.objects.get_or_create(follower=people[FAN], followee=creator)
    if not Journal.objects.filter(idempotency_key="demo-topup").exists():
        STANDIN.top_up(TOP_UP, "usd")
        ledger.journal_post(
            kind=Journal.Kind.FUNDING,
            currency="USD",
            idempotency_key="demo-topup",
            description="demo top-up of the stand-in platform balance",
            lines=[
                Line(ledger.account(Kind.PLATFORM_BALANCE, "USD"), TOP_UP),
                Line(ledger.account(Kind.PLATFORM_FUNDING, "USD"), -TOP_UP),
            ],
        )
    if not Tip.objects.filter(sender=people[FAN]).exists():
        services.tip_send(
            sender=people[FAN],
            creator=people[CREATORS[0]],
            amount=Money(1000, "USD"),
            payment_method="pm_card_visa",
        )
    _paid_club(people[CREATORS[0]], people[FAN])
    yield (
        f"Payouts (Stripe stand-in, test mode): creators {', '.join(CREATORS)}; "
        f"{FAN} sent a $10.00 tip (card saved: pm_card_visa) and subscribed to the paid club "
        f"/{PAID_CLUB}/ ($5.00 a month). Stipends: admin → Stipend runs."
    )


PAID_CLUB = "night-owls-paid"


def _paid_club(owner: User, fan: User) -> None:
    from clubs.models import Club, ClubMembership
    from clubs.services import club_create

    club = Club.objects.filter(slug=PAID_CLUB).first()
    if club is None:
        club = club_create(
            creator=owner,
            name="Night Owls (paid)",
            slug=PAID_CLUB,
            description="An exclusive club with a monthly membership (demo).",
            join_policy=Club.JoinPolicy.OPEN,
            is_exclusive=True,
        )
    services.club_plan_set(club=club, actor=owner, price=Money(500, "USD"))
    ClubMembership.objects.get_or_create(club=club, user=fan)
    services.club_subscribe(club=club, user=fan)
