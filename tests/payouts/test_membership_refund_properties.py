"""Random partial refunds of membership charges: whatever the sequence, the creator gives back
exactly what Stripe reversed from their transfer, the ledger's platform balance equals the
provider's, and a full refund takes back the creator's whole share."""

from __future__ import annotations

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clubhouse.money import Money
from payouts import ledger
from payouts.ledger import Kind
from payouts.models import Journal
from payouts.provider import get_provider
from payouts.provider.standin import STANDIN
from payouts.webhooks import event_handle

from .test_memberships import paid_club, subscribed

pytestmark = pytest.mark.django_db


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    price=st.integers(100, 100_000),
    parts=st.lists(st.integers(1, 10_000), min_size=1, max_size=5),
    finish=st.booleans(),
    shuffle=st.randoms(use_true_random=False),
)
def test_partial_refunds_reverse_exactly_what_the_provider_reversed(
    price: int, parts: list[int], finish: bool, shuffle
) -> None:
    STANDIN.reset()
    with transaction.atomic():  # each example starts from an empty ledger
        _scenario(price, parts, finish, shuffle)
        transaction.set_rollback(True)


def _scenario(price: int, parts: list[int], finish: bool, shuffle) -> None:
    club = paid_club(price=Money(price, "USD"))
    subscribed(club)
    payment = Journal.objects.get(kind=Journal.Kind.MEMBERSHIP)
    charge = STANDIN.get("charges", payment.stripe_charge_id)
    share = price - STANDIN.get("payment_intents", charge["payment_intent"])[
        "application_fee_amount"]  # fmt: skip
    events = []
    for n, part in enumerate(parts):
        left = charge["amount"] - charge["amount_refunded"]
        if left <= 0:
            break
        seen = len(STANDIN.events)
        get_provider().refund_create(
            payment_intent=charge["payment_intent"], amount=min(part, left),
            idempotency_key=f"p{n}",
        )  # fmt: skip
        events += STANDIN.events[seen:]  # charge.refunded, then refund.updated
    if finish and charge["amount"] > charge["amount_refunded"]:
        seen = len(STANDIN.events)
        get_provider().refund_create(payment_intent=charge["payment_intent"], idempotency_key="f")
        events += STANDIN.events[seen:]
    types = [e["type"] for e in events]  # and application_fee.refunded, which books nothing
    assert types.count("charge.refunded") == types.count("refund.updated") > 0
    shuffle.shuffle(events)  # webhooks arrive in any order, some twice
    for event in events + events[:1]:
        event_handle(event_id=event["id"], type_=event["type"],
                     obj=event["data"]["object"], created=event["created"])  # fmt: skip
    transfer = STANDIN.get("transfers", charge["transfer"])
    fee_id = charge["application_fee"]  # none when the club's fee rounds to zero
    fee = STANDIN.get("application_fees", fee_id) if fee_id else {"amount_refunded": 0}
    owner = club.created_by
    assert ledger.balance_of(Kind.REFUNDS, "USD") == charge["amount_refunded"]
    # The transfer carried the whole charge and the fee came back: the owner gave back what was
    # reversed less the fee refunded to them.
    assert ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", owner) == (
        share - (transfer["amount_reversed"] - fee["amount_refunded"])
    )
    assert STANDIN.connected_balance(transfer["destination"]).get("usd", 0) == (
        ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", owner)
    )
    assert STANDIN.available.get("usd", 0) == ledger.balance_of(Kind.PLATFORM_BALANCE, "USD")
    if charge["amount_refunded"] == charge["amount"]:
        assert ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", owner) == 0
    assert ledger.ledger_imbalances() == []
