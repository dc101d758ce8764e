"""A double tap on a money POST (two identical requests at the same moment, each carrying the
card, on PostgreSQL with real concurrent transactions) never charges twice: what is bought is
the key (one ticket per buyer and event, one live subscription per member and club)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from clubhouse.money import Money
from payouts.models import ClubSubscription, Journal, Ticket
from payouts.provider.standin import STANDIN
from payouts.services import tickets
from tests.rooms.factories import EventFactory

from .conftest import make_creator, make_user
from .test_memberships import member_of, paid_club

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def double_tap(user: Any, url: str, body: dict[str, Any]) -> list[Any]:
    barrier = threading.Barrier(2)
    answers: list[Any] = []

    def tap() -> None:
        client = APIClient()
        client.force_authenticate(user)
        try:
            barrier.wait(timeout=30)
            answers.append(client.post(url, body, format="json"))
        finally:
            connection.close()

    threads = [threading.Thread(target=tap) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers


def test_a_double_tap_on_buy_ticket_charges_once() -> None:
    creator = make_creator()
    event = EventFactory(created_by=creator)
    tickets.ticket_price_set(user=creator, event_id=event.pk, price=Money(1500, "USD"))
    buyer = make_user()

    answers = double_tap(
        buyer,
        f"/api/v1/payouts/events/{event.pk}/ticket/",
        {"amount": 1500, "currency": "USD", "payment_method": "pm_card_visa"},
    )

    assert sorted(a.status_code for a in answers) in ([200, 201], [201, 201]), answers
    assert len({a.json()["uuid"] for a in answers}) == 1
    assert all(a.json()["status"] in {"pending", "paid"} for a in answers)
    assert Ticket.objects.get(buyer=buyer).status == Ticket.Status.PAID
    assert len(STANDIN.all("payment_intents")) == 1
    assert len(STANDIN.all("charges")) == 1
    assert Journal.objects.filter(kind=Journal.Kind.TICKET).count() == 1


def test_a_double_tap_on_subscribe_makes_one_paid_subscription() -> None:
    club = paid_club()
    user = member_of(club)

    answers = double_tap(
        user,
        f"/api/v1/payouts/clubs/{club.slug}/subscribe/",
        {"amount": 1000, "currency": "USD", "payment_method": "pm_card_visa"},
    )

    assert all(a.status_code in {200, 201} for a in answers), [a.json() for a in answers]
    assert len({a.json()["uuid"] for a in answers}) == 1
    assert all(a.json()["status"] in {"incomplete", "active"} for a in answers)
    assert [s.status for s in ClubSubscription.objects.filter(user=user)] == ["active"]
    assert len(STANDIN.all("subscriptions")) == 1
    assert Journal.objects.filter(kind=Journal.Kind.MEMBERSHIP).count() == 1
