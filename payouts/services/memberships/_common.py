"""Shared by the paid-club services: Stripe's statuses and how they map to premium access."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from clubhouse.errors import ApplicationError
from payouts.models import ClubSubscription

S = ClubSubscription.Status
FINAL = {S.CANCELED, S.INCOMPLETE_EXPIRED}

# Stripe's subscription status -> the premium status clubs understand. `unpaid` (retries
# exhausted, invoices left open) and `paused` lapse access like an expiry; `incomplete` grants
# nothing yet and is not synced.
PREMIUM_STATUS: dict[str, str] = {
    S.ACTIVE: "active",
    S.TRIALING: "active",
    S.PAST_DUE: "past_due",
    S.UNPAID: "expired",
    S.PAUSED: "expired",
    S.INCOMPLETE_EXPIRED: "expired",
    S.CANCELED: "canceled",
}


class ClubPlanError(ApplicationError):
    code = "club_plan_invalid"
    status = 409


def _ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def _period(data: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    """Since API version 2025-03-31 the period lives on the subscription item."""
    items = ((data.get("items") or {}).get("data")) or []
    source = items[0] if items and items[0].get("current_period_end") else data
    return _ts(source.get("current_period_start")), _ts(source.get("current_period_end"))


S_LIVE = list(ClubSubscription.LIVE)
