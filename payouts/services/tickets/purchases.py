"""Buying a ticket: a destination charge, 3-D Secure, declines, the sale journal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.permissions import user_require_member
from accounts.selectors import user_is_blocked_between
from accounts.services import NotificationKind, notification_create
from clubhouse.errors import Conflict, NotFound
from clubhouse.money import Money
from payouts import fees, ticket_selectors
from payouts.audit import audit, require_transition
from payouts.models import (
    Journal,
    PaymentCustomer,
    Ticket,
    TicketPrice,
)
from payouts.provider import ProviderError, ProviderUnavailable, get_provider
from payouts.services.cards import PaymentMethodRequired, payment_method_save
from payouts.services.charges import (
    Sale,
    charge_apply_payment_intent,
    charge_create,
    charge_mark_failed,
    charge_mark_paid,
    charge_mark_requires_action,
    charge_refresh_for_payer,
)
from payouts.services.quotes import price_require_shown
from payouts.services.tickets._common import (
    S,
    TicketNotAllowed,
    _is_event,
    _price_for,
    _refund_on_commit,
    _require_creator_onboarded,
    _target,
    _to_refund_pending,
    platform_fee,
)
from rooms.rules import room_entry_denial
from rooms.schedule_services import event_hidden_from

if TYPE_CHECKING:
    from accounts.models import User
    from rooms.models import Room, ScheduledEvent


# --- buying -----------------------------------------------------------------------------------


def _buyable(buyer: User, target: ScheduledEvent | Room, price: TicketPrice) -> None:
    if buyer.pk == price.creator_id:
        raise TicketNotAllowed("You host this: you do not need a ticket.", code="ticket_own")
    if user_is_blocked_between(buyer, price.creator):
        raise TicketNotAllowed("You cannot buy a ticket from this person.", code="ticket_blocked")
    if _is_event(target) and event_hidden_from(target, buyer):
        raise NotFound("No such event.", code="event_not_found")
    room = target.room if _is_event(target) else target
    if room is not None:
        # Never sell a ticket to a room its buyer could not enter anyway (ended, removed,
        # blocked by a moderator, closed, members-only): the same rules as the join.
        denial = room_entry_denial(room, buyer)
        if denial is not None:
            raise denial


def ticket_buy(
    *,
    buyer: User,
    event_id: int | None = None,
    room_id: int | None = None,
    payment_method: str | None = None,
    shown_price: Money | None = None,
) -> Ticket:
    """Buy (or get back) `buyer`'s ticket. With no saved card, `payment_method` (from
    Stripe.js) is required and is saved for next time. A ticket that needs 3-D Secure comes
    back `requires_action` with `client_secret` set for the client to finish. `shown_price`
    is the price the buyer was shown: a charge is only made at that price (`price_changed`)."""
    user_require_member(buyer)
    target = _target(event_id=event_id, room_id=room_id)
    price = _price_for(target)
    existing = ticket_selectors.ticket_for(buyer, price.target_key)
    if existing is not None and existing.status != S.FAILED:
        return _existing(existing, buyer, payment_method)
    price_require_shown(shown=shown_price, amount=price.amount, currency=price.currency)
    _buyable(buyer, target, price)
    account = _require_creator_onboarded(price.creator)
    customer = _customer(buyer, payment_method)
    if existing is not None:  # failed before: try again with a new attempt
        return _retry(existing, customer, price, shown_price)
    event = price.event if price.event_id else None
    room = price.room if price.room_id else None
    try:
        with transaction.atomic():
            # The price row's lock orders this sale after any price change (ticket_price_set
            # holds it too): the ticket is sold at the price checked here, and once it exists
            # the price is locked.
            price = TicketPrice.objects.select_for_update().get(pk=price.pk)
            price_require_shown(shown=shown_price, amount=price.amount, currency=price.currency)
            ticket = Ticket.objects.create(
                buyer=buyer,
                creator=price.creator,
                event=event,
                room=room,
                target_key=price.target_key,
                title=((event.title if event else room.title if room else "") or "")[:120],
                amount=price.amount,
                application_fee=platform_fee(price.amount),
                currency=price.currency,
                destination_account_id=account.stripe_account_id,
            )
            audit(ticket, "created", to_status=ticket.status, actor=buyer)
    except IntegrityError:
        # A concurrent buy by the same person: the unique constraint let one ticket through,
        # and only its creator charges.
        return Ticket.objects.get(buyer=buyer, target_key=price.target_key)
    return charge_create(ticket, customer)


def _customer(buyer: User, payment_method: str | None) -> PaymentCustomer:
    if payment_method:
        return payment_method_save(user=buyer, payment_method=payment_method)
    customer = PaymentCustomer.objects.filter(user=buyer).first()
    if customer is None or not customer.default_payment_method_id:
        raise PaymentMethodRequired("Add a card to buy tickets; it is saved for next time.")
    return customer


def _existing(ticket: Ticket, buyer: User, payment_method: str | None) -> Ticket:
    """The buyer asks again for a ticket they have (or are paying for): a 3-D Secure step still
    open comes back with its client secret; a first request that got no answer is sent again
    under the same key (services/charges.py `charge_refresh_for_payer`)."""
    if ticket.status in {S.REFUND_PENDING, S.REFUNDED, S.REFUND_FAILED}:
        raise Conflict("Your ticket for this was refunded.", code="ticket_refunded")
    return charge_refresh_for_payer(ticket)


def _retry(
    ticket: Ticket, customer: PaymentCustomer, price: TicketPrice, shown_price: Money | None
) -> Ticket:
    previous = ticket.stripe_payment_intent_id
    if previous:
        # The failed attempt's payment intent can still be confirmed (3-D Secure retried by
        # the client): cancel it first, so that two attempts can never both charge the card.
        paid_by_previous = _cancel_attempt(ticket, previous)
        if paid_by_previous is not None:
            return paid_by_previous
    with transaction.atomic():
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if locked.status != S.FAILED or locked.stripe_payment_intent_id != previous:
            return locked  # another request claimed the retry
        # Nothing was charged yet: the new attempt is at today's price (it may have changed
        # while the only tickets had failed), which must be the one the buyer was shown.
        price = TicketPrice.objects.select_for_update().get(pk=price.pk)
        price_require_shown(shown=shown_price, amount=price.amount, currency=price.currency)
        locked.amount, locked.currency = price.amount, price.currency
        locked.application_fee = platform_fee(price.amount)
        require_transition(locked, S.PENDING)
        locked.status = S.PENDING
        locked.attempt += 1
        locked.failure_code = ""
        locked.stripe_payment_intent_id = ""
        locked.save(
            update_fields=[
                "status",
                "attempt",
                "failure_code",
                "stripe_payment_intent_id",
                "amount",
                "currency",
                "application_fee",
                "updated",
            ]
        )
        audit(locked, "retry", from_status=S.FAILED, to_status=S.PENDING, actor=locked.buyer)
    return charge_create(locked, customer)


def _cancel_attempt(ticket: Ticket, payment_intent: str) -> Ticket | None:
    """Cancel the payment intent of a failed attempt before a new one. Returns the ticket when
    that intent succeeded after all (the ticket is paid by it: no second charge), None once it
    is canceled. An unanswered call raises `ProviderUnavailable`: no new attempt while the old
    one might still be confirmed."""
    provider = get_provider()
    try:
        provider.payment_intent_cancel(
            payment_intent, idempotency_key=f"ticket-cancel-{payment_intent}"
        )
    except ProviderUnavailable:
        raise
    except ProviderError:
        intent = provider.payment_intent_retrieve(payment_intent)
        if intent.get("status") == "succeeded":
            return ticket_apply_payment_intent(ticket=ticket, intent=intent)
        if intent.get("status") != "canceled":
            raise
    audit(ticket, "attempt_canceled", note=f"{payment_intent} (attempt {ticket.attempt})")
    return None


# --- the payment: the one lifecycle of every charge (services/charges.py) -----------------------


def ticket_apply_payment_intent(*, ticket: Ticket, intent: dict[str, Any]) -> Ticket:
    """A payment intent of this ticket moves it if it is the current attempt's; an earlier
    attempt's news is recorded (an audit entry) and changes nothing: its intent was canceled
    before the next attempt began."""
    return charge_apply_payment_intent(ticket, intent)


def ticket_mark_requires_action(*, ticket: Ticket) -> Ticket:
    return charge_mark_requires_action(ticket)


def ticket_mark_failed(*, ticket: Ticket, code: str = "", payment_intent: str = "") -> Ticket:
    return charge_mark_failed(ticket, code=code, payment_intent=payment_intent)


def ticket_mark_paid(*, ticket: Ticket, charge_id: str = "") -> Ticket:
    """The charge succeeded: the sale is posted. If the event was cancelled (or staff asked for
    a refund) while the payment was in flight, the refund starts as soon as this commits."""
    return charge_mark_paid(ticket, charge_id=charge_id)


def _ticket_paid(ticket: Ticket) -> None:
    """The paid transition's hook (in its transaction, the ticket locked)."""
    ticket.paid_at = timezone.now()
    ticket.save(update_fields=["paid_at", "updated"])
    if ticket.refund_requested_at is not None:
        _to_refund_pending(ticket, reason=ticket.refund_reason or "event_cancelled")
        _refund_on_commit([ticket.pk])


def _notify_buyer(ticket: Ticket) -> None:
    """The buyer learns how a ticket payment they were told is processing ended (the sweep
    settled it from the provider)."""
    data = {"ticket": str(ticket.uuid), "event": f"ticket_{ticket.status}", "title": ticket.title,
            "amount": ticket.amount, "currency": ticket.currency,
            "event_id": ticket.event_id, "room_id": ticket.room_id}  # fmt: skip

    def send() -> None:
        notification_create(recipient=ticket.buyer, kind=NotificationKind.MONEY,
                            actor=ticket.creator, data=data)  # fmt: skip

    transaction.on_commit(send)


def _ticket_sale(ticket: Ticket) -> Sale:
    """Buyer's card pays the price; the creator's connected account receives price - platform
    cut; the cut (the application fee) reaches the platform balance, which also pays Stripe's
    processing fee. What remains in the platform balance is the platform's revenue."""
    return Sale(
        journal_kind=Journal.Kind.TICKET,
        idempotency_key=f"ticket:{ticket.uuid}",
        description=f"ticket {ticket.uuid} ({ticket.target_key}) bought by {ticket.buyer_id}",
        creator_id=ticket.creator_id,
        creator_share=ticket.creator_share,
        processing_fee=fees.processing_fee(ticket.amount, ticket.currency),
    )
