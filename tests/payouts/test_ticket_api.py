"""The ticket REST API and the staff back office for tickets."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from clubhouse.money import Money
from payouts.models import Journal, Ticket
from payouts.provider.standin import STANDIN, StandInError
from payouts.services import tickets
from tests.rooms.factories import EventFactory

from .conftest import make_creator, make_user

pytestmark = pytest.mark.django_db
SHOWN = {"amount": 1500, "currency": "USD"}  # the price the quote showed


def _url(name: str, **kwargs: Any) -> str:
    return reverse(f"api:{name}", kwargs=kwargs)


def test_a_creator_prices_an_event_over_rest(api_client) -> None:
    creator = make_creator()
    event = EventFactory(created_by=creator)
    api_client.force_authenticate(creator)
    url = _url("payouts-ticket-price", kind="events", pk=event.pk)
    response = api_client.put(url, {"amount": 1200, "currency": "usd"}, format="json")
    assert response.status_code == 200
    assert response.json() == {
        "event_id": event.pk, "room_id": None, "amount": 1200, "currency": "USD",
        "platform_fee": 120, "creator": creator.username,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"amount": 50, "currency": "USD"}, "ticket_price_out_of_range", "amount"),
        ({"amount": 1000, "currency": "XX"}, "invalid", "currency"),
        ({"amount": "lots"}, "invalid", "amount"),
    ],
)
def test_bad_prices_get_the_stable_error_shape(api_client, body, code, field) -> None:
    creator = make_creator()
    event = EventFactory(created_by=creator)
    api_client.force_authenticate(creator)
    response = api_client.put(
        _url("payouts-ticket-price", kind="events", pk=event.pk), body, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert field in error["fields"]


def test_a_member_who_is_not_a_creator_cannot_price(api_client) -> None:
    member = make_user()
    event = EventFactory(created_by=member)
    api_client.force_authenticate(member)
    response = api_client.put(
        _url("payouts-ticket-price", kind="events", pk=event.pk), {"amount": 1000}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "ticket_not_creator"


def test_buy_without_a_card_is_402_then_with_a_card_201_then_200(api_client) -> None:
    creator = make_creator()
    event = EventFactory(created_by=creator)
    tickets.ticket_price_set(user=creator, event_id=event.pk, price=Money(1500, "USD"))
    buyer = make_user()
    api_client.force_authenticate(buyer)
    url = _url("payouts-ticket", kind="events", pk=event.pk)
    response = api_client.post(url, SHOWN, format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (
        402, "payment_method_required",
    )  # fmt: skip
    first = api_client.post(url, {**SHOWN, "payment_method": "pm_card_visa"}, format="json")
    assert first.status_code == 201
    assert first.json()["status"] == "paid"
    second = api_client.post(url, SHOWN, format="json")
    assert second.status_code == 200
    assert second.json()["uuid"] == first.json()["uuid"]
    assert len(STANDIN.all("payment_intents")) == 1
    quote = api_client.get(url).json()
    assert quote["ticket"]["uuid"] == first.json()["uuid"]


def test_3ds_purchase_answers_the_client_secret(api_client) -> None:
    creator = make_creator()
    event = EventFactory(created_by=creator)
    tickets.ticket_price_set(user=creator, event_id=event.pk, price=Money(1500, "USD"))
    api_client.force_authenticate(make_user())
    response = api_client.post(
        _url("payouts-ticket", kind="events", pk=event.pk),
        {**SHOWN, "payment_method": "pm_card_threeDSecure2Required"},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "requires_action"
    assert body["client_secret"].startswith("pi_")


def test_unknown_targets_are_404s(api_client) -> None:
    api_client.force_authenticate(make_user())
    response = api_client.get(_url("payouts-ticket", kind="events", pk=999_999))
    assert (response.status_code, response.json()["error"]["code"]) == (404, "event_not_found")
    free = EventFactory(created_by=make_creator())
    response = api_client.get(_url("payouts-ticket", kind="events", pk=free.pk))
    assert (response.status_code, response.json()["error"]["code"]) == (404, "ticket_not_for_sale")
    assert api_client.get("/api/v1/payouts/clubs/1/ticket/").status_code == 404


def test_my_tickets_and_the_creators_sales(api_client, django_assert_max_num_queries) -> None:
    creator = make_creator()
    events = [EventFactory(created_by=creator) for _ in range(3)]
    buyer = make_user()
    for event in events:
        tickets.ticket_price_set(user=creator, event_id=event.pk, price=Money(1000, "USD"))
        tickets.ticket_buy(buyer=buyer, event_id=event.pk, payment_method="pm_card_visa")
    tickets.ticket_refund(ticket=Ticket.objects.filter(buyer=buyer).first(),  # type: ignore[arg-type]
                          actor=make_user(is_staff=True))  # fmt: skip
    api_client.force_authenticate(buyer)
    with django_assert_max_num_queries(6):
        mine = api_client.get(_url("payouts-my-tickets")).json()["results"]
    assert sorted(t["status"] for t in mine) == ["paid", "paid", "refunded"]
    one = api_client.get(_url("payouts-my-ticket", uuid=mine[0]["uuid"]))
    assert one.status_code == 200
    api_client.force_authenticate(make_user())
    assert api_client.get(_url("payouts-my-ticket", uuid=mine[0]["uuid"])).status_code == 404
    api_client.force_authenticate(creator)
    with django_assert_max_num_queries(7):
        sales = api_client.get(_url("payouts-ticket-sales")).json()
    assert sales["totals"] == [
        {"currency": "USD", "tickets": 2, "gross": 2000, "platform_fee": 200, "net": 1800}
    ]
    assert {s["buyer"] for s in sales["results"]} == {buyer.username}
    assert len(sales["results"]) == 3


# --- admin ------------------------------------------------------------------------------------


@pytest.fixture
def staff_client(client):
    client.force_login(make_user(is_staff=True, is_superuser=True))
    return client


def test_admin_lists_tickets_with_their_state_and_retries_a_failed_refund(staff_client) -> None:
    creator = make_creator()
    event = EventFactory(created_by=creator)
    tickets.ticket_price_set(user=creator, event_id=event.pk, price=Money(1500, "USD"))
    ticket = tickets.ticket_buy(buyer=make_user(), event_id=event.pk,
                                payment_method="pm_card_visa")  # fmt: skip
    STANDIN.fail_next.append(StandInError(400, "invalid_request_error", "Try again later."))
    staff_client.post("/admin/payouts/ticket/", {"action": "refund", "apply": "1", "reason": "x",
                                                  "_selected_action": [ticket.pk]})  # fmt: skip
    ticket.refresh_from_db()
    assert ticket.status == "refund_failed"
    page = staff_client.get("/admin/payouts/ticket/?status=refund_failed")
    assert page.status_code == 200
    assert str(ticket.uuid).encode() in page.content
    assert b"Try again later." in page.content
    staff_client.post("/admin/payouts/ticket/", {"action": "refund", "apply": "1", "reason": "x",
                                                  "_selected_action": [ticket.pk]})  # fmt: skip
    ticket.refresh_from_db()
    assert ticket.status == "refunded"
    assert Journal.objects.filter(kind=Journal.Kind.TICKET_REFUND).count() == 1
    assert staff_client.get("/admin/payouts/ticketprice/").status_code == 200
    assert staff_client.get(f"/admin/payouts/ticket/{ticket.pk}/change/").status_code == 200
