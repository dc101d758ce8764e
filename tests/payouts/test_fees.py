from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clubhouse.money import Money
from payouts.fees import gross_up, processing_fee


def test_tip_of_ten_dollars_charges_ten_sixty_one_at_stripe_us_pricing() -> None:
    quote = gross_up(Money(1000, "USD"))
    assert (quote.charge.amount, quote.fee.amount) == (1061, 61)


def test_fee_rounds_the_percentage_to_the_nearest_cent_half_up() -> None:
    # 2.9% of 1050 = 30.45 -> 30; of 1052 = 30.508 -> 31; 2.9% of 500 = 14.5 -> 15
    assert processing_fee(1050, "USD") == 60
    assert processing_fee(1052, "USD") == 61
    assert processing_fee(500, "USD") == 45


def test_non_positive_tips_are_refused() -> None:
    with pytest.raises(ValueError, match="a tip is a positive amount"):
        gross_up(Money(0, "USD"))


@settings(max_examples=3000, deadline=None)
@given(
    tip=st.integers(min_value=1, max_value=10**8),
    currency=st.sampled_from(["USD", "EUR", "GBP", "JPY", "CAD", "KWD"]),
)
def test_gross_up_never_under_collects_and_is_the_smallest_charge(tip: int, currency: str) -> None:
    quote = gross_up(Money(tip, currency))
    charge = quote.charge.amount
    received = charge - processing_fee(charge, currency)
    assert quote.fee.amount == processing_fee(charge, currency)
    assert tip <= received <= tip + 1  # never under-collects, at most one minor unit over
    assert charge - 1 - processing_fee(charge - 1, currency) < tip  # one less would under-collect
    assert isinstance(charge, int)
    assert quote.charge.currency == currency
