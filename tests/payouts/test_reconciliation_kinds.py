"""Reconciliation covers everything Stripe moves (issue #13, point 2): a history with every kind
of movement reconciles clean, and one discrepancy injected into any kind, at Stripe or in the
ledger, is flagged as exactly that kind, once. A correcting journal resolves it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from clubhouse.money import Money
from payouts import ledger, services
from payouts.ledger import Kind
from payouts.models import Discrepancy, Journal, StipendPayment, Tip
from payouts.provider import get_provider
from payouts.provider.standin import STANDIN
from payouts.reconciliation import reconcile
from payouts.services.corrections import CorrectionLine

from .conftest import follow, fund, make_creator, make_user, post_event
from .test_memberships import deliver

pytestmark = pytest.mark.django_db
K = Discrepancy.Kind


@dataclass
class World:
    """One of every movement, each booked as production books it."""

    tip: Tip
    refunded_tip: Tip
    stipend: StipendPayment
    topup: dict[str, Any]
    creator_account: str
    payout_id: str

    @property
    def charge(self) -> dict[str, Any]:
        return STANDIN.get("charges", self.tip.stripe_charge_id)

    @property
    def refunded_charge(self) -> dict[str, Any]:
        return STANDIN.get("charges", self.refunded_tip.stripe_charge_id)


def _last(type_: str) -> dict[str, Any]:
    return next(e for e in reversed(STANDIN.events) if e["type"] == type_)


def _txn(id_: str) -> dict[str, Any]:
    return STANDIN.get("balance_transactions", id_)


@pytest.fixture
def world(client: Any, webhook_endpoint: Any) -> World:
    fund_journal = fund(10**8)
    topup = STANDIN.get("topups", fund_journal.stripe_topup_id)
    sender, creator = make_user(), make_creator(stipend=True)
    follow(sender, creator)
    tip = services.tip_send(
        sender=sender, creator=creator, amount=Money(1000, "USD"), payment_method="pm_card_visa"
    )
    refunded = services.tip_send(
        sender=sender, creator=creator, amount=Money(2000, "USD"), payment_method="pm_card_visa"
    )
    get_provider().refund_create(
        payment_intent=refunded.stripe_payment_intent_id, amount=700, idempotency_key="part"
    )
    deliver(client, webhook_endpoint, [_last("charge.refunded")])
    services.stipend_run_month(month=date(2026, 2, 1))
    get_provider().payout_create(amount=3000, currency="usd", idempotency_key="po")
    paid = _last("payout.paid")
    post_event(client, webhook_endpoint, paid)
    account = creator.connected_account.stripe_account_id
    post_event(client, webhook_endpoint, STANDIN.connected_payout(account, 500))
    return World(
        tip=tip,
        refunded_tip=refunded,
        stipend=StipendPayment.objects.get(creator=creator),
        topup=topup,
        creator_account=account,
        payout_id=paid["data"]["object"]["id"],
    )


def _found() -> set[tuple[str, str]]:
    return {(d.kind, d.object_type) for d in reconcile()}


def test_a_history_of_every_movement_reconciles_clean(world: World) -> None:
    types = {t["type"] for t in STANDIN.all("balance_transactions")}
    assert {
        "topup", "charge", "transfer", "application_fee", "refund", "transfer_refund",
        "application_fee_refund", "payout",
    } <= types  # fmt: skip
    assert reconcile() == []
    assert reconcile() == []  # a rerun finds nothing either


def _fee(world: World, charge: dict[str, Any]) -> dict[str, Any]:
    return STANDIN.get("application_fees", charge["application_fee"])


def _reversal(world: World) -> dict[str, Any]:
    transfer = STANDIN.get("transfers", world.refunded_charge["transfer"])
    return dict(transfer["reversals"]["data"][0])


def _set_reversal_amount(world: World, amount: int) -> None:
    transfer = STANDIN.get("transfers", world.refunded_charge["transfer"])
    reversal = transfer["reversals"]["data"][0]
    transfer["amount_reversed"] += amount - reversal["amount"]
    reversal["amount"] = amount


def _stray_balance_transaction(world: World) -> None:
    with STANDIN._lock:
        STANDIN._balance_txn(amount=-250, currency="usd", type_="stripe_fee", source="")


def _unbooked_topup(world: World) -> None:
    STANDIN.top_up(12_345)  # its topup.succeeded is never delivered


def _topup_gone(world: World) -> None:
    del STANDIN.objects["balance_transactions"][world.topup["balance_transaction"]]


def _manual_reversal_of_a_tip_transfer(world: World) -> None:
    STANDIN.transfer_reverse(world.charge["transfer"])


def _dispute_not_delivered(world: World) -> None:
    STANDIN.dispute(world.tip.stripe_charge_id)


def _refund_not_delivered(world: World) -> None:
    get_provider().refund_create(
        payment_intent=world.tip.stripe_payment_intent_id, amount=100, idempotency_key="dash"
    )


def _payout_not_booked(world: World) -> None:
    get_provider().payout_create(amount=100, currency="usd", idempotency_key="po2")


def _stray_transfer_failure(world: World) -> None:
    with STANDIN._lock:
        STANDIN._balance_txn(amount=500, currency="usd", type_="transfer_failure", source="tr_x")


def _creator_payout_not_booked(world: World) -> None:
    STANDIN.connected_payout(world.creator_account, 100)


INJECTIONS: dict[str, tuple[Callable[[World], Any], set[tuple[str, str]]]] = {
    "charge gross": (
        lambda w: _txn(w.charge["balance_transaction"]).update(amount=999),
        {(K.AMOUNT_MISMATCH, "charge")},
    ),
    "charge fee": (
        lambda w: _txn(w.charge["balance_transaction"]).update(fee=70),
        {(K.AMOUNT_MISMATCH, "charge_fee")},
    ),
    "charge net": (
        lambda w: _txn(w.charge["balance_transaction"]).update(net=1),
        {(K.AMOUNT_MISMATCH, "charge_net")},
    ),
    "charge currency": (
        lambda w: _txn(w.charge["balance_transaction"]).update(currency="eur"),
        {(K.CURRENCY_MISMATCH, "charge")},
    ),
    "application fee amount": (
        lambda w: _txn(_fee(w, w.charge)["balance_transaction"]).update(amount=1),
        {(K.AMOUNT_MISMATCH, "application_fee")},
    ),
    "application fee missing": (
        lambda w: STANDIN.objects["balance_transactions"].pop(
            _fee(w, w.charge)["balance_transaction"]
        ),
        {(K.MISSING_AT_PROVIDER, "application_fee")},
    ),
    "transfer of a charge": (
        lambda w: STANDIN.get("transfers", w.charge["transfer"]).update(amount=900),
        {(K.AMOUNT_MISMATCH, "charge_transfer")},
    ),
    "transfer of a charge missing": (
        lambda w: STANDIN.objects["transfers"].pop(w.charge["transfer"]),
        {(K.MISSING_AT_PROVIDER, "charge_transfer")},
    ),
    "stipend transfer": (
        lambda w: STANDIN.get("transfers", w.stipend.stripe_transfer_id).update(amount=499_999),
        {(K.AMOUNT_MISMATCH, "transfer")},
    ),
    "transfer reversal of a refund": (
        lambda w: _set_reversal_amount(w, _reversal(w)["amount"] - 1),
        {(K.AMOUNT_MISMATCH, "transfer_reversal")},
    ),
    "reversal nobody booked": (
        _manual_reversal_of_a_tip_transfer,
        {(K.UNEXPECTED_REVERSAL, "transfer")},
    ),
    "application fee refund": (
        lambda w: _fee(w, w.refunded_charge).update(amount_refunded=1),
        {(K.AMOUNT_MISMATCH, "application_fee_refund")},
    ),
    "refund": (_refund_not_delivered, {(K.MISSING_IN_LEDGER, "refund")}),
    "dispute": (
        _dispute_not_delivered,
        {(K.MISSING_IN_LEDGER, "dispute"), (K.MISSING_IN_LEDGER, "dispute_fee")},
    ),
    "platform payout": (_payout_not_booked, {(K.MISSING_IN_LEDGER, "payout")}),
    "platform payout returned, its return not booked": (
        lambda w: STANDIN.get("payouts", w.payout_id).update(status="failed"),
        {(K.MISSING_AT_PROVIDER, "payout")},
    ),
    "creator payout": (_creator_payout_not_booked, {(K.MISSING_IN_LEDGER, "creator_payout")}),
    "top-up not booked": (_unbooked_topup, {(K.MISSING_IN_LEDGER, "topup")}),
    "top-up amount": (
        lambda w: _txn(w.topup["balance_transaction"]).update(amount=10**8 - 1),
        {(K.AMOUNT_MISMATCH, "topup")},
    ),
    "top-up missing at Stripe": (_topup_gone, {(K.MISSING_AT_PROVIDER, "topup")}),
    "any other balance transaction": (
        _stray_balance_transaction,
        {(K.MISSING_IN_LEDGER, "balance_transaction")},
    ),
    "a transfer that failed": (
        _stray_transfer_failure,
        {(K.MISSING_IN_LEDGER, "balance_transaction")},
    ),
}


@pytest.mark.parametrize("injection", list(INJECTIONS))
def test_one_discrepancy_of_each_kind_is_flagged_once(world: World, injection: str) -> None:
    inject, expected = INJECTIONS[injection]
    assert reconcile() == []
    inject(world)
    assert _found() == expected
    reconcile()
    assert Discrepancy.objects.count() == len(expected)  # a rerun adds nothing


def test_a_correcting_journal_resolves_the_discrepancy_and_the_rerun_stays_quiet(
    world: World,
) -> None:
    _stray_balance_transaction(world)  # Stripe took 2.50 USD that nothing booked
    (flagged,) = reconcile()
    assert (flagged.kind, flagged.object_type, flagged.provider_amount) == (
        K.MISSING_IN_LEDGER, "balance_transaction", -250,
    )  # fmt: skip
    balance_before = ledger.balance_of(Kind.PLATFORM_BALANCE, "USD")
    correction = services.correction_post(
        discrepancy=flagged,
        currency="USD",
        reason="Stripe's Connect account fee for February",
        lines=[
            CorrectionLine(kind=Kind.PROCESSING_FEES, amount=250),
            CorrectionLine(kind=Kind.PLATFORM_BALANCE, amount=-250),
        ],
        actor=make_user(is_staff=True),
        key="feb-connect-fee",
    )
    assert correction.kind == Journal.Kind.CORRECTION
    assert ledger.balance_of(Kind.PLATFORM_BALANCE, "USD") == balance_before - 250
    assert STANDIN.available["usd"] == ledger.balance_of(Kind.PLATFORM_BALANCE, "USD")
    assert reconcile() == []
    flagged.refresh_from_db()
    assert flagged.resolved
    assert flagged.correction == correction
