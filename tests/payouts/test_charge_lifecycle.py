"""One payment lifecycle for every kind of charge (payouts/services/charges.py): each hook a kind
registers, tried on every kind that has it (tips, tickets, club membership invoices), through
the stand-in and, where news arrives by webhook, through signed events.

Each test names the hook it checks: owner lookup, the sale (ledger lines when paid), the paid
and failed transitions and their effects, refunds, disputes, the unknown-outcome re-ask and
sweep, and the staff retry of a failed refund.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from accounts.models import Notification
from clubhouse.money import Money
from payouts import ledger, services
from payouts.ledger import Kind
from payouts.models import (
    AuditEntry,
    CardCharge,
    ChargeRefund,
    Entry,
    Journal,
    MembershipInvoice,
    Ticket,
    Tip,
)
from payouts.provider import CardDeclined, ProviderUnavailable
from payouts.provider.standin import STANDIN, StandInError
from payouts.services import charges, tickets
from payouts.services.charges import CHARGE_KINDS, charge_owner
from payouts.services.memberships import membership_invoice_refund
from tests.rooms.factories import EventFactory

from .conftest import follow, make_creator, make_user, post_event
from .test_memberships import deliver, paid_club, subscribed

pytestmark = pytest.mark.django_db

SALE_KINDS = {"tip": Journal.Kind.TIP, "ticket": Journal.Kind.TICKET,
              "membership": Journal.Kind.MEMBERSHIP}  # fmt: skip
DISPUTE_KINDS = {"tip": Journal.Kind.TIP_DISPUTE, "ticket": Journal.Kind.TICKET_DISPUTE,
                 "membership": Journal.Kind.DISPUTE}  # fmt: skip


# --- a row of each kind ---------------------------------------------------------------------


def _tip(card: str = "pm_card_visa", *, then: Callable[[], None] = lambda: None) -> Tip:
    """A tip paid with `card` (saved first); `then` runs just before the charge is sent."""
    sender, creator = make_user(), make_creator()
    follow(sender, creator)
    services.payment_method_save(user=sender, payment_method=card)
    then()
    return services.tip_send(sender=sender, creator=creator, amount=Money(1000, "USD"))


def _ticket(card: str = "pm_card_visa", *, then: Callable[[], None] = lambda: None) -> Ticket:
    creator, buyer = make_creator(), make_user()
    event = EventFactory(created_by=creator)
    tickets.ticket_price_set(user=creator, event_id=event.pk, price=Money(1500, "USD"))
    services.payment_method_save(user=buyer, payment_method=card)
    then()
    return tickets.ticket_buy(buyer=buyer, event_id=event.pk)


def _membership(capture: Any) -> MembershipInvoice:
    with capture(execute=True):
        subscribed(paid_club())
    return MembershipInvoice.objects.get()


def _paid(kind: str, capture: Any) -> Any:
    row: Any = (
        {"tip": _tip, "ticket": _ticket}[kind]() if kind != "membership" else (_membership(capture))
    )
    assert row.status == row.PAYMENT.paid
    return row


def _creator_of(row: Any) -> Any:
    return row.subscription.creator if isinstance(row, MembershipInvoice) else row.creator


def _payer_of(row: Any) -> Any:
    return getattr(row, row.PAYER_FIELD)


def _staff() -> Any:
    return make_user(is_staff=True)


def _refund(row: Any) -> None:
    """Staff refund the row in full, through its kind's own service."""
    if isinstance(row, Tip):
        services.tip_refund(tip=row, actor=_staff())
    elif isinstance(row, Ticket):
        tickets.ticket_refund(ticket=row, actor=_staff())
    else:
        membership_invoice_refund(invoice=row, actor=_staff())


KINDS = ["tip", "ticket", "membership"]
PAYMENT_KINDS = ["tip", "ticket"]  # the kinds whose payment intents we create


def test_every_kind_is_registered_with_its_model() -> None:
    assert {name: kind.model for name, kind in CHARGE_KINDS.items()} == {
        "tip": Tip, "ticket": Ticket, "membership": MembershipInvoice,
    }  # fmt: skip
    assert all(issubclass(kind.model, CardCharge) for kind in CHARGE_KINDS.values())


# --- owner lookup -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_owner_lookup_finds_the_row_from_every_provider_object(
    kind: str, django_capture_on_commit_callbacks: Any
) -> None:
    row = _paid(kind, django_capture_on_commit_callbacks)
    charge_kind = CHARGE_KINDS[kind]
    charge = STANDIN.get("charges", row.stripe_charge_id)
    intent = STANDIN.get("payment_intents", row.stripe_payment_intent_id)
    found = {
        "charge": charge_owner(charge_kind, charge),
        "intent": charge_owner(charge_kind, intent),
        "metadata only": charge_owner(charge_kind, {"metadata": row.intent_metadata()}),
        "charge id only": charge_owner(charge_kind, {"id": charge["id"], "object": "charge"}),
        "a refund of it": charge_owner(
            charge_kind, {"id": "re_x", "object": "refund", "charge": charge["id"]}
        ),
    }
    assert {how: getattr(r, "pk", None) for how, r in found.items()} == dict.fromkeys(found, row.pk)
    stranger = {"id": "ch_unknown", "object": "charge", "payment_intent": "pi_unknown",
                "metadata": {"tip": "not-a-uuid", "ticket": "00000000-0000-0000-0000-000000000000",
                             "membership_invoice": "in_unknown"}}  # fmt: skip
    assert charge_owner(charge_kind, stranger) is None


# --- the sale: ledger lines when paid, once ---------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_paid_books_the_kind_sale_once(kind: str, django_capture_on_commit_callbacks: Any) -> None:
    row = _paid(kind, django_capture_on_commit_callbacks)
    charges.charge_mark_paid(row, charge_id=row.stripe_charge_id)  # the same news again
    charges.charge_mark_paid(row)
    (journal,) = Journal.objects.filter(kind=SALE_KINDS[kind])
    lines = {
        (e.account.kind, e.account.creator_id): e.amount
        for e in Entry.objects.filter(journal=journal).select_related("account")
    }
    creator = _creator_of(row)
    share = row.charged_amount - row.application_fee_amount
    assert lines[(Kind.CUSTOMER_PAYMENTS, None)] == -row.charged_amount
    assert lines[(Kind.CREATOR_PAYABLE, creator.pk)] == share
    assert ledger.creator_balances(creator) == {"USD": share}
    assert (journal.stripe_charge_id, journal.stripe_payment_intent_id) == (
        row.stripe_charge_id, row.stripe_payment_intent_id,
    )  # fmt: skip
    paid = AuditEntry.objects.filter(subject_id=str(row.pk), action=row.PAYMENT.paid,
                                     subject_type=type(row).__name__)  # fmt: skip
    assert paid.count() == 1


# --- the paid transition's own effects -----------------------------------------------------------


def test_on_paid_of_a_tip_tells_the_creator(django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        tip = _tip()
    notes = Notification.objects.filter(recipient=tip.creator, kind="money", data__has_key="tip")
    assert [n.data for n in notes] == [{"tip": str(tip.uuid), "amount": 1000, "currency": "USD"}]


def test_on_paid_of_a_ticket_stamps_it_and_refunds_it_if_its_event_was_cancelled(
    django_capture_on_commit_callbacks: Any,
) -> None:
    ticket = _ticket("pm_card_threeDSecure2Required")
    assert ticket.status == Ticket.Status.REQUIRES_ACTION
    assert ticket.paid_at is None
    Ticket.objects.filter(pk=ticket.pk).update(refund_requested_at=ticket.created,
                                               refund_reason="event_cancelled")  # fmt: skip
    STANDIN.complete_3ds(ticket.stripe_payment_intent_id)
    intent = STANDIN.get("payment_intents", ticket.stripe_payment_intent_id)
    with django_capture_on_commit_callbacks(execute=True):
        paid = tickets.ticket_apply_payment_intent(ticket=ticket, intent=intent)
    assert paid.paid_at is not None
    paid.refresh_from_db()
    assert paid.status == Ticket.Status.REFUNDED  # the refund started once the payment landed
    assert Journal.objects.filter(kind=Journal.Kind.TICKET_REFUND).count() == 1


# --- failed ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", PAYMENT_KINDS)
def test_a_declined_card_fails_the_row_and_books_nothing(kind: str) -> None:
    with pytest.raises(CardDeclined):
        {"tip": _tip, "ticket": _ticket}[kind]("pm_card_chargeDeclined")
    row: Any = CHARGE_KINDS[kind].model._default_manager.get()
    assert (row.status, row.failure_code) == (row.PAYMENT.failed, "card_declined")
    assert not Journal.objects.exists()
    assert AuditEntry.objects.filter(subject_id=str(row.pk), action="failed").count() == 1


@pytest.mark.parametrize("kind", PAYMENT_KINDS)
def test_a_failed_3ds_then_its_success_event_pays_the_row(
    kind: str, client: Any, webhook_endpoint: Any
) -> None:
    """Dispatch by the intent's kind metadata: the webhook finds the row of the right kind."""
    row = {"tip": _tip, "ticket": _ticket}[kind]("pm_card_threeDSecure2Required")
    failed = STANDIN.complete_3ds(row.stripe_payment_intent_id, success=False)
    assert post_event(client, webhook_endpoint, failed).status_code == 200
    row.refresh_from_db()
    assert (row.status, row.failure_code) == (
        row.PAYMENT.failed, "payment_intent_authentication_failure",
    )  # fmt: skip
    succeeded = STANDIN.complete_3ds(row.stripe_payment_intent_id)
    assert post_event(client, webhook_endpoint, succeeded).status_code == 200
    row.refresh_from_db()
    assert row.status == row.PAYMENT.paid
    assert Journal.objects.filter(kind=SALE_KINDS[kind]).count() == 1


# --- refunded ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_full_refund_moves_the_kind_and_books_once(
    kind: str, django_capture_on_commit_callbacks: Any
) -> None:
    row = _paid(kind, django_capture_on_commit_callbacks)
    _refund(row)
    row.refresh_from_db()
    expected = {"tip": Tip.Status.REFUNDED, "ticket": Ticket.Status.REFUNDED,
                "membership": MembershipInvoice.Status.PAID}  # fmt: skip
    assert row.status == expected[kind]  # an invoice stays paid: access follows the subscription
    assert charges.refunded_booked(row.stripe_charge_id) == row.charged_amount
    assert ledger.creator_balances(_creator_of(row)) == {"USD": 0}


# --- disputed ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_dispute_books_the_kind_dispute_and_moves_the_row(
    kind: str, client: Any, webhook_endpoint: Any, django_capture_on_commit_callbacks: Any
) -> None:
    row = _paid(kind, django_capture_on_commit_callbacks)
    STANDIN.dispute(row.stripe_charge_id)
    deliver(client, webhook_endpoint, STANDIN.events[-2:])
    row.refresh_from_db()
    expected = {"tip": Tip.Status.DISPUTED, "ticket": Ticket.Status.DISPUTED,
                "membership": MembershipInvoice.Status.PAID}  # fmt: skip
    assert row.status == expected[kind]
    assert Journal.objects.filter(kind=DISPUTE_KINDS[kind]).count() == 1
    assert ledger.balance_of(Kind.DISPUTES, "USD") == row.charged_amount


# --- unknown outcomes: the payer asks again, and the sweep --------------------------------------


def _unanswered(kind: str, *, charged: bool) -> Any:
    """A row whose payment request got no answer: the card was charged and the answer lost, or
    the request never reached the provider."""

    def provider_goes_quiet() -> None:
        if charged:
            STANDIN.lose_responses = 3  # the answer and stripe-python's retries' are lost
        else:
            STANDIN.fail_next = [StandInError(500, "api_error", "boom") for _ in range(3)]

    with pytest.raises(ProviderUnavailable):
        {"tip": _tip, "ticket": _ticket}[kind](then=provider_goes_quiet)
    row: Any = CHARGE_KINDS[kind].model._default_manager.get()
    assert row.status == row.PAYMENT.pending
    assert not row.stripe_payment_intent_id
    return row


def _age(row: Any, seconds: int) -> None:
    type(row)._default_manager.filter(pk=row.pk).update(
        created=row.created - timedelta(seconds=seconds)
    )
    row.refresh_from_db()


@pytest.mark.parametrize("kind", PAYMENT_KINDS)
def test_the_payer_asking_again_after_no_answer_resends_under_the_same_key(kind: str) -> None:
    row = _unanswered(kind, charged=True)
    assert charges.charge_refresh_for_payer(row).status == row.PAYMENT.pending  # still in flight
    _age(row, charges.UNANSWERED_AFTER_SECONDS + 1)
    again = charges.charge_refresh_for_payer(row)
    assert again.status == row.PAYMENT.paid
    assert len(STANDIN.all("payment_intents")) == 1  # the same key: no second charge
    assert len(STANDIN.all("charges")) == 1


@pytest.mark.parametrize("kind", PAYMENT_KINDS)
@pytest.mark.parametrize("charged", [True, False], ids=["answer lost", "never arrived"])
def test_the_sweep_settles_a_row_with_no_answer_and_tells_the_payer(
    kind: str, charged: bool, django_capture_on_commit_callbacks: Any
) -> None:
    row = _unanswered(kind, charged=charged)
    sweep: Callable[[], list[str]] = charges.charges_settle_stuck
    assert sweep() == []  # too recent: its request may still be in flight
    _age(row, 16 * 60)
    with django_capture_on_commit_callbacks(execute=True):
        states = sweep()
    assert sweep() == []  # settled once
    row.refresh_from_db()
    P = row.PAYMENT
    assert states == [P.paid if charged else P.failed] == [row.status]
    if not charged:
        assert row.failure_code == "provider_no_record"
        assert not STANDIN.all("payment_intents")
    assert Journal.objects.filter(kind=SALE_KINDS[kind]).count() == (1 if charged else 0)
    told = [n.data.get("event") for n in Notification.objects.filter(recipient=_payer_of(row))]
    assert told == [f"{kind}_{row.status}"]


# --- staff retry a failed refund, through the kind's own service ----------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_failed_refund_is_retried_by_the_kind_of_its_charge(
    kind: str, django_capture_on_commit_callbacks: Any
) -> None:
    row = _paid(kind, django_capture_on_commit_callbacks)
    STANDIN.refunds_pending = True
    _refund(row)
    failed = ChargeRefund.objects.get()
    STANDIN.refund_fail(failed.stripe_refund_id)
    charges.charge_refund_refresh(refund=failed)
    failed.refresh_from_db()
    assert failed.status == ChargeRefund.Status.FAILED
    STANDIN.refunds_pending = False
    new = charges.charge_refund_retry(refund=failed, actor=_staff())
    assert new is not None
    assert new.pk != failed.pk
    assert (new.status, new.charge_kind, new.amount) == ("succeeded", kind, failed.amount)
    assert charges.refunded_booked(row.stripe_charge_id) == row.charged_amount
