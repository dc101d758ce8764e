"""A ticket that stops admitting takes its holder out of the ticketed room (issue #12, point
20): a refund (staff's, or one asked for when the event is cancelled) or a chargeback, while the
holder listens. The room sees them go, their socket leaves the room, and joining again asks for
a ticket. Someone whom something else admits (a host, the creator) stays.

Real room domain and payments (the Stripe stand-in) on PostgreSQL, the real channel layer:
embedded (in memory) and on Redis with two hubs standing for two web processes.
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from clubhouse.money import Money
from payouts.models import Ticket
from payouts.services import tickets
from rooms import schedule_services
from rooms.client import ProtocolError
from rooms.realtime.fanout import Hub
from tests.rooms import test_ban_realtime, test_consumers
from tests.rooms.factories import EventFactory, RoomFactory
from tests.rooms.test_consumers import connect, next_of_type
from tests.rooms.test_consumers_integration import role_of
from tests.rooms.test_realtime_support import eventually

from .conftest import make_creator, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

sockets = test_consumers.sockets
web = test_ban_realtime.web


@sync_to_async
def priced_room_with_holder(priced: str = "room") -> tuple[Any, Any, Ticket]:
    """A live room priced itself, or started from a priced event, and one ticket holder."""
    creator = make_creator()
    holder = make_user()
    if priced == "room":
        room = RoomFactory(created_by=creator)
        tickets.ticket_price_set(user=creator, room_id=room.pk, price=Money(1500, "USD"))
        ticket = tickets.ticket_buy(buyer=holder, room_id=room.pk, payment_method="pm_card_visa")
    else:
        event = EventFactory(created_by=creator, hosts=[creator])
        tickets.ticket_price_set(user=creator, event_id=event.pk, price=Money(2500, "USD"))
        ticket = tickets.ticket_buy(buyer=holder, event_id=event.pk, payment_method="pm_card_visa")
        room = schedule_services.event_start_room(user=creator, event_id=event.pk)
    assert ticket.status == Ticket.Status.PAID
    return room, holder, ticket


@sync_to_async
def refund_by_staff(ticket: Ticket) -> None:
    tickets.ticket_refund(ticket=ticket, actor=make_user(is_staff=True))
    assert Ticket.objects.get(pk=ticket.pk).status == Ticket.Status.REFUNDED


@sync_to_async
def charge_back(ticket: Ticket) -> None:
    ticket.refresh_from_db()
    tickets.ticket_mark_disputed(
        ticket=ticket, dispute_id="dp_realtime_1", charge_id=ticket.stripe_charge_id
    )
    assert Ticket.objects.get(pk=ticket.pk).status == Ticket.Status.DISPUTED


@pytest.mark.parametrize(
    ("loss", "priced"), [("refund", "room"), ("chargeback", "room"), ("refund", "event")]
)
async def test_a_ticket_that_stops_admitting_takes_its_holder_out_of_the_room(
    web: list[Hub], sockets: list, loss: str, priced: str
) -> None:
    room, holder, ticket = await priced_room_with_holder(priced)
    creator_client, _ = await connect(web[0], sockets, room.created_by)
    holder_client, _ = await connect(web[1], sockets, holder)
    await creator_client.join(room.pk)
    await holder_client.join(room.pk)

    await (refund_by_staff if loss == "refund" else charge_back)(ticket)

    told = await next_of_type(holder_client, "room.removed", timeout=10)
    assert told["data"] == {"reason": "ticket_refunded"}
    removed = await next_of_type(creator_client, "room.user_removed", timeout=10)
    assert removed["data"] == {
        "user_id": holder.pk,
        "by": None,
        "was_on_stage": False,
        "reason": "ticket_refunded",
    }
    assert await role_of(room, holder) is None
    for hub in web:
        await eventually(
            lambda h=hub: all(
                getattr(m, "user_id", None) != holder.pk for m in h.room_members(room.pk)
            )
        )
    with pytest.raises(ProtocolError) as refused:
        await holder_client.join(room.pk)
    assert refused.value.code == "ticket_required"


async def test_a_refund_of_someone_not_in_the_room_changes_nothing_there(
    web: list[Hub], sockets: list
) -> None:
    room, holder, ticket = await priced_room_with_holder()
    creator_client, _ = await connect(web[0], sockets, room.created_by)
    await creator_client.join(room.pk)

    await refund_by_staff(ticket)

    assert await role_of(room, holder) is None
    assert await role_of(room, room.created_by) == "moderator"
    assert "time" in await creator_client.request("ping")
    assert [
        e for e in creator_client.pending_events() if e.get("type") == "room.user_removed"
    ] == []
