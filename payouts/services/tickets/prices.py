"""Ticket prices: an approved, onboarded creator prices an event or a room."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction

from accounts.permissions import user_require_member
from clubhouse.errors import Conflict, InvalidInput, PermissionDenied
from clubhouse.money import Money
from payouts import conf, ticket_selectors
from payouts.audit import audit
from payouts.models import (
    Ticket,
    TicketPrice,
)
from payouts.services.tickets._common import (
    S,
    _is_event,
    _price_for,
    _require_creator_onboarded,
    _target,
    platform_fee,
)

if TYPE_CHECKING:
    from accounts.models import User

# --- prices -----------------------------------------------------------------------------------


def _validate_price(price: Money) -> None:
    if price.currency not in conf.ticket_currencies():
        raise InvalidInput(
            f"{price.currency} is not supported.",
            code="ticket_currency",
            fields={"currency": [f"One of: {', '.join(conf.ticket_currencies())}."]},
        )
    low, high = conf.ticket_price_min(), conf.ticket_price_max()
    if not low <= price.amount <= high:
        raise InvalidInput(
            f"A ticket costs between {low} and {high} minor units.",
            code="ticket_price_out_of_range",
            fields={"amount": [f"Between {low} and {high}."]},
        )


def ticket_price_set(
    *, user: User, price: Money, event_id: int | None = None, room_id: int | None = None
) -> TicketPrice:
    """An approved, onboarded creator prices their event (a host, before it starts) or their
    live room (its creator). The price cannot change once a ticket has been bought."""
    user_require_member(user)
    target = _target(event_id=event_id, room_id=room_id)
    if _is_event(target):
        if not target.hosts.filter(pk=user.pk).exists():
            raise PermissionDenied("Only the event's hosts can price it.", code="not_host")
        if target.room_id is not None:
            raise Conflict("This event has already started.", code="event_started")
    else:
        if target.created_by_id != user.pk:
            raise PermissionDenied("Only the room's creator can price it.", code="not_room_creator")
        if not target.is_live:
            raise Conflict("This room has ended.", code="room_ended")
        if ticket_selectors.event_price_of_room(target) is not None:
            raise Conflict(
                "This room was started from a ticketed event: its tickets admit.",
                code="room_priced_by_event",
            )
    _require_creator_onboarded(user)
    _validate_price(price)
    key = f"event:{target.pk}" if _is_event(target) else f"room:{target.pk}"
    lookup = {"event": target} if _is_event(target) else {"room": target}
    with transaction.atomic():
        existing = TicketPrice.objects.select_for_update().filter(**lookup).first()
        if existing is not None:
            unchanged = (existing.amount, existing.currency, existing.creator_id) == (
                price.amount, price.currency, user.pk,
            )  # fmt: skip
            if unchanged:
                return existing
            if Ticket.objects.filter(target_key=key).exclude(status=S.FAILED).exists():
                raise Conflict(
                    "Tickets have been bought: the price can no longer change.",
                    code="ticket_price_locked",
                )
            existing.amount, existing.currency, existing.creator = (
                price.amount, price.currency, user,
            )  # fmt: skip
            existing.save()
            audit(existing, "price_changed", actor=user, note=f"{price}")
            return existing
        created = TicketPrice.objects.create(
            creator=user, amount=price.amount, currency=price.currency, **lookup
        )
        audit(created, "price_set", actor=user, note=f"{price}")
    return created


def ticket_quote(
    *, user: User, event_id: int | None = None, room_id: int | None = None
) -> dict[str, Any]:
    target = _target(event_id=event_id, room_id=room_id)
    price = _price_for(target)
    ticket = ticket_selectors.ticket_for(user, price.target_key)
    return {
        "amount": price.amount,
        "currency": price.currency,
        "platform_fee": platform_fee(price.amount),
        "event_id": price.event_id,
        "room_id": price.room_id,
        "ticket": ticket,
    }
