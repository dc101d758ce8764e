"""The fee rule and the gross-up: the sender pays the processing fees on top of a tip.

Integer arithmetic only. Stripe computes its fee on the amount charged as
``round_half_up(charge * bps / 10_000) + fixed``. The gross-up finds the smallest charge ``c``
such that ``c - fee(c) >= tip``: the creator receives the whole tip, and because ``c - fee(c)``
rises by at most one minor unit per unit of ``c`` (bps <= 10_000), the smallest such ``c`` leaves
at most one minor unit over (in practice exactly the tip).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from clubhouse.money import Money
from payouts import conf


def percent_of(amount: int, bps: int) -> int:
    """``amount * bps / 10_000`` rounded to the nearest integer, halves up (amount >= 0)."""
    return (amount * bps + 5_000) // 10_000


def processing_fee(charge: int, currency: str) -> int:
    bps, fixed = conf.fee_rule(currency)
    return percent_of(charge, bps) + fixed


@dataclass(frozen=True, slots=True)
class GrossUp:
    tip: Money
    charge: Money
    fee: Money  # what the sender pays on top; the application fee on the destination charge


def gross_up(tip: Money) -> GrossUp:
    if tip.amount <= 0:
        raise ValueError("a tip is a positive amount")
    bps, fixed = conf.fee_rule(tip.currency)
    if not 0 <= bps < 10_000:
        raise ValueError("the percentage fee must be below 100%")
    # ceil((tip + fixed) * 10_000 / (10_000 - bps)) is within a unit or two of the answer;
    # walk to the exact smallest charge so the rounding rule is the only source of truth.
    charge = -(-(tip.amount + fixed) * 10_000 // (10_000 - bps))
    while charge - processing_fee(charge, tip.currency) < tip.amount:
        charge += 1
    while (
        charge > tip.amount and charge - 1 - processing_fee(charge - 1, tip.currency) >= tip.amount
    ):
        charge -= 1
    fee = processing_fee(charge, tip.currency)
    return GrossUp(tip=tip, charge=Money(charge, tip.currency), fee=Money(fee, tip.currency))


def application_fee_for_percent(amount: int, percent: Decimal | str) -> int:
    """Stripe's `application_fee_percent` (two decimals at most) applied to an invoice total,
    rounded to the nearest minor unit, halves up. The ledger books the fee Stripe reports on
    the payment; this is how the stand-in computes it."""
    hundredths = int((Decimal(str(percent)) * 100).to_integral_value())
    return (amount * hundredths + 5_000) // 10_000


def proportional_share(share: int, part: int, whole: int) -> int:
    """``share * part / whole`` rounded half up: the part of a destination charge's transfer
    (or fee) that a cumulative refund of ``part`` out of ``whole`` takes back. Computed on
    cumulative amounts, so successive partial refunds add up exactly to the full share."""
    if whole <= 0:
        return 0
    return (2 * share * part + whole) // (2 * whole)
