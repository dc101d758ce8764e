"""Buying a ticket: a destination charge, 3-D Secure, declines, the sale journal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from accounts.permissions import user_require_member
from accounts.selectors import user_is_blocked_between
from clubhouse.errors import Conflict, NotFound
from clubhouse.money import Money
from payouts import fees, ledger, ticket_selectors
from payouts.audit import audit, require_transition
from payouts.models import (
    Journal,
    PaymentCustomer,
    Ticket,
    TicketPrice,
)
from payouts.provider import CardDeclined, ProviderError, ProviderUnavailable, get_provider
from payouts.services.cards import PaymentMethodRequired, payment_method_save
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
    logger,
    platform_fee,
)

if TYPE_CHECKING:
    from rooms.models import Room, ScheduledEvent

# A pending ticket with no payment intent this old was not just created by a concurrent request
# still waiting for Stripe's answer: its call went unanswered, and asking again is safe.
UNANSWERED_AFTER_SECONDS = 30


# --- buying -----------------------------------------------------------------------------------


def _buyable(buyer: User, target: ScheduledEvent | Room, price: TicketPrice) -> None:
    if buyer.pk == price.creator_id:
        raise TicketNotAllowed("You host this: you do not need a ticket.", code="ticket_own")
    if user_is_blocked_between(buyer, price.creator):
        raise TicketNotAllowed("You cannot buy a ticket from this person.", code="ticket_blocked")
    if _is_event(target):
        from rooms.schedule_services import event_hidden_from

        if event_hidden_from(target, buyer):
            raise NotFound("No such event.", code="event_not_found")
    room = target.room if _is_event(target) else target
    if room is not None:
        # Never sell a ticket to a room its buyer could not enter anyway (ended, removed,
        # blocked by a moderator, closed, members-only): the same rules as the join.
        from rooms.rules import room_entry_denial

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
    return _charge(ticket, customer)


def _customer(buyer: User, payment_method: str | None) -> PaymentCustomer:
    if payment_method:
        return payment_method_save(user=buyer, payment_method=payment_method)
    customer = PaymentCustomer.objects.filter(user=buyer).first()
    if customer is None or not customer.default_payment_method_id:
        raise PaymentMethodRequired("Add a card to buy tickets; it is saved for next time.")
    return customer


def _existing(ticket: Ticket, buyer: User, payment_method: str | None) -> Ticket:
    if ticket.status in {S.REFUND_PENDING, S.REFUNDED, S.REFUND_FAILED}:
        raise Conflict("Your ticket for this was refunded.", code="ticket_refunded")
    if ticket.status == S.REQUIRES_ACTION and ticket.stripe_payment_intent_id:
        intent = get_provider().payment_intent_retrieve(ticket.stripe_payment_intent_id)
        if intent.get("status") == "requires_action":
            ticket.client_secret = intent.get("client_secret")  # type: ignore[attr-defined]
            return ticket
        return ticket_apply_payment_intent(ticket=ticket, intent=intent)
    if ticket.status == S.PENDING and not ticket.stripe_payment_intent_id:
        # The first call's outcome is unknown (the provider did not answer). Asking again with
        # the same idempotency key returns that payment intent, or creates it once.
        age = (timezone.now() - ticket.created).total_seconds()
        if age > UNANSWERED_AFTER_SECONDS:
            return _charge(ticket, _customer(buyer, payment_method))
    return ticket


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
    return _charge(locked, customer)


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


def _charge(ticket: Ticket, customer: PaymentCustomer) -> Ticket:
    try:
        intent = get_provider().payment_intent_create(
            amount=ticket.amount,
            currency=ticket.currency,
            customer=customer.stripe_customer_id,
            payment_method=customer.default_payment_method_id,
            application_fee_amount=ticket.application_fee,
            destination=ticket.destination_account_id,
            transfer_group=ticket.transfer_group,
            # The attempt tells a late event of an earlier attempt from the current one's.
            metadata={"ticket": str(ticket.uuid), "kind": "ticket", "attempt": str(ticket.attempt)},
            idempotency_key=ticket.payment_idempotency_key,
        )
    except CardDeclined as exc:
        ticket_mark_failed(
            ticket=ticket,
            code=str(exc.extra.get("decline_code") or exc.code),
            payment_intent=exc.payment_intent_id,
        )
        raise
    except ProviderUnavailable:
        raise  # unknown outcome: stays pending; the same key is used again, webhooks settle it
    except ProviderError as exc:
        if exc.code == "idempotency_error":
            # The key was used before with other parameters (the card saved in between
            # changed): that earlier request made this attempt's intent, which may well have
            # charged the card. Never a failure (a new attempt could charge twice): find it.
            made = _attempt_intent(ticket, customer)
            if made is not None:
                return ticket_apply_payment_intent(ticket=ticket, intent=made)
            raise ProviderUnavailable() from exc
        ticket_mark_failed(ticket=ticket, code=exc.code)
        raise
    return ticket_apply_payment_intent(ticket=ticket, intent=intent)


def _attempt_intent(ticket: Ticket, customer: PaymentCustomer) -> dict[str, Any] | None:
    """The payment intent an earlier, unanswered request made for the ticket's current attempt
    (by its metadata), or None."""
    for intent in get_provider().payment_intent_list(customer=customer.stripe_customer_id):
        metadata = intent.get("metadata") or {}
        if metadata.get("ticket") == str(ticket.uuid) and metadata.get("attempt") == str(
            ticket.attempt
        ):
            return intent
    return None


def _is_current_attempt(ticket: Ticket, intent: dict[str, Any]) -> bool:
    """Whether a payment intent is the ticket's current attempt. Caller holds the lock."""
    intent_id = str(intent.get("id") or "")
    if ticket.stripe_payment_intent_id:
        return intent_id == ticket.stripe_payment_intent_id
    # The current attempt's answer is not known yet (a webhook first, or an unanswered call):
    # its intent carries the attempt number. Intents created before attempts were numbered
    # are taken as the current one, as they always were.
    attempt = (intent.get("metadata") or {}).get("attempt")
    return attempt is None or str(attempt) == str(ticket.attempt)


def ticket_apply_payment_intent(*, ticket: Ticket, intent: dict[str, Any]) -> Ticket:
    """A payment intent of this ticket (the provider's answer or a webhook's object) moves the
    ticket, if it is the current attempt's. An earlier attempt's news is recorded (an audit
    entry) and changes nothing: its intent was canceled before the next attempt began."""
    with transaction.atomic():
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if not _is_current_attempt(locked, intent):
            _record_stale(locked, intent)
            locked.client_secret = None  # type: ignore[attr-defined]
            return locked
        if not locked.stripe_payment_intent_id:
            locked.stripe_payment_intent_id = str(intent["id"])
            locked.save(update_fields=["stripe_payment_intent_id", "updated"])
    status = intent.get("status")
    if status == "succeeded":
        ticket = ticket_mark_paid(ticket=ticket, charge_id=str(intent.get("latest_charge") or ""))
    elif status == "requires_action":
        ticket = ticket_mark_requires_action(ticket=ticket)
    elif status in {"requires_payment_method", "canceled"}:
        error = intent.get("last_payment_error") or {}
        ticket = ticket_mark_failed(ticket=ticket, code=str(error.get("code") or status))
    else:
        ticket = Ticket.objects.get(pk=ticket.pk)
    ticket.client_secret = intent.get("client_secret")  # type: ignore[attr-defined]
    return ticket


def _record_stale(ticket: Ticket, intent: dict[str, Any]) -> None:
    status = str(intent.get("status") or "")
    note = f"{intent.get('id')} {status} (attempt {(intent.get('metadata') or {}).get('attempt')}"
    audit(ticket, "stale_attempt_event", note=f"{note}; current attempt {ticket.attempt})")
    if status == "succeeded":
        # Cannot happen when the retry canceled it; if a provider ever lets it through, the
        # buyer paid twice: staff refund it from the provider's dashboard.
        logger.error("an earlier attempt %s of ticket %s succeeded", intent.get("id"), ticket)


def ticket_mark_requires_action(*, ticket: Ticket) -> Ticket:
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if ticket.status != S.PENDING:
            return ticket  # already there or past it
        require_transition(ticket, S.REQUIRES_ACTION)
        ticket.status = S.REQUIRES_ACTION
        ticket.save(update_fields=["status", "updated"])
        audit(ticket, "requires_action", from_status=S.PENDING, to_status=ticket.status)
    return ticket


def ticket_mark_failed(*, ticket: Ticket, code: str = "", payment_intent: str = "") -> Ticket:
    """The current attempt failed. `payment_intent` is the declined intent when the provider
    named it: recorded so that a retry cancels it first."""
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if ticket.status not in {S.PENDING, S.REQUIRES_ACTION}:
            return ticket  # failed already, or a success overtook this (out of order) event
        previous = ticket.status
        ticket.status = S.FAILED
        ticket.failure_code = code[:64]
        ticket.stripe_payment_intent_id = ticket.stripe_payment_intent_id or payment_intent
        ticket.save(update_fields=["status", "failure_code", "stripe_payment_intent_id", "updated"])
        audit(ticket, "failed", from_status=previous, to_status=ticket.status, note=code)
    return ticket


def ticket_mark_paid(*, ticket: Ticket, charge_id: str = "") -> Ticket:
    """The charge succeeded: post the sale. If the event was cancelled (or staff asked for a
    refund) while the payment was in flight, the refund starts as soon as this commits."""
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if ticket.status in {S.PAID, S.REFUND_PENDING, S.REFUNDED, S.REFUND_FAILED}:
            return ticket
        require_transition(ticket, S.PAID)
        previous = ticket.status
        ticket.status = S.PAID
        ticket.paid_at = timezone.now()
        ticket.stripe_charge_id = ticket.stripe_charge_id or charge_id
        ticket.save(update_fields=["status", "paid_at", "stripe_charge_id", "updated"])
        _post_sale(ticket)
        audit(ticket, "paid", from_status=previous, to_status=ticket.status)
        if ticket.refund_requested_at is not None:
            _to_refund_pending(ticket, reason=ticket.refund_reason or "event_cancelled")
            _refund_on_commit([ticket.pk])
    return ticket


def _post_sale(ticket: Ticket) -> None:
    """Buyer's card pays the price; the creator's connected account receives price - platform
    cut; the cut (the application fee) reaches the platform balance, which also pays Stripe's
    processing fee. What remains in the platform balance is the platform's revenue."""
    ledger.destination_sale_post(
        kind=Journal.Kind.TICKET,
        currency=ticket.currency,
        idempotency_key=f"ticket:{ticket.uuid}",
        description=f"ticket {ticket.uuid} ({ticket.target_key}) bought by {ticket.buyer_id}",
        stripe_payment_intent_id=ticket.stripe_payment_intent_id,
        stripe_charge_id=ticket.stripe_charge_id,
        charged=ticket.amount,
        creator=ticket.creator_id,
        creator_share=ticket.creator_share,
        application_fee=ticket.application_fee,
        processing_fee=fees.processing_fee(ticket.amount, ticket.currency),
    )
