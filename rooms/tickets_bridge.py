"""The one place rooms asks about tickets: who may enter a priced room, and what happens to
tickets when an event is cancelled. Rooms itself knows nothing about money.

payouts sits above rooms (it sells tickets for rooms and events and reads their rows), so rooms
does not import it: payouts registers its ticket desk at start-up (`PayoutsConfig.ready()`
calls `register`). Nothing registered is a start-up mistake, never "no room is priced": every
call then raises `TicketDeskNotRegistered`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from clubhouse.errors import ApplicationError
from rooms.models import Room, ScheduledEvent


class TicketEntryDenial(Protocol):
    """Why `user` (not yet in `room`) may not enter it for want of a ticket, or None. The error
    carries the price so clients can offer to buy."""

    def __call__(self, user: Any, room: Room) -> ApplicationError | None: ...


class EventTicketsCancel(Protocol):
    """The event is being cancelled (caller holds its lock, inside its transaction): its
    tickets are refunded once that transaction commits."""

    def __call__(self, *, event_id: int, actor: Any = None) -> object: ...


@dataclass(frozen=True)
class TicketDesk:
    entry_denial: TicketEntryDenial
    event_cancelled: EventTicketsCancel


class TicketDeskNotRegistered(RuntimeError):
    pass


_registered: TicketDesk | None = None


def register(desk: TicketDesk) -> None:
    """Called by `PayoutsConfig.ready()`; registering again replaces (ready() may run twice)."""
    global _registered
    _registered = desk


def _desk() -> TicketDesk:
    if _registered is None:
        raise TicketDeskNotRegistered(
            "No ticket desk is registered with rooms: `PayoutsConfig.ready()` registers it "
            "(is `payouts` in INSTALLED_APPS?)."
        )
    return _registered


def ticket_entry_denial(user: Any, room: Room) -> ApplicationError | None:
    """Why `user` (not yet in `room`) may not enter it for want of a ticket, or None
    (payouts' `ticket_selectors.ticket_entry_denial`)."""
    return _desk().entry_denial(user, room)


def event_cancelled(event: ScheduledEvent, *, by: Any = None) -> None:
    """The event is being cancelled (caller holds its lock, inside its transaction): its
    tickets are refunded once that transaction commits."""
    _desk().event_cancelled(event_id=event.pk, actor=by)
