"""A purchase binds the price its buyer was shown: the client sends the amount and currency it
displayed, and a price changed in between (a creator raised it after the quote) refuses the
purchase with the current price, for the buyer to confirm again."""

from __future__ import annotations

from clubhouse.errors import Conflict
from clubhouse.money import Money


class PriceChanged(Conflict):
    code = "price_changed"
    default_message = "The price changed; confirm the new price to buy."


def price_require_shown(*, shown: Money | None, amount: int, currency: str) -> None:
    """Refuse (409 `price_changed`, carrying the current `price`) unless `shown` is the current
    price. `shown` None: an internal caller (the demo, staff tools) that showed no price."""
    if shown is None:
        return
    current = Money(amount, currency)
    if (shown.amount, shown.currency) == (current.amount, current.currency):
        return
    raise PriceChanged(
        f"The price is now {current} (you were shown {shown}). Confirm to pay the new price.",
        extra={"price": {"amount": current.amount, "currency": current.currency}},
    )
