"""Every read about tickets, including the gate rooms calls at join (rooms/tickets_bridge.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Count, Q, QuerySet, Sum

from clubhouse.errors import ApplicationError, PermissionDenied
from payouts.models import Ticket, TicketPrice
from rooms import schedule_selectors as event_selectors

if TYPE_CHECKING:
    from rooms.models import Room, ScheduledEvent


def event_price(event: ScheduledEvent | int) -> TicketPrice | None:
    event_id = getattr(event, "pk", event)
    return TicketPrice.objects.select_related("creator").filter(event_id=event_id).first()


def room_own_price(room: Room | int) -> TicketPrice | None:
    room_id: Any = room if isinstance(room, int) else room.pk
    return TicketPrice.objects.select_related("creator").filter(room_id=room_id).first()


def event_price_of_room(room: Room) -> TicketPrice | None:
    """The price of the scheduled event `room` was started from, if it was priced."""
    return (
        TicketPrice.objects.select_related("creator")
        .filter(event__room=room)
        .order_by("event_id")
        .first()
    )


def room_entry_price(room: Room) -> TicketPrice | None:
    """The price of entering `room`: its own, or that of the scheduled event it was started
    from (a ticket for the event admits to its room). None for a free room."""
    own = room_own_price(room)
    if own is not None:
        return own
    return event_price_of_room(room)


def room_free_entry(user: Any, room: Room, price: TicketPrice) -> bool:
    """Who enters a priced room without a ticket: staff, the room's creator, whoever is paid
    for it, and the hosts of the event it was started from (they join as moderators).
    People already in the room (its moderators and speakers) never meet the gate."""
    if getattr(user, "is_staff", False):
        return True
    if user.pk in {room.created_by_id, price.creator_id}:
        return True
    return event_selectors.event_hosts_room(user=user, room=room)


def ticket_entry_denial(user: Any, room: Room) -> ApplicationError | None:
    """Why `user` (not yet in `room`) may not enter it for want of a ticket, or None.

    A priced room (its own price, or the price of the event it was started from) admits ticket
    holders, its creator, whoever is paid for it, the event's hosts and staff. The error carries
    the price so clients can offer to buy: in `fields` (strings, also on the socket's `error`
    frame) and, over REST, as a `ticket` object.
    """
    price = room_entry_price(room)
    if price is None:
        return None
    if room_free_entry(user, room, price):
        return None
    if ticket_holder(user, room):
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


def _paid(user: Any) -> QuerySet[Ticket]:
    return Ticket.objects.filter(buyer_id=user.pk, status__in=Ticket.ADMITTING)


def ticket_holder(user: Any, room_or_event: Room | ScheduledEvent) -> bool:
    """Does `user` hold a paid, unrefunded ticket admitting to this room or event? For a room,
    a ticket for the room itself or for the event it was started from counts."""
    if not getattr(user, "pk", None):
        return False
    if event_selectors.is_event(room_or_event):
        return _paid(user).filter(event=room_or_event).exists()
    return _paid(user).filter(Q(room=room_or_event) | Q(event__room=room_or_event)).exists()


def ticket_for(user: Any, target_key: str) -> Ticket | None:
    return Ticket.objects.filter(buyer_id=user.pk, target_key=target_key).first()


def tickets_of_buyer(user: Any) -> QuerySet[Ticket]:
    return Ticket.objects.filter(buyer_id=user.pk).select_related("creator").order_by("-created")


def tickets_sold_by(creator: Any) -> QuerySet[Ticket]:
    return Ticket.objects.filter(creator_id=creator.pk).select_related("buyer").order_by("-created")


def ticket_sales_totals(creator: Any) -> list[dict[str, Any]]:
    """Per currency: tickets paid, and what the creator keeps (refunded tickets excluded)."""
    rows = (
        Ticket.objects.filter(creator_id=creator.pk, status=Ticket.Status.PAID)
        .values("currency")
        .annotate(tickets=Count("id"), gross=Sum("amount"), platform_fee=Sum("application_fee"))
        .order_by("currency")
    )
    return [
        {
            "currency": r["currency"],
            "tickets": int(r["tickets"]),
            "gross": int(r["gross"] or 0),
            "platform_fee": int(r["platform_fee"] or 0),
            "net": int((r["gross"] or 0) - (r["platform_fee"] or 0)),
        }
        for r in rows
    ]
