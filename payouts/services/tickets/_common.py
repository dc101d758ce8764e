"""What the ticket services share: targets, the platform's cut, the move to
`refund_pending` (also taken by a payment that succeeds after its event was cancelled)."""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from clubhouse.errors import InvalidInput, NotFound, PermissionDenied
from payouts import conf, fees, ticket_selectors
from payouts.audit import audit, require_transition
from payouts.jobs import job_enqueue
from payouts.models import (
    ConnectedAccount,
    CreatorProgram,
    Ticket,
    TicketPrice,
)
from rooms import schedule_selectors as event_selectors
from rooms import selectors as room_selectors
from rooms import services as room_services

if TYPE_CHECKING:
    from typing_extensions import TypeIs

    from accounts.models import User
    from rooms.models import Room, ScheduledEvent

logger = logging.getLogger("payouts.services.tickets")
S = Ticket.Status


class TicketNotAllowed(PermissionDenied):
    code = "ticket_not_allowed"


# --- targets ----------------------------------------------------------------------------------


def _target(*, event_id: int | None, room_id: int | None) -> ScheduledEvent | Room:
    if (event_id is None) == (room_id is None):
        raise InvalidInput("Give an event or a room.", fields={"target": ["event_id or room_id"]})
    if event_id is not None:
        event = event_selectors.event_find(event_id)
        if event is None:
            raise NotFound("No such event.", code="event_not_found")
        return event
    room = room_selectors.room_find(int(room_id or 0))
    if room is None:
        raise NotFound("No such room.", code="room_not_found")
    return room


def _is_event(target: ScheduledEvent | Room) -> TypeIs[ScheduledEvent]:
    return event_selectors.is_event(target)


def _price_for(target: ScheduledEvent | Room) -> TicketPrice:
    if _is_event(target):
        price = ticket_selectors.event_price(target)
    else:
        price = ticket_selectors.room_entry_price(target)
    if price is None:
        raise NotFound("This is free: there is no ticket to buy.", code="ticket_not_for_sale")
    return price


def _require_creator_onboarded(user: User) -> ConnectedAccount:
    program = CreatorProgram.objects.filter(user=user, active=True).first()
    if program is None:
        raise TicketNotAllowed(
            "Only creators in the creator program can sell tickets.", code="ticket_not_creator"
        )
    account = ConnectedAccount.objects.filter(user=user).first()
    if account is None or not account.transfers_active:
        raise TicketNotAllowed(
            "Finish setting up payouts before selling tickets.",
            code="ticket_creator_not_onboarded",
        )
    return account


def platform_fee(amount: int) -> int:
    return fees.percent_of(amount, conf.ticket_platform_fee_bps())


def _to_refund_pending(
    ticket: Ticket, *, reason: str, actor: Any = None, staff_reason: str = ""
) -> None:
    """Caller holds the ticket lock."""
    previous = ticket.status
    require_transition(ticket, S.REFUND_PENDING)
    ticket.status = S.REFUND_PENDING
    ticket.refund_reason = reason[:32]
    ticket.refund_requested_at = ticket.refund_requested_at or timezone.now()
    ticket.save(update_fields=["status", "refund_reason", "refund_requested_at", "updated"])
    if previous in Ticket.ADMITTING:
        admission_lost_on_commit(ticket)
    audit(ticket, "refund_requested", from_status=previous, to_status=ticket.status, actor=actor,
          note=reason, reason=staff_reason)  # fmt: skip


def _refund_on_commit(ticket_ids: list[int]) -> None:
    if not ticket_ids:
        return

    def enqueue() -> None:
        for ticket_id in ticket_ids:
            job_enqueue("ticket_refund", ticket_id)

    transaction.on_commit(enqueue)


def admission_lost_on_commit(ticket: Ticket) -> None:
    """The ticket stopped admitting (refund requested or made, charged back): once the caller's
    transaction commits, its holder leaves the ticketed room if they are in it
    (`rooms.services.room_ticket_lost`: sockets leave, the relay drops their audio). A failure
    there is logged, never undoes the money side (`robust`). The room is looked up now: a
    cancelled event is deleted in the same transaction."""
    room_id = ticket.room_id
    if room_id is None and ticket.event_id is not None:
        room_id = event_selectors.event_room_id(ticket.event_id)
    if room_id is None:
        return  # the event has not started: there is no room to leave
    transaction.on_commit(
        partial(room_services.room_ticket_lost, user_id=ticket.buyer_id, room_id=room_id),
        robust=True,
    )
