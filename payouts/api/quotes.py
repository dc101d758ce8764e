"""What every purchase endpoint shares: the price the client showed, and the error shapes
its answers document (the project's error envelope; `price_changed` also carries the price)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

from clubhouse.api import currency_field
from clubhouse.errors import InvalidInput
from clubhouse.money import Money


class ShownPriceInput(serializers.Serializer):
    """Required: the price the buyer was shown (from the quote). A purchase is only made at
    that price; a different current price is a 409 `price_changed`."""

    amount = serializers.IntegerField(
        min_value=1, help_text="The price shown to the buyer, in minor units (required)."
    )
    currency = currency_field(required=True)


def shown_price(validated: dict[str, Any]) -> Money:
    try:
        return Money(int(validated["amount"]), str(validated["currency"]))
    except ValueError as exc:
        raise InvalidInput(fields={"currency": ["Not an ISO 4217 code."]}) from exc


def _error_fields() -> dict[str, serializers.Field]:
    # Fresh fields per serializer: a serializer class takes its fields out of the dict.
    return {
        "code": serializers.CharField(),
        "message": serializers.CharField(),
        "fields": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
    }


ErrorOut = inline_serializer(
    "PayoutsError",
    fields={"error": inline_serializer("PayoutsErrorDetail", fields=_error_fields())},
)

PriceChangedOut = inline_serializer(
    "PriceChangedError",
    fields={
        "error": inline_serializer(
            "PriceChangedErrorDetail",
            fields={
                **_error_fields(),
                "price": inline_serializer(
                    "CurrentPrice",
                    fields={
                        "amount": serializers.IntegerField(),
                        "currency": serializers.CharField(),
                    },
                    required=False,
                    help_text="`price_changed` only: the current price.",
                ),
            },
        )
    },
)


def purchase_errors() -> dict[int, Any]:
    """The error answers of a purchase (ticket buy, club subscribe)."""
    return {
        400: OpenApiResponse(ErrorOut, description="Invalid input (`invalid`, with `fields`)."),
        402: OpenApiResponse(ErrorOut, description="`payment_method_required` or `card_declined`."),
        403: OpenApiResponse(ErrorOut, description="Not allowed (blocked, not a member...)."),
        404: OpenApiResponse(ErrorOut, description="Nothing to buy here."),
        409: OpenApiResponse(
            PriceChangedOut,
            description="`price_changed`: the current price (`price`) is not the one sent; "
            "show it and ask the buyer to confirm again. Other conflicts have the same shape "
            "without `price`.",
        ),
        502: OpenApiResponse(ErrorOut, description="The payment provider refused the request."),
        503: OpenApiResponse(
            ErrorOut, description="The payment provider did not answer; try again shortly."
        ),
    }
