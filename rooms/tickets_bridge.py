"""The one place rooms asks payouts about tickets: who may enter a priced room, and what
happens to tickets when an event is cancelled. Rooms itself knows nothing about money."""

from __future__ import annotations

from typing import Any

from clubhouse.errors import ApplicationError, PermissionDenied
from rooms.models import Room, ScheduledEvent


def ticket_entry_denial(user: Any, room: Room) -> ApplicationError | None:
    """Why `user` (not yet in `room`) may not enter it for want of a ticket, or None.

    A priced room (its own price, or the price of the event it was started from) admits ticket
    holders, its creator, whoever is paid for it, the event's hosts and staff. The error carries
    the price so clients can offer to buy: in `fields` (strings, also on the socket's `error`
    frame) and, over REST, as a `ticket` object.
    """
    from payouts import ticket_selectors

    price = ticket_selectors.room_entry_price(room)
    if price is None:
        return None
    if ticket_selectors.room_free_entry(user, room, price):
        return None
    if ticket_selectors.ticket_holder(user, room):
        return None
    target = {"event_id": price.event_id} if price.event_id else {"room_id": price.room_id}
    fields = {"amount": [str(price.amount)], "currency": [price.currency]}
    fields.update({k: [str(v)] for k, v in target.items()})
    return PermissionDenied(
        "This room needs a ticket.",
        code="ticket_required",
        status=402,
        fields=fields,
        extra={"ticket": {"amount": price.amount, "currency": price.currency, **target}},
    )


def event_cancelled(event: ScheduledEvent, *, by: Any = None) -> None:
    """The event is being cancelled (caller holds its lock, inside its transaction): its
    tickets are refunded once that transaction commits."""
    from payouts.services.tickets import tickets_cancel_for_event

    tickets_cancel_for_event(event_id=event.pk, actor=by)
