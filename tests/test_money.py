from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clubhouse.money import Money, currency_exponent


def test_currency_exponents_follow_iso_4217() -> None:
    assert currency_exponent("usd") == 2
    assert currency_exponent("JPY") == 0
    assert currency_exponent("KWD") == 3


def test_from_major_refuses_more_precision_than_the_currency_has() -> None:
    assert Money.from_major("12.50", "eur") == Money(1250, "EUR")
    assert Money.from_major("500", "JPY") == Money(500, "JPY")
    with pytest.raises(ValueError, match="more decimals"):
        Money.from_major("1.5", "JPY")
    with pytest.raises(ValueError, match="more decimals"):
        Money.from_major("0.001", "USD")


def test_money_refuses_floats_and_mixed_currencies() -> None:
    with pytest.raises(TypeError):
        Money(10.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot combine"):
        Money(1, "USD") + Money(1, "EUR")
    with pytest.raises(ValueError, match="ISO 4217"):
        Money(1, "US")


@given(st.integers(-(10**12), 10**12), st.sampled_from(["USD", "JPY", "KWD"]))
def test_str_round_trips_through_from_major(amount: int, currency: str) -> None:
    money = Money(amount, currency)
    text, code = str(money).split()
    assert Money.from_major(Decimal(text), code) == money
