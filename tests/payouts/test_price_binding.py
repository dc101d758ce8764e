"""A purchase binds the price its buyer was shown: the client sends it, and a price changed
between the quote and the purchase is a 409 `price_changed` carrying the new price; nothing is
charged until the buyer confirms the new price."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection, transaction

from clubhouse.errors import ApplicationError
from clubhouse.money import Money
from payouts import services
from payouts.models import ClubSubscription, Ticket
from payouts.provider import CardDeclined
from payouts.provider.standin import STANDIN
from payouts.services import tickets
from tests.rooms.factories import EventFactory

from .conftest import make_creator, make_user
from .test_memberships import member_of, paid_club

pytestmark = pytest.mark.django_db


def priced_event(amount: int = 1500) -> Any:
    creator = make_creator()
    event = EventFactory(created_by=creator)
    tickets.ticket_price_set(user=creator, event_id=event.pk, price=Money(amount, "USD"))
    return event


def test_buying_a_ticket_requires_the_price_shown(api_client) -> None:
    event = priced_event()
    api_client.force_authenticate(make_user())
    response = api_client.post(
        f"/api/v1/payouts/events/{event.pk}/ticket/", {"payment_method": "pm_card_visa"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert {"amount", "currency"} <= set(error["fields"])
    assert not STANDIN.all("payment_intents")


def test_a_ticket_price_raised_after_the_quote_is_a_409_with_the_new_price(api_client) -> None:
    event = priced_event(1500)
    api_client.force_authenticate(make_user())
    url = f"/api/v1/payouts/events/{event.pk}/ticket/"
    quote = api_client.get(url).json()
    assert (quote["amount"], quote["currency"]) == (1500, "USD")
    tickets.ticket_price_set(user=event.created_by, event_id=event.pk, price=Money(2500, "USD"))

    shown = {"amount": quote["amount"], "currency": quote["currency"]}
    refused = api_client.post(url, {**shown, "payment_method": "pm_card_visa"}, format="json")

    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "price_changed"
    assert error["price"] == {"amount": 2500, "currency": "USD"}
    assert "25.00 USD" in error["message"]
    assert not STANDIN.all("payment_intents")
    assert not Ticket.objects.exists()
    # The buyer confirms the new price.
    bought = api_client.post(
        url, {**error["price"], "payment_method": "pm_card_visa"}, format="json"
    )
    assert bought.status_code == 201
    assert (bought.json()["status"], bought.json()["amount"]) == ("paid", 2500)
    assert [pi["amount"] for pi in STANDIN.all("payment_intents")] == [2500]


def test_a_retry_after_a_decline_is_at_the_current_price_and_only_once_confirmed() -> None:
    event = priced_event(1500)
    buyer = make_user()
    with pytest.raises(CardDeclined):
        tickets.ticket_buy(
            buyer=buyer, event_id=event.pk, payment_method="pm_card_chargeDeclined",
            shown_price=Money(1500, "USD"),
        )  # fmt: skip
    # Only a failed ticket exists, so the creator may still change the price.
    tickets.ticket_price_set(user=event.created_by, event_id=event.pk, price=Money(2000, "USD"))
    with pytest.raises(ApplicationError) as caught:
        tickets.ticket_buy(
            buyer=buyer, event_id=event.pk, payment_method="pm_card_visa",
            shown_price=Money(1500, "USD"),
        )  # fmt: skip
    assert caught.value.code == "price_changed"
    paid = tickets.ticket_buy(
        buyer=buyer, event_id=event.pk, payment_method="pm_card_visa",
        shown_price=Money(2000, "USD"),
    )  # fmt: skip
    assert (paid.status, paid.amount, paid.application_fee) == (Ticket.Status.PAID, 2000, 200)
    assert [pi["amount"] for pi in STANDIN.all("payment_intents")] == [1500, 2000]


def test_a_club_price_raised_after_the_quote_is_a_409_with_the_new_price(api_client) -> None:
    club = paid_club()  # 10.00 USD a month
    api_client.force_authenticate(member_of(club))
    plan = api_client.get(f"/api/v1/payouts/clubs/{club.slug}/plan/").json()
    services.club_plan_set(club=club, actor=club.created_by, price=Money(1500, "USD"))
    url = f"/api/v1/payouts/clubs/{club.slug}/subscribe/"
    shown = {"amount": plan["amount"], "currency": plan["currency"]}

    refused = api_client.post(url, {**shown, "payment_method": "pm_card_visa"}, format="json")

    assert refused.status_code == 409
    error = refused.json()["error"]
    assert (error["code"], error["price"]) == ("price_changed", {"amount": 1500, "currency": "USD"})
    assert not ClubSubscription.objects.exists()
    assert not STANDIN.all("subscriptions")
    subscribed = api_client.post(
        url, {**error["price"], "payment_method": "pm_card_visa"}, format="json"
    )
    assert subscribed.status_code == 201
    assert (subscribed.json()["status"], subscribed.json()["amount"]) == ("active", 1500)


def test_subscribing_requires_the_price_shown(api_client) -> None:
    club = paid_club()
    api_client.force_authenticate(member_of(club))
    response = api_client.post(
        f"/api/v1/payouts/clubs/{club.slug}/subscribe/", {"amount": 1000}, format="json"
    )
    assert response.status_code == 400
    assert "currency" in response.json()["error"]["fields"]
    assert not ClubSubscription.objects.exists()


def _waiting_on_a_lock(timeout: float = 30) -> bool:
    """Whether another session of this database waits on a row lock (polled, generous)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            # Statistics are a snapshot per transaction (this runs inside one): read afresh.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return True
        time.sleep(0.05)
    return False


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_buy_racing_a_price_change_never_sells_at_the_old_price() -> None:
    """The creator's price change is committing while a buyer who saw the old price buys: the
    sale waits for it and is refused, instead of selling at a price that no longer exists."""
    event = priced_event(1500)
    buyer = make_user()
    services.payment_method_save(user=buyer, payment_method="pm_card_visa")
    results: list[Any] = []

    def buy() -> None:
        try:
            results.append(
                tickets.ticket_buy(buyer=buyer, event_id=event.pk, shown_price=Money(1500, "USD"))
            )
        except ApplicationError as exc:
            results.append(exc.code)
        finally:
            connection.close()

    with transaction.atomic():
        tickets.ticket_price_set(user=event.created_by, event_id=event.pk, price=Money(2500, "USD"))
        buyer_thread = threading.Thread(target=buy)
        buyer_thread.start()
        waited = _waiting_on_a_lock()
        assert waited  # the sale waits for the price change to commit
    buyer_thread.join(60)

    assert results == ["price_changed"]
    assert not Ticket.objects.exists()
    assert not STANDIN.all("payment_intents")
