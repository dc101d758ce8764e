"""Every object the stand-in returns looks like Stripe's: each field of Stripe's published example
object for its type (stripe_fixtures/), with a compatible JSON type, null only where Stripe
documents null, and no field Stripe does not have (see tests/payouts/stripe_shapes.py).

The objects come from one run of the stand-in through the real provider over every endpoint the
project calls and every test helper (what Stripe's dashboard, a bank or a cardholder would do):
the provider's answers, every stored object, every event and the objects inside them."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings

from payouts.provider import STANDIN_API_KEY, CardDeclined
from payouts.provider.standin import StandInStripe
from payouts.provider.stripe_provider import StripeProvider
from tests.payouts.stripe_shapes import fixture, shape_errors
from tests.payouts.test_stripe_contract import CASES

# Every type of object the stand-in hands out (top-level or nested in another one).
OBJECT_TYPES = [
    "account",
    "account_link",
    "application_fee",
    "balance",
    "balance_transaction",
    "bank_account",
    "charge",
    "customer",
    "dispute",
    "event",
    "fee_refund",
    "invoice",
    "invoice_payment",
    "line_item",
    "payment_intent",
    "payment_method",
    "payout",
    "plan",
    "price",
    "product",
    "refund",
    "setup_intent",
    "subscription",
    "subscription_item",
    "topup",
    "transfer",
    "transfer_reversal",
]


class _Recorder:
    """The provider, with every answer kept (by provider method)."""

    def __init__(self, provider: StripeProvider) -> None:
        self.provider = provider
        self.answers: list[tuple[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.provider, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            answer = method(*args, **kwargs)
            self.answers.append((name, answer))
            return answer

        return call


def _run_everything() -> tuple[StandInStripe, _Recorder]:
    standin = StandInStripe("")
    p = _Recorder(
        StripeProvider(
            STANDIN_API_KEY,
            api_version=settings.STRIPE_API_VERSION,
            http_client=standin,
            mode="standin",
        )
    )
    keys = iter(f"shape-{n}" for n in range(1000))

    customer = p.customer_create(email="fan@example.test", user_id=1, idempotency_key=next(keys))
    p.setup_intent_create(customer=customer["id"])
    card = p.payment_method_attach(payment_method="pm_card_visa", customer=customer["id"])
    three_ds = p.payment_method_attach(
        payment_method="pm_card_threeDSecure2Required", customer=customer["id"]
    )
    declined = p.payment_method_attach(
        payment_method="pm_card_chargeDeclined", customer=customer["id"]
    )
    account = p.account_create(email="host@example.test", user_id=2, idempotency_key=next(keys))
    standin.account_activate(account["id"])
    p.account_retrieve(account["id"])
    p.account_link_create(
        account=account["id"],
        refresh_url="https://example.test/r",
        return_url="https://example.test/back",
    )
    topup = standin.top_up(1_000_000)
    p.topup_retrieve(topup["id"])
    p.topup_list()

    def pay(pm: dict[str, Any], amount: int = 1000, **extra: Any) -> dict[str, Any]:
        return p.payment_intent_create(  # type: ignore[no-any-return]
            amount=amount,
            currency="usd",
            customer=customer["id"],
            payment_method=pm["id"],
            application_fee_amount=amount // 10,
            destination=account["id"],
            transfer_group=f"tip_{amount}",
            metadata={"kind": "tip"},
            idempotency_key=next(keys),
            **extra,
        )

    paid = pay(card)
    pay(card, 1200, on_behalf_of=account["id"])
    waiting = pay(three_ds, 1300)
    standin.complete_3ds(pay(three_ds, 1400)["id"])
    standin.complete_3ds(pay(three_ds, 1500)["id"], success=False)
    p.payment_intent_cancel(waiting["id"], idempotency_key=next(keys))
    with pytest.raises(CardDeclined):
        pay(declined, 1600)
    p.payment_intent_retrieve(paid["id"])
    p.payment_intent_list(customer=customer["id"])

    charge = p.charge_retrieve(paid["latest_charge"])
    p.charge_metadata_update(charge=charge["id"], metadata={"tip_id": "1"})
    refund = p.refund_create(payment_intent=paid["id"], idempotency_key=next(keys), amount=300)
    p.refund_retrieve(refund["id"])
    p.refund_create(payment_intent=paid["id"], idempotency_key=next(keys))
    p.charge_refund_list(charge["id"])
    p.refund_list()
    standin.refunds_pending = True
    pending = p.refund_create(payment_intent=pay(card, 1700)["id"], idempotency_key=next(keys))
    standin.refund_settle(pending["id"], success=False)
    pending = p.refund_create(payment_intent=pay(card, 1800)["id"], idempotency_key=next(keys))
    standin.refund_settle(pending["id"])
    standin.refund_fail(pending["id"])
    standin.refunds_pending = False

    disputed = p.charge_retrieve(pay(card, 1900)["latest_charge"])
    dispute = standin.dispute(disputed["id"])["data"]["object"]
    standin.dispute_won(dispute["id"])
    standin.dispute(p.charge_retrieve(pay(card, 2000)["latest_charge"])["id"])
    p.dispute_list()

    transfer = p.transfer_create(
        amount=500_000,
        currency="usd",
        destination=account["id"],
        transfer_group="stipend_2_2026-01",
        metadata={"kind": "stipend"},
        idempotency_key=next(keys),
    )
    standin.transfer_reverse(transfer["id"])
    p.transfer_list()
    p.transfer_list(transfer_group="stipend_2_2026-01")
    p.payout_create(amount=1000, currency="usd", idempotency_key=next(keys))
    p.payout_list()
    standin.connected_payout(account["id"], 100)
    standin.connected_payout(account["id"], 100, status="failed")
    p.connected_payout_list(account=account["id"])
    p.balance_transaction_list()
    p.application_fee_list()
    p.balance_retrieve()

    price = p.price_create(
        amount=900,
        currency="usd",
        product_name="Night owls",
        metadata={"club_id": "3"},
        idempotency_key=next(keys),
    )

    def subscribe(pm: dict[str, Any]) -> dict[str, Any]:
        return p.club_subscription_create(  # type: ignore[no-any-return]
            customer=customer["id"],
            price=price["id"],
            payment_method=pm["id"],
            destination=account["id"],
            application_fee_percent=Decimal("10.00"),
            metadata={"kind": "membership"},
            idempotency_key=next(keys),
        )

    sub = subscribe(card)
    p.subscription_retrieve(sub["id"])
    p.subscription_list(customer=customer["id"])
    p.invoice_retrieve(sub["latest_invoice"]["id"])
    standin.subscription_advance(sub["id"])
    failing = standin.subscription_advance(sub["id"], fail=True)
    failed_invoice = next(e for e in failing if e["type"] == "invoice.payment_failed")
    standin.invoice_retry(failed_invoice["data"]["object"]["id"])
    p.subscription_set_cancel_at_period_end(
        subscription=sub["id"], cancel=True, idempotency_key=next(keys)
    )
    standin.subscription_advance(sub["id"])
    incomplete = subscribe(three_ds)
    standin.invoice_complete_3ds(incomplete["latest_invoice"]["id"])
    p.subscription_cancel_now(incomplete["id"])
    standin.subscription_incomplete_expire(subscribe(three_ds)["id"])
    unpaid = subscribe(card)
    standin.subscription_retries_exhausted(unpaid["id"], outcome="unpaid")
    p.subscription_set_cancel_at_period_end(
        subscription=unpaid["id"], cancel=False, idempotency_key=next(keys)
    )
    return standin, p


@pytest.fixture(scope="module")
def world() -> tuple[StandInStripe, _Recorder]:
    return _run_everything()


def _objects_in(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if isinstance(value.get("object"), str):
            yield value
        for item in value.values():
            yield from _objects_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _objects_in(item)


def _everything(world: tuple[StandInStripe, _Recorder]) -> list[tuple[str, dict[str, Any]]]:
    """(where it was seen, object): answers, stored objects, events."""
    standin, recorder = world
    seen: list[tuple[str, dict[str, Any]]] = []
    for method, answer in recorder.answers:
        seen.extend((f"{method}()", obj) for obj in _objects_in(answer))
    for collection, objects in standin.objects.items():
        seen.extend((f"stored {collection}", obj) for obj in _objects_in(list(objects.values())))
    for event in standin.events:
        seen.extend((f"event {event['type']}", obj) for obj in _objects_in(event))
    return seen


def test_every_provider_method_ran(world: tuple[StandInStripe, _Recorder]) -> None:
    ran = {method for method, _ in world[1].answers}
    assert {case.provider_method for case in CASES} - ran == set()


def test_every_object_type_the_standin_returns_is_checked(
    world: tuple[StandInStripe, _Recorder],
) -> None:
    seen = {obj["object"] for _, obj in _everything(world)} - {"list"}
    assert seen == set(OBJECT_TYPES)


@pytest.mark.parametrize("object_type", OBJECT_TYPES)
def test_the_standins_objects_have_stripes_shape(
    object_type: str, world: tuple[StandInStripe, _Recorder]
) -> None:
    problems: dict[str, str] = {}
    for where, obj in _everything(world):
        if obj["object"] == object_type:
            for problem in shape_errors(obj, object_type):
                problems.setdefault(problem, where)  # the first place each one shows
    assert problems == {}


def test_the_check_finds_a_missing_field_a_wrong_type_and_an_invented_field() -> None:
    charge = fixture("charge")
    assert shape_errors(charge) == []
    del charge["amount_captured"]
    charge["paid"] = "yes"
    charge["outcome"] = None  # Stripe documents it nullable
    charge["captured"] = None  # Stripe does not
    charge["behaviour"] = "ok"
    assert shape_errors(charge) == [
        "charge.amount_captured: missing (Stripe's example has number)",
        "charge.captured: null, Stripe sends boolean and does not document null",
        "charge.paid: string, stripe-python types it ['boolean']",
        "charge.behaviour: not a field of Stripe's Charge",
    ]


def test_the_check_looks_inside_lists_and_expanded_objects() -> None:
    transfer = fixture("transfer")
    transfer["destination"] = fixture("account")  # expanded: checked as an account
    del transfer["destination"]["country"]
    transfer["reversals"]["data"] = [{**fixture("transfer_reversal"), "amount": "1100"}]
    assert shape_errors(transfer) == [
        "transfer.destination.country: missing (Stripe's example has string)",
        "transfer.reversals.data[0].amount: string, stripe-python types it ['number']",
    ]
