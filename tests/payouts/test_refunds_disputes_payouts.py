"""Refunds (full and partial) and disputes of any charge, creators' bank payouts, and the
reconciliation of all three, plus a membership payment missing from the ledger."""

from __future__ import annotations

from typing import Any

import pytest

from clubhouse.money import Money
from payouts import ledger, services
from payouts.ledger import Kind
from payouts.models import ConnectedPayout, Discrepancy, Journal, Tip
from payouts.provider import get_provider
from payouts.provider.standin import STANDIN
from payouts.reconciliation import reconcile

from .conftest import follow, make_creator, make_user, post_event
from .test_memberships import deliver, paid_club, subscribed

pytestmark = pytest.mark.django_db
K = Discrepancy.Kind


def _membership_charge(django_capture_on_commit_callbacks: Any) -> tuple[Any, str, str]:
    club = paid_club()  # 1000 USD a month, 10% to the platform
    with django_capture_on_commit_callbacks(execute=True):
        subscribed(club)
    journal = Journal.objects.get(kind=Journal.Kind.MEMBERSHIP)
    return club.created_by, journal.stripe_charge_id, journal.stripe_payment_intent_id


def _last_event(type_: str) -> dict[str, Any]:
    return next(e for e in reversed(STANDIN.events) if e["type"] == type_)


def _platform_matches_standin() -> None:
    assert STANDIN.available.get("usd", 0) == ledger.balance_of(Kind.PLATFORM_BALANCE, "USD")


# --- refunds ---------------------------------------------------------------------------------


def test_partial_refunds_of_a_membership_reverse_the_creator_share_in_proportion(
    client, webhook_endpoint, django_capture_on_commit_callbacks
) -> None:
    owner, charge, pi = _membership_charge(django_capture_on_commit_callbacks)
    get_provider().refund_create(payment_intent=pi, amount=400, idempotency_key="r1")
    deliver(client, webhook_endpoint, [_last_event("charge.refunded")])
    first = Journal.objects.get(kind=Journal.Kind.REFUND)
    assert ledger.balance_of(Kind.REFUNDS, "USD") == 400
    assert ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", owner) == 900 - 360
    assert first.stripe_charge_id == charge
    _platform_matches_standin()
    get_provider().refund_create(payment_intent=pi, idempotency_key="r2")  # the rest
    deliver(client, webhook_endpoint, [_last_event("charge.refunded")])
    assert ledger.balance_of(Kind.REFUNDS, "USD") == 1000
    assert ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", owner) == 0
    assert Journal.objects.filter(kind=Journal.Kind.REFUND).count() == 2
    _platform_matches_standin()


def test_refund_events_replayed_and_out_of_order_book_the_refunded_total_once(
    client, webhook_endpoint, django_capture_on_commit_callbacks
) -> None:
    owner, _, pi = _membership_charge(django_capture_on_commit_callbacks)
    get_provider().refund_create(payment_intent=pi, amount=300, idempotency_key="r1")
    partial = _last_event("charge.refunded")
    get_provider().refund_create(payment_intent=pi, amount=200, idempotency_key="r2")
    later = _last_event("charge.refunded")
    deliver(client, webhook_endpoint, [later, later, later, partial, partial])
    assert ledger.balance_of(Kind.REFUNDS, "USD") == 500
    # One journal per refund, each booked once (a `charge.refunded` event books every
    # succeeded refund the provider lists for the charge).
    assert Journal.objects.filter(kind=Journal.Kind.REFUND).count() == 2
    assert ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", owner) == 900 - 450
    _platform_matches_standin()


def test_a_partial_refund_of_a_tip_then_the_rest_ends_refunded(client, webhook_endpoint) -> None:
    sender, creator = make_user(), make_creator()
    follow(sender, creator)
    tip = services.tip_send(
        sender=sender, creator=creator, amount=Money(1000, "USD"), payment_method="pm_card_visa"
    )
    get_provider().refund_create(
        payment_intent=tip.stripe_payment_intent_id, amount=500, idempotency_key="t1"
    )
    deliver(client, webhook_endpoint, [_last_event("charge.refunded")])
    tip.refresh_from_db()
    assert tip.status == Tip.Status.SUCCEEDED  # partly refunded: still a tip
    assert ledger.balance_of(Kind.REFUNDS, "USD") == 500
    services.tip_refund(tip=tip, actor=make_user(is_staff=True))  # staff refund the rest
    deliver(client, webhook_endpoint, [_last_event("charge.refunded")])
    tip.refresh_from_db()
    assert tip.status == Tip.Status.REFUNDED
    assert ledger.balance_of(Kind.REFUNDS, "USD") == tip.charge_amount
    assert ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", creator) == 0
    assert set(Journal.objects.values_list("kind", flat=True)) == {"tip", "tip_refund"}
    _platform_matches_standin()


# --- disputes --------------------------------------------------------------------------------


def test_a_dispute_withdraws_funds_once_and_a_won_dispute_reinstates_them(
    client, webhook_endpoint, django_capture_on_commit_callbacks
) -> None:
    owner, charge, _ = _membership_charge(django_capture_on_commit_callbacks)
    STANDIN.dispute(charge)
    created, withdrawn = STANDIN.events[-2:]
    deliver(client, webhook_endpoint, [created, withdrawn, created])
    assert Journal.objects.filter(kind=Journal.Kind.DISPUTE).count() == 1
    assert ledger.balance_of(Kind.DISPUTES, "USD") == 1000
    assert ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", owner) == 900  # the platform absorbs
    _platform_matches_standin()
    dispute_id = created["data"]["object"]["id"]
    deliver(client, webhook_endpoint, [STANDIN.dispute_won(dispute_id)])
    assert ledger.balance_of(Kind.DISPUTES, "USD") == 0
    assert Journal.objects.filter(kind=Journal.Kind.DISPUTE_REINSTATED).count() == 1
    _platform_matches_standin()
    assert reconcile() == []


def test_funds_reinstated_before_withdrawn_books_both_once(
    client, webhook_endpoint, django_capture_on_commit_callbacks
) -> None:
    _, charge, _ = _membership_charge(django_capture_on_commit_callbacks)
    STANDIN.dispute(charge)
    created, withdrawn = STANDIN.events[-2:]
    reinstated = STANDIN.dispute_won(created["data"]["object"]["id"])
    deliver(client, webhook_endpoint, [reinstated, withdrawn, created])
    assert ledger.balance_of(Kind.DISPUTES, "USD") == 0
    assert Journal.objects.filter(kind=Journal.Kind.DISPUTE).count() == 1
    _platform_matches_standin()


def test_a_disputed_tip_is_marked_disputed_with_one_journal(client, webhook_endpoint) -> None:
    sender, creator = make_user(), make_creator()
    follow(sender, creator)
    tip = services.tip_send(
        sender=sender, creator=creator, amount=Money(1000, "USD"), payment_method="pm_card_visa"
    )
    STANDIN.dispute(tip.stripe_charge_id)
    deliver(client, webhook_endpoint, STANDIN.events[-2:])
    tip.refresh_from_db()
    assert tip.status == Tip.Status.DISPUTED
    assert Journal.objects.filter(kind=Journal.Kind.TIP_DISPUTE).count() == 1


# --- creators' payouts -------------------------------------------------------------------------


def _creator_with_money(django_capture_on_commit_callbacks: Any) -> tuple[Any, str]:
    owner, _, _ = _membership_charge(django_capture_on_commit_callbacks)
    return owner, owner.connected_account.stripe_account_id


def test_a_paid_connected_payout_is_booked_once(
    client, webhook_endpoint, django_capture_on_commit_callbacks
) -> None:
    owner, account = _creator_with_money(django_capture_on_commit_callbacks)
    event = STANDIN.connected_payout(account, 900)
    assert event["account"] == account
    for _ in range(3):
        assert post_event(client, webhook_endpoint, event).status_code == 200
    payout = ConnectedPayout.objects.get()
    assert (payout.status, payout.amount, payout.creator_id) == ("paid", 900, owner.pk)
    assert ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", owner) == 0
    assert ledger.balance_of(Kind.BANK_PAYOUTS, "USD") == 900
    assert Journal.objects.filter(kind=Journal.Kind.CREATOR_PAYOUT).count() == 1
    assert reconcile() == []


def test_a_payout_that_fails_after_paid_is_reversed(
    client, webhook_endpoint, django_capture_on_commit_callbacks
) -> None:
    owner, account = _creator_with_money(django_capture_on_commit_callbacks)
    paid = STANDIN.connected_payout(account, 900)
    failed = STANDIN.connected_payout_settle(paid["data"]["object"]["id"], status="failed")
    deliver(client, webhook_endpoint, [paid, failed, paid])
    assert ConnectedPayout.objects.get().status == "failed"
    assert ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", owner) == 900
    assert ledger.balance_of(Kind.BANK_PAYOUTS, "USD") == 0
    assert reconcile() == []


def test_a_failed_payout_seen_before_its_paid_event_books_nothing(
    client, webhook_endpoint, django_capture_on_commit_callbacks
) -> None:
    owner, account = _creator_with_money(django_capture_on_commit_callbacks)
    paid = STANDIN.connected_payout(account, 900)
    failed = STANDIN.connected_payout_settle(paid["data"]["object"]["id"], status="failed")
    deliver(client, webhook_endpoint, [failed, paid])
    assert ConnectedPayout.objects.get().status == "failed"
    assert not Journal.objects.filter(kind=Journal.Kind.CREATOR_PAYOUT).exists()
    assert ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", owner) == 900


def test_a_forged_payout_event_is_refused(
    client, webhook_endpoint, django_capture_on_commit_callbacks
) -> None:
    _, account = _creator_with_money(django_capture_on_commit_callbacks)
    event = STANDIN.connected_payout(account, 900)
    assert post_event(client, webhook_endpoint, event, secret="whsec_forged").status_code == 400
    assert not ConnectedPayout.objects.exists()


# --- reconciliation ---------------------------------------------------------------------------


def _kinds() -> set[tuple[str, str]]:
    return set(Discrepancy.objects.values_list("kind", "object_type"))


def test_reconciliation_detects_a_membership_payment_missing_from_the_ledger(
    django_capture_on_commit_callbacks,
) -> None:
    club = paid_club()
    with django_capture_on_commit_callbacks(execute=True):
        _, sub = subscribed(club)
    assert reconcile() == []
    STANDIN.subscription_advance(sub.stripe_subscription_id)  # invoice.paid never delivered
    reconcile()
    missing = Discrepancy.objects.get()
    assert (missing.kind, missing.object_type, missing.provider_amount) == (
        K.MISSING_IN_LEDGER, "charge", 1000,
    )  # fmt: skip


def test_reconciliation_detects_refunds_disputes_and_payouts_missing_from_the_ledger(
    django_capture_on_commit_callbacks,
) -> None:
    _, charge, pi = _membership_charge(django_capture_on_commit_callbacks)
    get_provider().refund_create(payment_intent=pi, amount=100, idempotency_key="r")
    STANDIN.dispute(charge)
    account = STANDIN.get("charges", charge)["transfer"]
    account = STANDIN.get("transfers", account)["destination"]
    STANDIN.connected_payout(account, 500)
    reconcile()  # none of these events was delivered
    assert _kinds() == {
        (K.MISSING_IN_LEDGER, "refund"),
        (K.MISSING_IN_LEDGER, "dispute"),
        (K.MISSING_IN_LEDGER, "dispute_fee"),
        (K.MISSING_IN_LEDGER, "creator_payout"),
    }
    assert Discrepancy.objects.get(object_type="refund").provider_amount == 100
