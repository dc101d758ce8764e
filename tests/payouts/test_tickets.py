"""Ticketed events and rooms: pricing, buying, refunds, webhooks and the ledger."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings

from clubhouse.errors import ApplicationError
from clubhouse.money import Money
from payouts import ledger, reconciliation
from payouts.ledger import Kind
from payouts.models import AuditEntry, HandledEvent, Journal, PaymentCustomer, Ticket
from payouts.provider import CardDeclined
from payouts.provider.standin import STANDIN, StandInError
from payouts.services import tickets
from payouts.services.cards import PaymentMethodRequired, payment_method_save
from rooms import schedule_services
from tests.rooms.factories import EventFactory, RoomFactory

from .conftest import make_creator, make_user, post_event

pytestmark = pytest.mark.django_db
S = Ticket.Status


def priced_event(amount: int = 1500, currency: str = "USD") -> Any:
    creator = make_creator()
    event = EventFactory(created_by=creator)
    tickets.ticket_price_set(user=creator, event_id=event.pk, price=Money(amount, currency))
    return event


def pis() -> list[dict[str, Any]]:
    return STANDIN.all("payment_intents")


# --- pricing ----------------------------------------------------------------------------------


def test_only_an_approved_onboarded_creator_can_price_an_event() -> None:
    member = make_user()
    event = EventFactory(created_by=member)
    with pytest.raises(ApplicationError) as caught:
        tickets.ticket_price_set(user=member, event_id=event.pk, price=Money(1000, "USD"))
    assert caught.value.code == "ticket_not_creator"
    not_onboarded = make_creator(active=False)
    event = EventFactory(created_by=not_onboarded)
    with pytest.raises(ApplicationError) as caught:
        tickets.ticket_price_set(user=not_onboarded, event_id=event.pk, price=Money(1000, "USD"))
    assert caught.value.code == "ticket_creator_not_onboarded"


@pytest.mark.parametrize(
    ("amount", "currency", "code", "field"),
    [
        (99, "USD", "ticket_price_out_of_range", "amount"),
        (100_001, "USD", "ticket_price_out_of_range", "amount"),
        (1000, "CHF", "ticket_currency", "currency"),
    ],
)
def test_a_price_outside_the_settings_is_refused_with_the_field(amount, currency, code, field):
    creator = make_creator()
    event = EventFactory(created_by=creator)
    with pytest.raises(ApplicationError) as caught:
        tickets.ticket_price_set(user=creator, event_id=event.pk, price=Money(amount, currency))
    assert caught.value.code == code
    assert field in caught.value.fields


def test_only_a_host_prices_an_event_and_only_before_it_starts() -> None:
    creator, other = make_creator(), make_creator()
    event = EventFactory(created_by=creator)
    with pytest.raises(ApplicationError) as caught:
        tickets.ticket_price_set(user=other, event_id=event.pk, price=Money(1000, "USD"))
    assert caught.value.code == "not_host"
    schedule_services.event_start_room(user=creator, event_id=event.pk)
    with pytest.raises(ApplicationError) as caught:
        tickets.ticket_price_set(user=creator, event_id=event.pk, price=Money(1000, "USD"))
    assert caught.value.code == "event_started"


def test_only_the_rooms_creator_prices_a_room() -> None:
    creator, other = make_creator(), make_creator()
    room = RoomFactory(created_by=creator)
    with pytest.raises(ApplicationError) as caught:
        tickets.ticket_price_set(user=other, room_id=room.pk, price=Money(1000, "USD"))
    assert caught.value.code == "not_room_creator"
    price = tickets.ticket_price_set(user=creator, room_id=room.pk, price=Money(1000, "USD"))
    assert (price.room_id, price.amount, price.currency) == (room.pk, 1000, "USD")


def test_the_room_of_a_ticketed_event_is_priced_by_the_event_only() -> None:
    event = priced_event()
    room = schedule_services.event_start_room(user=event.created_by, event_id=event.pk)
    with pytest.raises(ApplicationError) as caught:
        tickets.ticket_price_set(user=event.created_by, room_id=room.pk, price=Money(900, "USD"))
    assert caught.value.code == "room_priced_by_event"
    # Buying "for the room" buys the event's ticket.
    ticket = tickets.ticket_buy(buyer=make_user(), room_id=room.pk, payment_method="pm_card_visa")
    assert (ticket.event_id, ticket.room_id, ticket.amount) == (event.pk, None, 1500)


def test_no_ticket_is_sold_for_a_room_the_buyer_could_not_enter() -> None:
    from rooms.models import RoomRemoval

    creator = make_creator()
    room = RoomFactory(created_by=creator)
    tickets.ticket_price_set(user=creator, room_id=room.pk, price=Money(1000, "USD"))
    removed = make_user()
    RoomRemoval.objects.create(room=room, user=removed, removed_by=creator)
    with pytest.raises(ApplicationError) as caught:
        tickets.ticket_buy(buyer=removed, room_id=room.pk, payment_method="pm_card_visa")
    assert caught.value.code == "removed_from_room"
    assert not pis()


def test_the_price_is_locked_once_a_ticket_is_bought() -> None:
    event = priced_event(1500)
    tickets.ticket_buy(buyer=make_user(), event_id=event.pk, payment_method="pm_card_visa")
    with pytest.raises(ApplicationError) as caught:
        tickets.ticket_price_set(user=event.created_by, event_id=event.pk, price=Money(900, "USD"))
    assert caught.value.code == "ticket_price_locked"


# --- buying -----------------------------------------------------------------------------------


def test_first_ticket_takes_the_card_then_the_saved_card_pays_the_next() -> None:
    first, second = priced_event(1500), priced_event(2000)
    buyer = make_user()
    with pytest.raises(PaymentMethodRequired):
        tickets.ticket_buy(buyer=buyer, event_id=first.pk)
    ticket = tickets.ticket_buy(buyer=buyer, event_id=first.pk, payment_method="pm_card_visa")
    assert (ticket.status, ticket.amount, ticket.application_fee) == (S.PAID, 1500, 150)
    assert PaymentCustomer.objects.get(user=buyer).card_last4 == "4242"
    again = tickets.ticket_buy(buyer=buyer, event_id=second.pk)  # no card given: the saved one
    assert (again.status, again.amount, again.application_fee) == (S.PAID, 2000, 200)
    pi = STANDIN.get("payment_intents", again.stripe_payment_intent_id)
    assert (
        pi["payment_method"]
        == STANDIN.get("payment_intents", ticket.stripe_payment_intent_id)["payment_method"]
    )


def test_the_charge_is_a_destination_charge_with_the_platform_percentage() -> None:
    event = priced_event(1500)
    ticket = tickets.ticket_buy(buyer=make_user(), event_id=event.pk, payment_method="pm_card_visa")
    pi = STANDIN.get("payment_intents", ticket.stripe_payment_intent_id)
    account = event.created_by.connected_account.stripe_account_id
    assert pi["amount"] == 1500
    assert pi["application_fee_amount"] == 150
    assert pi["transfer_data"] == {"destination": account}
    assert pi["metadata"]["ticket"] == str(ticket.uuid)
    assert STANDIN.connected_balance(account)["usd"] == 1350


@override_settings(PAYOUTS_TICKET_PLATFORM_FEE_BPS=2500)
def test_the_platform_percentage_is_a_setting() -> None:
    event = priced_event(2000)
    ticket = tickets.ticket_buy(buyer=make_user(), event_id=event.pk, payment_method="pm_card_visa")
    assert ticket.application_fee == 500


def test_the_sale_is_a_balanced_journal_tied_to_stripe_ids() -> None:
    event = priced_event(1500)
    ticket = tickets.ticket_buy(buyer=make_user(), event_id=event.pk, payment_method="pm_card_visa")
    journal = Journal.objects.get(kind=Journal.Kind.TICKET)
    assert journal.stripe_payment_intent_id == ticket.stripe_payment_intent_id
    assert journal.stripe_charge_id == ticket.stripe_charge_id != ""
    assert ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", event.created_by) == 1350
    assert ledger.balance_of(Kind.CUSTOMER_PAYMENTS, "USD") == -1500
    stripe_fee = 30 + (1500 * 290 + 5000) // 10000  # 2.9% + 30¢
    assert ledger.balance_of(Kind.PROCESSING_FEES, "USD") == stripe_fee
    assert ledger.balance_of(Kind.PLATFORM_BALANCE, "USD") == 150 - stripe_fee
    assert STANDIN.available["usd"] == 150 - stripe_fee  # the ledger agrees with Stripe


def test_3ds_returns_the_client_secret_and_the_webhook_finishes_it(client, webhook_endpoint):
    event = priced_event()
    buyer = make_user()
    ticket = tickets.ticket_buy(
        buyer=buyer, event_id=event.pk, payment_method="pm_card_threeDSecure2Required"
    )
    assert ticket.status == S.REQUIRES_ACTION
    assert ticket.client_secret.startswith(ticket.stripe_payment_intent_id)
    again = tickets.ticket_buy(buyer=buyer, event_id=event.pk)
    assert (again.pk, again.status) == (ticket.pk, S.REQUIRES_ACTION)
    assert again.client_secret == ticket.client_secret
    assert not Journal.objects.filter(kind=Journal.Kind.TICKET).exists()
    succeeded = STANDIN.complete_3ds(ticket.stripe_payment_intent_id)
    for _ in range(3):
        assert post_event(client, webhook_endpoint, succeeded).status_code == 200
    ticket.refresh_from_db()
    assert ticket.status == S.PAID
    assert Journal.objects.filter(kind=Journal.Kind.TICKET).count() == 1
    assert HandledEvent.objects.filter(event_id=succeeded["id"]).count() == 1


def test_buying_twice_returns_the_same_ticket_and_charges_once() -> None:
    event = priced_event()
    buyer = make_user()
    first = tickets.ticket_buy(buyer=buyer, event_id=event.pk, payment_method="pm_card_visa")
    second = tickets.ticket_buy(buyer=buyer, event_id=event.pk, payment_method="pm_card_visa")
    assert first.pk == second.pk
    assert Ticket.objects.filter(buyer=buyer).count() == 1
    assert len(pis()) == 1
    assert len(STANDIN.all("charges")) == 1


def test_a_declined_card_fails_the_ticket_and_a_new_card_pays_it_with_a_new_key() -> None:
    event = priced_event()
    buyer = make_user()
    with pytest.raises(CardDeclined):
        tickets.ticket_buy(buyer=buyer, event_id=event.pk, payment_method="pm_card_chargeDeclined")
    ticket = Ticket.objects.get(buyer=buyer)
    assert (ticket.status, ticket.failure_code) == (S.FAILED, "card_declined")
    paid = tickets.ticket_buy(buyer=buyer, event_id=event.pk, payment_method="pm_card_visa")
    assert (paid.pk, paid.status, paid.attempt) == (ticket.pk, S.PAID, 2)
    assert [pi["status"] for pi in pis()].count("succeeded") == 1


def test_no_ticket_for_yourself_or_a_blocked_creator_or_an_ended_room() -> None:
    from accounts.models import Block
    from rooms import services as room_services

    event = priced_event()
    with pytest.raises(ApplicationError) as caught:
        tickets.ticket_buy(buyer=event.created_by, event_id=event.pk, payment_method="pm_card_visa")
    assert caught.value.code == "ticket_own"
    blocked = make_user()
    Block.objects.create(blocker=event.created_by, blocked=blocked)
    with pytest.raises(ApplicationError) as caught:
        tickets.ticket_buy(buyer=blocked, event_id=event.pk, payment_method="pm_card_visa")
    assert caught.value.code == "ticket_blocked"
    room = schedule_services.event_start_room(user=event.created_by, event_id=event.pk)
    room_services.room_end(user=event.created_by, room_id=room.pk)
    with pytest.raises(ApplicationError) as caught:
        tickets.ticket_buy(buyer=make_user(), event_id=event.pk, payment_method="pm_card_visa")
    assert caught.value.code == "room_ended"
    assert not pis()


def test_a_free_event_has_no_ticket_to_sell() -> None:
    event = EventFactory(created_by=make_creator())
    with pytest.raises(ApplicationError) as caught:
        tickets.ticket_buy(buyer=make_user(), event_id=event.pk, payment_method="pm_card_visa")
    assert caught.value.code == "ticket_not_for_sale"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_buys_make_one_ticket_and_one_charge() -> None:
    event = priced_event()
    buyer = make_user()
    payment_method_save(user=buyer, payment_method="pm_card_visa")
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def buy() -> None:
        try:
            barrier.wait(timeout=30)
            results.append(tickets.ticket_buy(buyer=buyer, event_id=event.pk))
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=buy) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(isinstance(r, Ticket) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert Ticket.objects.filter(buyer=buyer).count() == 1
    assert len(pis()) == 1
    assert Journal.objects.filter(kind=Journal.Kind.TICKET).count() == 1


# --- refunds ----------------------------------------------------------------------------------


def _sold(event: Any, n: int) -> list[Ticket]:
    return [
        tickets.ticket_buy(buyer=make_user(), event_id=event.pk, payment_method="pm_card_visa")
        for _ in range(n)
    ]


def test_cancelling_a_priced_event_refunds_every_ticket(
    client, webhook_endpoint, django_capture_on_commit_callbacks
) -> None:
    event = priced_event(1500)
    sold = _sold(event, 3)
    creator = event.created_by
    assert ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", creator) == 3 * 1350
    with django_capture_on_commit_callbacks(execute=True):
        schedule_services.event_delete(user=creator, event_id=event.pk)
    for ticket in sold:
        ticket.refresh_from_db()
        assert (ticket.status, ticket.refund_reason) == (S.REFUNDED, "event_cancelled")
        assert ticket.stripe_refund_id.startswith("re_")
        assert ticket.event_id is None
        assert ticket.target_key == f"event:{event.pk}"
    assert Journal.objects.filter(kind=Journal.Kind.TICKET_REFUND).count() == 3
    assert ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", creator) == 0
    assert ledger.balance_of(Kind.REFUNDS, "USD") == 3 * 1500
    # Stripe: the transfers to the creator were reversed and the platform kept only the loss
    # of its processing fees, exactly what the ledger says.
    assert all(t["reversed"] for t in STANDIN.all("transfers"))
    assert STANDIN.available["usd"] == ledger.balance_of(Kind.PLATFORM_BALANCE, "USD")
    # The provider's events, each delivered three times, change nothing.
    refund_events = [
        e for e in STANDIN.events if e["type"] in {"charge.refunded", "refund.updated"}
    ]
    assert len(refund_events) == 6
    for e in refund_events:
        for _ in range(3):
            assert post_event(client, webhook_endpoint, e).status_code == 200
    assert Journal.objects.filter(kind=Journal.Kind.TICKET_REFUND).count() == 3
    assert Journal.objects.filter(kind=Journal.Kind.TICKET).count() == 3
    assert HandledEvent.objects.count() == 6
    assert reconciliation.reconcile() == []


def test_each_refund_is_requested_once_per_ticket(django_capture_on_commit_callbacks) -> None:
    event = priced_event()
    (ticket,) = _sold(event, 1)
    with django_capture_on_commit_callbacks(execute=True):
        schedule_services.event_delete(user=event.created_by, event_id=event.pk)
    ticket.refresh_from_db()
    staff = make_user(is_staff=True)
    again = tickets.ticket_refund(ticket=ticket, actor=staff)
    tickets.ticket_refund_execute(ticket_id=ticket.pk)
    assert again.status == S.REFUNDED
    assert len(STANDIN.all("refunds")) == 1


def test_a_refund_refused_by_the_provider_is_visible_and_retried_by_staff(
    django_capture_on_commit_callbacks,
) -> None:
    event = priced_event()
    (ticket,) = _sold(event, 1)
    STANDIN.fail_next.append(
        StandInError(400, "invalid_request_error", "Refunds are temporarily disabled.")
    )
    with django_capture_on_commit_callbacks(execute=True):
        schedule_services.event_delete(user=event.created_by, event_id=event.pk)
    ticket.refresh_from_db()
    assert ticket.status == S.REFUND_FAILED
    assert "temporarily disabled" in ticket.refund_error
    assert not Journal.objects.filter(kind=Journal.Kind.TICKET_REFUND).exists()
    # The ledger still owes the buyer nothing yet: the creator keeps the share until refunded.
    assert ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", event.created_by) == 1350
    retried = tickets.ticket_refund(ticket=ticket, actor=make_user(is_staff=True))
    assert retried.status == S.REFUNDED
    assert retried.refund_attempt == 2
    assert ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", event.created_by) == 0
    actions = list(
        AuditEntry.objects.filter(subject_type="Ticket", subject_id=str(ticket.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["created", "paid", "refund_requested", "refund_failed",
                       "refund_requested", "refunded"]  # fmt: skip


def test_a_pending_refund_that_fails_at_the_bank_becomes_retriable(
    client, webhook_endpoint, django_capture_on_commit_callbacks
) -> None:
    event = priced_event()
    (ticket,) = _sold(event, 1)
    STANDIN.refunds_pending = True
    with django_capture_on_commit_callbacks(execute=True):
        schedule_services.event_delete(user=event.created_by, event_id=event.pk)
    ticket.refresh_from_db()
    assert ticket.status == S.REFUND_PENDING
    failed = STANDIN.refund_settle(ticket.stripe_refund_id, success=False)
    assert failed["type"] == "refund.updated"
    for _ in range(3):
        assert post_event(client, webhook_endpoint, failed).status_code == 200
    failed_refund_id = failed["data"]["object"]["id"]
    ticket.refresh_from_db()
    assert ticket.status == S.REFUND_FAILED
    assert ticket.refund_error == f"expired_or_canceled_card ({failed_refund_id})"
    STANDIN.refunds_pending = False
    retried = tickets.ticket_refund(ticket=ticket, actor=make_user(is_staff=True))
    assert retried.status == S.REFUNDED
    assert retried.stripe_refund_id not in {"", failed_refund_id}
    assert len(STANDIN.all("refunds")) == 2  # the failed one, and the retry under a new key
    # Stripe redelivering the old failure (a new event id) does not disturb the refunded ticket.
    stale = {**failed, "id": "evt_redelivered_failure"}
    assert post_event(client, webhook_endpoint, stale).status_code == 200
    retried.refresh_from_db()
    assert retried.status == S.REFUNDED
    assert Journal.objects.filter(kind=Journal.Kind.TICKET_REFUND).count() == 1
    assert reconciliation.reconcile() == []


def test_a_pending_refund_settled_by_webhook_is_refunded_once(
    client, webhook_endpoint, django_capture_on_commit_callbacks
) -> None:
    event = priced_event()
    (ticket,) = _sold(event, 1)
    STANDIN.refunds_pending = True
    with django_capture_on_commit_callbacks(execute=True):
        schedule_services.event_delete(user=event.created_by, event_id=event.pk)
    ticket.refresh_from_db()
    STANDIN.refund_settle(ticket.stripe_refund_id, success=True)
    settled = [e for e in STANDIN.events if e["type"] in {"charge.refunded", "refund.updated"}]
    for e in reversed(settled):  # out of order, three times each
        for _ in range(3):
            assert post_event(client, webhook_endpoint, e).status_code == 200
    ticket.refresh_from_db()
    assert ticket.status == S.REFUNDED
    assert Journal.objects.filter(kind=Journal.Kind.TICKET_REFUND).count() == 1


def test_a_payment_in_flight_when_the_event_is_cancelled_is_refunded_when_it_succeeds(
    client, webhook_endpoint, django_capture_on_commit_callbacks
) -> None:
    event = priced_event()
    ticket = tickets.ticket_buy(
        buyer=make_user(), event_id=event.pk, payment_method="pm_card_threeDSecure2Required"
    )
    with django_capture_on_commit_callbacks(execute=True):
        schedule_services.event_delete(user=event.created_by, event_id=event.pk)
    ticket.refresh_from_db()
    assert ticket.status == S.REQUIRES_ACTION
    succeeded = STANDIN.complete_3ds(ticket.stripe_payment_intent_id)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(client, webhook_endpoint, succeeded).status_code == 200
    ticket.refresh_from_db()
    assert ticket.status == S.REFUNDED
    assert ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", event.created_by) == 0


def test_a_refund_without_an_answer_stays_pending_and_the_sweep_finishes_it(
    django_capture_on_commit_callbacks,
) -> None:
    from payouts.tasks import tickets_refund_sweep_task

    event = priced_event()
    (ticket,) = _sold(event, 1)
    STANDIN.fail_next = [StandInError(500, "api_error", "boom") for _ in range(3)]  # > retries
    with django_capture_on_commit_callbacks(execute=True):
        schedule_services.event_delete(user=event.created_by, event_id=event.pk)
    ticket.refresh_from_db()
    assert ticket.status == S.REFUND_PENDING
    assert "same key" in ticket.refund_error
    assert tickets.tickets_refund_sweep() == []  # too recent: a request may still be in flight
    Ticket.objects.filter(pk=ticket.pk).update(updated=ticket.updated.replace(year=2020))
    assert tickets_refund_sweep_task.delay().get() == [S.REFUNDED]
    assert len(STANDIN.all("refunds")) == 1
    assert tickets_refund_sweep_task.delay().get() == []


def test_a_refund_already_made_at_stripe_completes_the_ticket_instead_of_failing_it() -> None:
    from payouts.provider import get_provider

    event = priced_event()
    (ticket,) = _sold(event, 1)
    # Refunded at Stripe under another key; its webhook has not arrived.
    get_provider().refund_create(payment_intent=ticket.stripe_payment_intent_id,
                                 idempotency_key="elsewhere")  # fmt: skip
    refunded = tickets.ticket_refund(ticket=ticket, actor=make_user(is_staff=True))
    assert refunded.status == S.REFUNDED
    assert len(STANDIN.all("refunds")) == 1
    assert Journal.objects.filter(kind=Journal.Kind.TICKET_REFUND).count() == 1


def test_the_refund_sweep_is_scheduled() -> None:
    from django_celery_beat.models import PeriodicTask

    from payouts.setup import ensure_periodic_tasks

    ensure_periodic_tasks()
    ensure_periodic_tasks()
    task = PeriodicTask.objects.get(task="payouts.tasks.tickets_refund_sweep_task")
    assert (task.interval.every, task.interval.period) == (15, "minutes")


def test_a_refund_from_the_dashboard_arrives_by_webhook(client, webhook_endpoint) -> None:
    from payouts.provider import get_provider

    event = priced_event()
    (ticket,) = _sold(event, 1)
    get_provider().refund_create(payment_intent=ticket.stripe_payment_intent_id,
                                 idempotency_key="dashboard")  # fmt: skip
    refunded = next(e for e in STANDIN.events if e["type"] == "charge.refunded")
    for _ in range(3):
        assert post_event(client, webhook_endpoint, refunded).status_code == 200
    ticket.refresh_from_db()
    assert ticket.status == S.REFUNDED
    assert Journal.objects.filter(kind=Journal.Kind.TICKET_REFUND).count() == 1


def test_a_chargeback_books_a_dispute_once_and_the_ticket_stops_admitting(
    client, webhook_endpoint
) -> None:
    from payouts import ticket_selectors

    event = priced_event(1500)
    (ticket,) = _sold(event, 1)
    disputed = STANDIN.dispute(ticket.stripe_charge_id)
    for _ in range(3):
        assert post_event(client, webhook_endpoint, disputed).status_code == 200
    ticket.refresh_from_db()
    assert ticket.status == S.DISPUTED
    assert not ticket_selectors.ticket_holder(ticket.buyer, event)
    assert Journal.objects.filter(kind=Journal.Kind.TICKET_DISPUTE).count() == 1
    assert ledger.balance_of(Kind.DISPUTES, "USD") == 1500
    assert STANDIN.available["usd"] == ledger.balance_of(Kind.PLATFORM_BALANCE, "USD")


def test_a_partial_refund_from_the_dashboard_is_booked_in_proportion_and_the_ticket_admits(
    client, webhook_endpoint
) -> None:
    from payouts import ticket_selectors
    from payouts.provider import get_provider

    event = priced_event(1500)
    (ticket,) = _sold(event, 1)
    creator = event.created_by
    get_provider().refund_create(payment_intent=ticket.stripe_payment_intent_id, amount=500,
                                 idempotency_key="dashboard-part")  # fmt: skip
    part = next(e for e in reversed(STANDIN.events) if e["type"] == "charge.refunded")
    for _ in range(3):
        assert post_event(client, webhook_endpoint, part).status_code == 200
    ticket.refresh_from_db()
    assert ticket.status == S.PAID
    assert ticket_selectors.ticket_holder(ticket.buyer, event)
    assert ledger.balance_of(Kind.REFUNDS, "USD") == 500
    # The transfer is reversed in proportion: 1350 * 500 / 1500 of the creator's share.
    assert ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", creator) == 1350 - 450
    assert STANDIN.available["usd"] == ledger.balance_of(Kind.PLATFORM_BALANCE, "USD")
    get_provider().refund_create(payment_intent=ticket.stripe_payment_intent_id,
                                 idempotency_key="dashboard-rest")  # fmt: skip
    rest = next(e for e in reversed(STANDIN.events) if e["type"] == "charge.refunded")
    for e in (rest, part, rest):  # the older event again changes nothing
        assert post_event(client, webhook_endpoint, e).status_code == 200
    ticket.refresh_from_db()
    assert ticket.status == S.REFUNDED
    assert Journal.objects.filter(kind=Journal.Kind.TICKET_REFUND).count() == 2
    assert ledger.balance_of(Kind.REFUNDS, "USD") == 1500
    assert ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", creator) == 0
    assert STANDIN.available["usd"] == ledger.balance_of(Kind.PLATFORM_BALANCE, "USD")
    assert reconciliation.reconcile() == []


def test_a_won_chargeback_gives_the_money_back_but_the_ticket_stays_disputed(
    client, webhook_endpoint
) -> None:
    event = priced_event(1500)
    (ticket,) = _sold(event, 1)
    disputed = STANDIN.dispute(ticket.stripe_charge_id)
    dispute_id = disputed["data"]["object"]["id"]
    won = STANDIN.dispute_won(dispute_id)
    for e in (won, disputed, won):  # the outcome first: it implies the withdrawal
        assert post_event(client, webhook_endpoint, e).status_code == 200
    ticket.refresh_from_db()
    assert ticket.status == S.DISPUTED
    kinds = sorted(
        Journal.objects.filter(stripe_dispute_id=dispute_id).values_list("kind", flat=True)
    )
    assert kinds == [
        Journal.Kind.DISPUTE_FEE,
        Journal.Kind.DISPUTE_FEE_RETURNED,
        Journal.Kind.DISPUTE_REINSTATED,
        Journal.Kind.TICKET_DISPUTE,
    ]
    assert ledger.balance_of(Kind.DISPUTES, "USD") == 0
    assert ledger.balance_of(Kind.DISPUTE_FEES, "USD") == 0  # the fee came back with the win
    assert STANDIN.available["usd"] == ledger.balance_of(Kind.PLATFORM_BALANCE, "USD")
    assert reconciliation.reconcile() == []


def test_the_wallet_counts_ticket_sales_and_their_refunds(api_client) -> None:
    event = priced_event(1500)
    sold = _sold(event, 2)
    tickets.ticket_refund(ticket=sold[0], actor=make_user(is_staff=True))
    creator = event.created_by
    api_client.force_authenticate(creator)
    usd = api_client.get("/api/v1/payouts/wallet/").json()["figures"]["USD"]
    assert usd["tickets"] == 2 * 1350  # the price less the platform's 10%
    assert usd["refunds"] == -1350
    assert usd["balance"] == 1350 == ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", creator)


def test_only_staff_refund_and_only_paid_tickets() -> None:
    event = priced_event()
    (ticket,) = _sold(event, 1)
    with pytest.raises(ApplicationError):
        tickets.ticket_refund(ticket=ticket, actor=make_user())
    declined = make_user()
    with pytest.raises(CardDeclined):
        tickets.ticket_buy(buyer=declined, event_id=event.pk,
                           payment_method="pm_card_chargeDeclined")  # fmt: skip
    with pytest.raises(ApplicationError) as caught:
        tickets.ticket_refund(ticket=Ticket.objects.get(buyer=declined),
                              actor=make_user(is_staff=True))  # fmt: skip
    assert caught.value.code == "illegal_transition"


# --- reconciliation ---------------------------------------------------------------------------


def test_reconciliation_sees_ticket_sales_and_refunds() -> None:
    event = priced_event()
    sold = _sold(event, 2)
    tickets.ticket_refund(ticket=sold[0], actor=make_user(is_staff=True))
    assert reconciliation.reconcile() == []


def test_reconciliation_flags_a_ticket_paid_at_stripe_but_missing_from_the_ledger() -> None:
    event = priced_event()
    ticket = tickets.ticket_buy(
        buyer=make_user(), event_id=event.pk, payment_method="pm_card_threeDSecure2Required"
    )
    STANDIN.complete_3ds(ticket.stripe_payment_intent_id)  # the webhook never arrived
    Ticket.objects.filter(pk=ticket.pk).update(status=S.PAID)  # and the row was forced
    found = {(d.kind, d.object_type) for d in reconciliation.reconcile()}
    assert ("missing_in_ledger", "charge") in found
    assert ("missing_in_ledger", "ticket") in found


def test_reconciliation_flags_a_ticket_refund_missing_at_the_provider() -> None:
    event = priced_event()
    (ticket,) = _sold(event, 1)
    tickets.ticket_refund(ticket=ticket, actor=make_user(is_staff=True))
    ticket.refresh_from_db()
    # Refunds are compared per refund, as for every kind of charge.
    STANDIN.objects["refunds"] = {
        k: v for k, v in STANDIN.objects["refunds"].items() if k != ticket.stripe_refund_id
    }
    found = {(d.kind, d.object_type, d.external_id) for d in reconciliation.reconcile()}
    assert ("missing_at_provider", "refund", ticket.stripe_refund_id) in found
