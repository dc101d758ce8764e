"""A back office with something waiting in every card, made through the services that make it
in production where one exists (applications, the stipend run, reports), and as rows where the
state comes from the provider (a refund Stripe failed, a webhook our handler could not apply).
Used by the page tests and the browser test; `expected` is what the staff home must show."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from html.parser import HTMLParser
from typing import Any

from django.utils import timezone
from djstripe.models import WebhookEventTrigger

from accounts.models import Report, User
from clubs.models import ClubReport
from payouts import services
from payouts.models import ChargeRefund, Discrepancy, Ticket
from payouts.provider.standin import STANDIN
from tests.clubs.factories import ClubFactory
from tests.factories import ReportFactory, UserFactory
from tests.payouts.conftest import fund


def this_month() -> date:
    return timezone.now().date().replace(day=1)


def creator_with_stipend(month: date, *, username: str, refused: bool = False) -> User:
    """An approved creator with a stipend for `month` and an active Stripe account; `refused`:
    Stripe then restricts the account, so the transfer is refused (a failed row, its reason
    the provider's message)."""
    user = UserFactory(username=username, display_name=username.replace("_", " ").title())
    staff = UserFactory(is_staff=True)
    application = services.creator_apply(user=user, pitch="a nightly show")
    services.creator_application_approve(
        application=application,
        reviewer=staff,
        stipend_start_month=month,
        stipend_end_month=month,
    )
    account = services.connected_account_ensure(user=user)
    STANDIN.account_activate(account.stripe_account_id)
    services.connected_account_sync(data=STANDIN.get("accounts", account.stripe_account_id))
    if refused:
        with STANDIN._lock:
            STANDIN.get("accounts", account.stripe_account_id)["capabilities"]["transfers"] = (
                "inactive"
            )
    return user


@dataclass
class World:
    expected: dict[str, dict[str, int]]
    refused_creator: User


def _refund(charge: str, status: str, *, refund_id: str, age: timedelta = timedelta(0)) -> None:
    row = ChargeRefund.objects.create(
        stripe_refund_id=refund_id,
        stripe_charge_id=charge,
        charge_kind="tip",
        amount=500,
        currency="USD",
        status=status,
        failure_reason="expired_or_canceled_card" if status == "failed" else "",
    )
    if age:
        ChargeRefund.objects.filter(pk=row.pk).update(created=timezone.now() - age)


def everything_waiting() -> World:
    month = this_month()
    # Creator applications: two wait; one was rejected; the stipend creators' were approved.
    for name in ("applicant_one", "applicant_two", "applicant_rejected"):
        application = services.creator_apply(user=UserFactory(username=name))
        if name == "applicant_rejected":
            services.creator_application_reject(
                application=application, reviewer=UserFactory(is_staff=True), reason="Not yet."
            )
    # This month's stipends: one paid, one refused by Stripe.
    fund()
    creator_with_stipend(month, username="paid_creator")
    refused = creator_with_stipend(month, username="refused_creator", refused=True)
    services.stipend_run_month(month=month)
    # Reports of members: three open, one resolved.
    for _ in range(3):
        ReportFactory()
    ReportFactory(status=Report.Status.RESOLVED)
    # Reports of clubs: two open, one dismissed.
    club = ClubFactory()
    for status in ("open", "open", "dismissed"):
        ClubReport.objects.create(
            club=club, reporter=UserFactory(), reason="spam", text="ads", status=status
        )
    # Discrepancies: one open, one resolved.
    for n, resolved in enumerate((False, True)):
        Discrepancy.objects.create(
            kind=Discrepancy.Kind.MISSING_IN_LEDGER,
            object_type="transfer",
            external_id=f"tr_staffhome_{n}",
            resolved=resolved,
        )
    # Refunds: one failed and not retried, one failed then retried (a later refund of the same
    # charge), one pending for two days, one pending for a minute: two need a person.
    _refund("ch_failed", "failed", refund_id="re_failed")
    _refund("ch_retried", "failed", refund_id="re_retried_1")
    _refund("ch_retried", "succeeded", refund_id="re_retried_2")
    _refund("ch_old", "pending", refund_id="re_old", age=timedelta(days=2))
    _refund("ch_new", "pending", refund_id="re_new")
    # A ticket whose refund failed before Stripe made one.
    buyer, seller = UserFactory(), UserFactory()
    Ticket.objects.create(
        buyer=buyer, creator=seller, target_key="event:1", title="Late show", amount=1500,
        application_fee=150, currency="USD", destination_account_id="acct_x",
        status=Ticket.Status.REFUND_FAILED, refund_error="card expired",
    )  # fmt: skip
    # A Stripe delivery our handler failed on (dj-stripe kept it unprocessed).
    WebhookEventTrigger.objects.create(
        remote_ip="127.0.0.1",
        headers={},
        body=json.dumps({"id": "evt_staffhome_failed", "type": "account.updated"}),
        valid=True,
        processed=False,
        exception="KeyError",
    )
    expected = {
        "applications": {"pending review": 2},
        "stipends": {"paid": 1, "failed": 1, "processing": 0, "waiting to be sent": 0},
        "reports": {"waiting": 3},
        "club-reports": {"waiting": 2},
        "discrepancies": {"open": 1},
        "refunds": {
            "refunds failed and not retried, or pending too long": 2,
            "tickets whose refund failed or is stuck": 1,
        },
        "webhooks": {"not handled": 1},
    }
    return World(expected=expected, refused_creator=refused)


def figures(html: str) -> dict[str, dict[str, int]]:
    """The staff home's figures as a person reads them: card → label → count (and nothing
    else: see `links` for where each leads)."""
    return {card: {label: count for label, (count, _) in rows.items()}
            for card, rows in _cards(html).items()}  # fmt: skip


def links(html: str) -> dict[str, dict[str, str]]:
    return {card: {label: url for label, (_, url) in rows.items()}
            for card, rows in _cards(html).items()}  # fmt: skip


def _cards(html: str) -> dict[str, dict[str, tuple[int, str]]]:
    found: dict[str, dict[str, tuple[int, str]]] = {}

    class Parser(HTMLParser):
        card: str | None = None
        label: str | None = None
        url: str = ""

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            attr: dict[str, Any] = dict(attrs)
            if tag == "article" and "data-card" in attr:
                self.card = attr["data-card"]
                found[self.card] = {}
            elif tag == "li" and "data-figure" in attr:
                self.label = attr["data-figure"]
            elif tag == "a" and self.label:
                self.url = attr["href"]
            elif tag == "span" and "data-count" in attr and self.card and self.label:
                found[self.card][self.label] = (int(attr["data-count"]), self.url)
                self.label = None

    Parser().feed(html)
    return found
