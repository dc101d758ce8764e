"""The gate at room join: a priced room admits ticket holders, its creator, the event's hosts,
the people already on its stage, and staff. REST and the WebSocket both go through
rooms.services.room_join, so both refuse with `ticket_required` and the price."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse

from clubhouse.money import Money
from payouts.models import Ticket
from payouts.services import tickets
from rooms import schedule_services
from rooms import services as room_services
from rooms.client import ProtocolError
from rooms.models import RoomParticipant
from tests.rooms import test_consumers
from tests.rooms.factories import EventFactory, MemberFactory, RoomFactory
from tests.rooms.test_consumers import connect

from .conftest import make_creator, make_user

hubs = test_consumers.hubs
sockets = test_consumers.sockets


def _priced_room(amount: int = 1500) -> Any:
    creator = make_creator()
    room = RoomFactory(created_by=creator)
    tickets.ticket_price_set(user=creator, room_id=room.pk, price=Money(amount, "USD"))
    return room


def _priced_event_room(*, cohost: Any = None) -> tuple[Any, Any]:
    creator = make_creator()
    event = EventFactory(created_by=creator, hosts=[creator, *([cohost] if cohost else [])])
    tickets.ticket_price_set(user=creator, event_id=event.pk, price=Money(2500, "USD"))
    room = schedule_services.event_start_room(user=creator, event_id=event.pk)
    return event, room


def _join(api_client: Any, user: Any, room: Any) -> Any:
    api_client.force_authenticate(user)
    return api_client.post(reverse("api:room-join", kwargs={"room_id": room.pk}))


@pytest.mark.django_db
def test_rest_join_without_a_ticket_is_refused_with_the_price(api_client) -> None:
    room = _priced_room(1500)
    listener = make_user()
    response = _join(api_client, listener, room)
    assert response.status_code == 402
    error = response.json()["error"]
    assert error["code"] == "ticket_required"
    assert error["fields"] == {"amount": ["1500"], "currency": ["USD"], "room_id": [str(room.pk)]}
    assert error["ticket"] == {"amount": 1500, "currency": "USD", "room_id": room.pk}
    assert not RoomParticipant.objects.filter(room=room, user=listener).exists()


@pytest.mark.django_db
def test_rest_buy_then_join_admits_the_ticket_holder(api_client) -> None:
    room = _priced_room(1500)
    listener = make_user()
    api_client.force_authenticate(listener)
    quote = api_client.get(reverse("api:payouts-ticket", kwargs={"kind": "rooms", "pk": room.pk}))
    assert quote.json() | {"ticket": None} == {
        "amount": 1500, "currency": "USD", "platform_fee": 150, "event_id": None,
        "room_id": room.pk, "ticket": None,
    }  # fmt: skip
    bought = api_client.post(
        reverse("api:payouts-ticket", kwargs={"kind": "rooms", "pk": room.pk}),
        {"amount": 1500, "currency": "USD", "payment_method": "pm_card_visa"},
        format="json",
    )
    assert bought.status_code == 201
    assert bought.json()["status"] == "paid"
    response = _join(api_client, listener, room)
    assert response.status_code == 200
    assert response.json()["you"]["role"] == "listener"


@pytest.mark.django_db
def test_an_event_ticket_admits_to_the_room_started_from_it(api_client) -> None:
    event, room = _priced_event_room()
    listener = make_user()
    refused = _join(api_client, listener, room)
    assert refused.status_code == 402
    assert refused.json()["error"]["fields"]["event_id"] == [str(event.pk)]
    from payouts import selectors

    assert not selectors.ticket_holder(listener, event)
    tickets.ticket_buy(buyer=listener, event_id=event.pk, payment_method="pm_card_visa")
    assert selectors.ticket_holder(listener, event)
    assert selectors.ticket_holder(listener, room)
    assert _join(api_client, listener, room).status_code == 200


@pytest.mark.django_db
def test_hosts_the_creator_and_staff_enter_free_and_cohosts_join_as_moderators() -> None:
    cohost = make_user()
    _event, room = _priced_event_room(cohost=cohost)
    joined = room_services.room_join(user=cohost, room_id=room.pk)
    assert joined.role == RoomParticipant.Role.MODERATOR
    staff = make_user(is_staff=True)
    assert room_services.room_join(user=staff, room_id=room.pk).role == "listener"
    own = _priced_room()
    RoomParticipant.objects.filter(room=own, user=own.created_by).delete()  # stepped out
    assert room_services.room_join(user=own.created_by, room_id=own.pk).role == "listener"


@pytest.mark.django_db
def test_speakers_and_moderators_already_on_stage_keep_their_place() -> None:
    room = _priced_room()
    speaker = make_user()
    RoomParticipant.objects.create(room=room, user=speaker, role="speaker",
                                   stage_since=room.created)  # fmt: skip
    # A speaker the moderators brought on stage (e.g. reconnecting) is never asked to pay.
    assert room_services.room_join(user=speaker, room_id=room.pk).role == "speaker"


@pytest.mark.django_db
def test_a_refunded_ticket_no_longer_admits(api_client) -> None:
    room = _priced_room()
    listener = make_user()
    ticket = tickets.ticket_buy(buyer=listener, room_id=room.pk, payment_method="pm_card_visa")
    tickets.ticket_refund(ticket=ticket, actor=make_user(is_staff=True))
    assert Ticket.objects.get(pk=ticket.pk).status == "refunded"
    assert _join(api_client, listener, room).status_code == 402


@pytest.mark.django_db
def test_a_free_room_stays_free(api_client) -> None:
    room = RoomFactory(created_by=make_creator())
    assert _join(api_client, make_user(), room).status_code == 200


# --- over the WebSocket ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.redis
@pytest.mark.postgres
async def test_websocket_room_join_without_a_ticket_is_a_ticket_required_error(
    hubs: Callable[..., Any], sockets: list
) -> None:
    hub = await hubs()
    room = await sync_to_async(_priced_room)(1500)
    listener = await sync_to_async(MemberFactory)()
    client, _ = await connect(hub, sockets, listener)
    with pytest.raises(ProtocolError) as caught:
        await client.join(room.pk)
    assert caught.value.code == "ticket_required"
    assert caught.value.fields == {
        "amount": ["1500"], "currency": ["USD"], "room_id": [str(room.pk)],
    }  # fmt: skip
    assert list(hub.room_members(room.pk)) == []  # subscribed to nothing: the relay ignores them

    await sync_to_async(tickets.ticket_buy)(
        buyer=listener, room_id=room.pk, payment_method="pm_card_visa"
    )
    snapshot = await client.join(room.pk)
    assert snapshot["you"]["role"] == "listener"
