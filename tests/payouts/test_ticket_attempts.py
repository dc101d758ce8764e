"""A ticket's payment attempts: webhooks are matched to the exact attempt (payment intent), and
a retry cancels the previous attempt's payment intent, so a card is never charged twice."""

from __future__ import annotations

from typing import Any

import pytest

from clubhouse.money import Money
from payouts.models import AuditEntry, Journal, Ticket
from payouts.provider import CardDeclined
from payouts.provider.standin import STANDIN
from payouts.services import tickets
from payouts.services.cards import payment_method_save
from tests.rooms.factories import EventFactory

from .conftest import make_creator, make_user, post_event

pytestmark = pytest.mark.django_db
S = Ticket.Status
THREE_DS = "pm_card_threeDSecure2Required"


def priced_event(amount: int = 1500) -> Any:
    creator = make_creator()
    event = EventFactory(created_by=creator)
    tickets.ticket_price_set(user=creator, event_id=event.pk, price=Money(amount, "USD"))
    return event


def intent(pi_id: str) -> dict[str, Any]:
    return STANDIN.get("payment_intents", pi_id)


def charges() -> list[dict[str, Any]]:
    return STANDIN.all("charges")


def test_a_late_failure_of_the_first_attempt_does_not_fail_the_second(
    client, webhook_endpoint
) -> None:
    event = priced_event()
    buyer = make_user()
    first = tickets.ticket_buy(buyer=buyer, event_id=event.pk, payment_method=THREE_DS)
    failed_first = STANDIN.complete_3ds(first.stripe_payment_intent_id, success=False)
    # The buyer comes back before the failure's webhook: asking again sees the failure...
    assert tickets.ticket_buy(buyer=buyer, event_id=event.pk).status == S.FAILED
    # ...and buying again is attempt 2, waiting for its own 3-D Secure.
    second = tickets.ticket_buy(buyer=buyer, event_id=event.pk, payment_method=THREE_DS)
    assert (second.status, second.attempt) == (S.REQUIRES_ACTION, 2)
    assert second.stripe_payment_intent_id != first.stripe_payment_intent_id

    assert post_event(client, webhook_endpoint, failed_first).status_code == 200

    second.refresh_from_db()
    assert (second.status, second.attempt) == (S.REQUIRES_ACTION, 2)
    assert AuditEntry.objects.filter(
        subject_id=str(second.pk), action="stale_attempt_event"
    ).exists()
    # Asking again gives attempt 2's secret back; no third payment intent.
    again = tickets.ticket_buy(buyer=buyer, event_id=event.pk)
    assert again.client_secret == intent(second.stripe_payment_intent_id)["client_secret"]
    assert len(STANDIN.all("payment_intents")) == 2
    succeeded = STANDIN.complete_3ds(second.stripe_payment_intent_id)
    assert post_event(client, webhook_endpoint, succeeded).status_code == 200
    second.refresh_from_db()
    assert second.status == S.PAID
    assert len(charges()) == 1
    assert Journal.objects.filter(kind=Journal.Kind.TICKET).count() == 1


def test_a_late_success_event_of_a_canceled_attempt_changes_nothing(
    client, webhook_endpoint
) -> None:
    event = priced_event()
    buyer = make_user()
    with pytest.raises(CardDeclined):
        tickets.ticket_buy(buyer=buyer, event_id=event.pk, payment_method="pm_card_chargeDeclined")
    declined = Ticket.objects.get(buyer=buyer)
    assert declined.stripe_payment_intent_id  # the declined attempt is known...
    second = tickets.ticket_buy(buyer=buyer, event_id=event.pk, payment_method=THREE_DS)
    # ...and was canceled before attempt 2 began: nothing can confirm it any more.
    assert intent(declined.stripe_payment_intent_id)["status"] == "canceled"
    assert second.status == S.REQUIRES_ACTION
    stale = {
        "id": "evt_stale_success",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": 1,
        "api_version": "2025-03-31.basil",
        "livemode": False,
        "data": {"object": {**intent(declined.stripe_payment_intent_id), "status": "succeeded"}},
    }
    assert post_event(client, webhook_endpoint, stale).status_code == 200
    second.refresh_from_db()
    assert (second.status, second.stripe_payment_intent_id) == (
        S.REQUIRES_ACTION,
        STANDIN.all("payment_intents")[-1]["id"],
    )
    assert not Journal.objects.filter(kind=Journal.Kind.TICKET).exists()


def test_a_retry_cancels_the_previous_payment_intent_before_charging_again() -> None:
    event = priced_event()
    buyer = make_user()
    first = tickets.ticket_buy(buyer=buyer, event_id=event.pk, payment_method=THREE_DS)
    STANDIN.complete_3ds(first.stripe_payment_intent_id, success=False)
    assert tickets.ticket_buy(buyer=buyer, event_id=event.pk).status == S.FAILED
    paid = tickets.ticket_buy(buyer=buyer, event_id=event.pk, payment_method="pm_card_visa")
    assert (paid.status, paid.attempt) == (S.PAID, 2)
    assert intent(first.stripe_payment_intent_id)["status"] == "canceled"
    # The buyer's browser retrying 3-D Secure on the old intent can no longer charge the card.
    with pytest.raises(Exception, match="canceled"):
        STANDIN.complete_3ds(first.stripe_payment_intent_id)
    assert len(charges()) == 1


def test_when_the_previous_attempt_succeeded_after_all_the_retry_charges_nothing(
    client, webhook_endpoint
) -> None:
    event = priced_event()
    buyer = make_user()
    first = tickets.ticket_buy(buyer=buyer, event_id=event.pk, payment_method=THREE_DS)
    STANDIN.complete_3ds(first.stripe_payment_intent_id, success=False)
    assert tickets.ticket_buy(buyer=buyer, event_id=event.pk).status == S.FAILED
    # The browser retried 3-D Secure on attempt 1 and it went through; its webhook is late.
    succeeded = STANDIN.complete_3ds(first.stripe_payment_intent_id)
    ticket = tickets.ticket_buy(buyer=buyer, event_id=event.pk, payment_method="pm_card_visa")
    assert (ticket.status, ticket.attempt) == (S.PAID, 1)
    assert ticket.stripe_payment_intent_id == first.stripe_payment_intent_id
    assert len(STANDIN.all("payment_intents")) == 1
    assert post_event(client, webhook_endpoint, succeeded).status_code == 200
    ticket.refresh_from_db()
    assert ticket.status == S.PAID
    assert len(charges()) == 1
    assert Journal.objects.filter(kind=Journal.Kind.TICKET).count() == 1


def test_an_unanswered_cancel_starts_no_new_attempt() -> None:
    from payouts.provider import ProviderUnavailable
    from payouts.provider.standin import StandInError

    event = priced_event()
    buyer = make_user()
    with pytest.raises(CardDeclined):
        tickets.ticket_buy(buyer=buyer, event_id=event.pk, payment_method="pm_card_chargeDeclined")
    payment_method_save(user=buyer, payment_method="pm_card_visa")
    STANDIN.fail_next = [StandInError(500, "api_error", "boom") for _ in range(3)]  # > retries
    with pytest.raises(ProviderUnavailable):
        tickets.ticket_buy(buyer=buyer, event_id=event.pk)
    ticket = Ticket.objects.get(buyer=buyer)
    assert (ticket.status, ticket.attempt) == (S.FAILED, 1)
    assert len(STANDIN.all("payment_intents")) == 1
    paid = tickets.ticket_buy(buyer=buyer, event_id=event.pk)
    assert (paid.status, paid.attempt) == (S.PAID, 2)
    assert len(charges()) == 1


def test_a_lost_answer_then_another_card_never_starts_a_second_charge(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stripe charged the card but its answer was lost; a minute later the buyer, who changed
    their card meanwhile, taps again. The same key with another card is refused by Stripe: that
    must find the first charge, not fail the ticket (a failed ticket is retried: a second
    charge)."""
    from datetime import timedelta

    from django.utils import timezone

    from payouts.provider import ProviderUnavailable, get_provider

    event = priced_event()
    buyer = make_user()
    payment_method_save(user=buyer, payment_method="pm_card_visa")
    provider = get_provider()
    real_create = provider.payment_intent_create

    def answer_lost(**kwargs: Any) -> Any:
        real_create(**kwargs)
        raise ProviderUnavailable()

    monkeypatch.setattr(provider, "payment_intent_create", answer_lost)
    with pytest.raises(ProviderUnavailable):
        tickets.ticket_buy(buyer=buyer, event_id=event.pk)
    monkeypatch.setattr(provider, "payment_intent_create", real_create)
    Ticket.objects.update(created=timezone.now() - timedelta(minutes=1))
    payment_method_save(user=buyer, payment_method="pm_card_mastercard")

    ticket = tickets.ticket_buy(buyer=buyer, event_id=event.pk)

    assert (ticket.status, ticket.attempt) == (S.PAID, 1)
    assert len(STANDIN.all("payment_intents")) == 1
    assert len(charges()) == 1
    assert Journal.objects.filter(kind=Journal.Kind.TICKET).count() == 1
