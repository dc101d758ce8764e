"""Ticketed rooms and events: prices, purchases, refunds.

A ticket is a destination charge to the creator's connected account with
``application_fee_amount`` = the platform's cut (``PAYOUTS_TICKET_PLATFORM_FEE_BPS`` of the
price). One ticket per buyer per event or room (a unique constraint): buying twice returns the
existing ticket and never charges twice, because the payment intent's idempotency key is derived
from (buyer, event/room, attempt) and a new attempt exists only after a definitive decline.

State machine (``Ticket.TRANSITIONS``): pending → requires_action → paid | failed,
failed → pending (the buyer tries again), paid → refund_pending → refunded | refund_failed,
refund_failed → refund_pending (staff retry). Every transition locks the row, returns early when
the ticket is already at or past its target (webhooks repeat and arrive out of order) and writes
an audit entry. Provider calls happen outside transactions, after the state they depend on has
committed.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from accounts.permissions import user_require_member
from accounts.selectors import user_is_blocked_between
from clubhouse.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from clubhouse.money import Money
from payouts import conf, fees, ledger, ticket_selectors
from payouts.audit import audit, require_transition
from payouts.ledger import Kind, Line
from payouts.models import (
    ConnectedAccount,
    CreatorProgram,
    Journal,
    PaymentCustomer,
    Ticket,
    TicketPrice,
)
from payouts.provider import CardDeclined, ProviderError, ProviderUnavailable, get_provider
from payouts.services.charges import (
    ChargeKind,
    charge_kind_register,
    charge_refunds_book,
    dispute_funds_withdrawn_book,
)
from payouts.services.tips import PaymentMethodRequired, payment_method_save
from rooms.models import Room, ScheduledEvent

logger = logging.getLogger(__name__)
S = Ticket.Status
# A pending ticket with no payment intent this old was not just created by a concurrent request
# still waiting for Stripe's answer: its call went unanswered, and asking again is safe.
UNANSWERED_AFTER_SECONDS = 30


class TicketNotAllowed(PermissionDenied):
    code = "ticket_not_allowed"


# --- targets ----------------------------------------------------------------------------------


def _target(*, event_id: int | None, room_id: int | None) -> ScheduledEvent | Room:
    if (event_id is None) == (room_id is None):
        raise InvalidInput("Give an event or a room.", fields={"target": ["event_id or room_id"]})
    if event_id is not None:
        event = ScheduledEvent.objects.select_related("room", "club").filter(pk=event_id).first()
        if event is None:
            raise NotFound("No such event.", code="event_not_found")
        return event
    room = Room.objects.filter(pk=int(room_id or 0)).first()
    if room is None:
        raise NotFound("No such room.", code="room_not_found")
    return room


def _price_for(target: ScheduledEvent | Room) -> TicketPrice:
    if isinstance(target, ScheduledEvent):
        price = ticket_selectors.event_price(target)
    else:
        price = ticket_selectors.room_entry_price(target)
    if price is None:
        raise NotFound("This is free: there is no ticket to buy.", code="ticket_not_for_sale")
    return price


def _require_creator_onboarded(user: User) -> ConnectedAccount:
    program = CreatorProgram.objects.filter(user=user, active=True).first()
    if program is None:
        raise TicketNotAllowed(
            "Only creators in the creator program can sell tickets.", code="ticket_not_creator"
        )
    account = ConnectedAccount.objects.filter(user=user).first()
    if account is None or not account.transfers_active:
        raise TicketNotAllowed(
            "Finish setting up payouts before selling tickets.",
            code="ticket_creator_not_onboarded",
        )
    return account


def platform_fee(amount: int) -> int:
    return fees.percent_of(amount, conf.ticket_platform_fee_bps())


# --- prices -----------------------------------------------------------------------------------


def _validate_price(price: Money) -> None:
    if price.currency not in conf.ticket_currencies():
        raise InvalidInput(
            f"{price.currency} is not supported.",
            code="ticket_currency",
            fields={"currency": [f"One of: {', '.join(conf.ticket_currencies())}."]},
        )
    low, high = conf.ticket_price_min(), conf.ticket_price_max()
    if not low <= price.amount <= high:
        raise InvalidInput(
            f"A ticket costs between {low} and {high} minor units.",
            code="ticket_price_out_of_range",
            fields={"amount": [f"Between {low} and {high}."]},
        )


def ticket_price_set(
    *, user: User, price: Money, event_id: int | None = None, room_id: int | None = None
) -> TicketPrice:
    """An approved, onboarded creator prices their event (a host, before it starts) or their
    live room (its creator). The price cannot change once a ticket has been bought."""
    user_require_member(user)
    target = _target(event_id=event_id, room_id=room_id)
    if isinstance(target, ScheduledEvent):
        if not target.hosts.filter(pk=user.pk).exists():
            raise PermissionDenied("Only the event's hosts can price it.", code="not_host")
        if target.room_id is not None:
            raise Conflict("This event has already started.", code="event_started")
    else:
        if target.created_by_id != user.pk:
            raise PermissionDenied("Only the room's creator can price it.", code="not_room_creator")
        if not target.is_live:
            raise Conflict("This room has ended.", code="room_ended")
        if ticket_selectors.event_price_of_room(target) is not None:
            raise Conflict(
                "This room was started from a ticketed event: its tickets admit.",
                code="room_priced_by_event",
            )
    _require_creator_onboarded(user)
    _validate_price(price)
    key = f"event:{target.pk}" if isinstance(target, ScheduledEvent) else f"room:{target.pk}"
    lookup = {"event": target} if isinstance(target, ScheduledEvent) else {"room": target}
    with transaction.atomic():
        existing = TicketPrice.objects.select_for_update().filter(**lookup).first()
        if existing is not None:
            unchanged = (existing.amount, existing.currency, existing.creator_id) == (
                price.amount, price.currency, user.pk,
            )  # fmt: skip
            if unchanged:
                return existing
            if Ticket.objects.filter(target_key=key).exclude(status=S.FAILED).exists():
                raise Conflict(
                    "Tickets have been bought: the price can no longer change.",
                    code="ticket_price_locked",
                )
            existing.amount, existing.currency, existing.creator = (
                price.amount, price.currency, user,
            )  # fmt: skip
            existing.save()
            audit(existing, "price_changed", actor=user, note=f"{price}")
            return existing
        created = TicketPrice.objects.create(
            creator=user, amount=price.amount, currency=price.currency, **lookup
        )
        audit(created, "price_set", actor=user, note=f"{price}")
    return created


def ticket_quote(
    *, user: User, event_id: int | None = None, room_id: int | None = None
) -> dict[str, Any]:
    target = _target(event_id=event_id, room_id=room_id)
    price = _price_for(target)
    ticket = ticket_selectors.ticket_for(user, price.target_key)
    return {
        "amount": price.amount,
        "currency": price.currency,
        "platform_fee": platform_fee(price.amount),
        "event_id": price.event_id,
        "room_id": price.room_id,
        "ticket": ticket,
    }


# --- buying -----------------------------------------------------------------------------------


def _buyable(buyer: User, target: ScheduledEvent | Room, price: TicketPrice) -> None:
    if buyer.pk == price.creator_id:
        raise TicketNotAllowed("You host this: you do not need a ticket.", code="ticket_own")
    if user_is_blocked_between(buyer, price.creator):
        raise TicketNotAllowed("You cannot buy a ticket from this person.", code="ticket_blocked")
    if isinstance(target, ScheduledEvent):
        from rooms.schedule_services import event_hidden_from

        if event_hidden_from(target, buyer):
            raise NotFound("No such event.", code="event_not_found")
    room = target.room if isinstance(target, ScheduledEvent) else target
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
) -> Ticket:
    """Buy (or get back) `buyer`'s ticket. With no saved card, `payment_method` (from
    Stripe.js) is required and is saved for next time. A ticket that needs 3-D Secure comes
    back `requires_action` with `client_secret` set for the client to finish."""
    user_require_member(buyer)
    target = _target(event_id=event_id, room_id=room_id)
    price = _price_for(target)
    existing = ticket_selectors.ticket_for(buyer, price.target_key)
    if existing is not None and existing.status != S.FAILED:
        return _existing(existing, buyer, payment_method)
    _buyable(buyer, target, price)
    account = _require_creator_onboarded(price.creator)
    customer = _customer(buyer, payment_method)
    if existing is not None:  # failed before: try again with a new attempt
        return _retry(existing, customer)
    event = price.event if price.event_id else None
    room = price.room if price.room_id else None
    try:
        with transaction.atomic():
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


def _retry(ticket: Ticket, customer: PaymentCustomer) -> Ticket:
    with transaction.atomic():
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if locked.status != S.FAILED:
            return locked  # another request claimed the retry
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
                "updated",
            ]
        )
        audit(locked, "retry", from_status=S.FAILED, to_status=S.PENDING, actor=locked.buyer)
    return _charge(locked, customer)


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
            metadata={"ticket": str(ticket.uuid), "kind": "ticket"},
            idempotency_key=ticket.payment_idempotency_key,
        )
    except CardDeclined as exc:
        ticket_mark_failed(ticket=ticket, code=str(exc.extra.get("decline_code") or exc.code))
        raise
    except ProviderUnavailable:
        raise  # unknown outcome: stays pending; the same key is used again, webhooks settle it
    except ProviderError as exc:
        ticket_mark_failed(ticket=ticket, code=exc.code)
        raise
    return ticket_apply_payment_intent(ticket=ticket, intent=intent)


def ticket_apply_payment_intent(*, ticket: Ticket, intent: dict[str, Any]) -> Ticket:
    with transaction.atomic():
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
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


def ticket_mark_failed(*, ticket: Ticket, code: str = "") -> Ticket:
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if ticket.status not in {S.PENDING, S.REQUIRES_ACTION}:
            return ticket  # failed already, or a success overtook this (out of order) event
        previous = ticket.status
        ticket.status = S.FAILED
        ticket.failure_code = code[:64]
        ticket.save(update_fields=["status", "failure_code", "updated"])
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
    c = ticket.currency
    processing = fees.processing_fee(ticket.amount, c)
    ledger.journal_post(
        kind=Journal.Kind.TICKET,
        currency=c,
        idempotency_key=f"ticket:{ticket.uuid}",
        description=f"ticket {ticket.uuid} ({ticket.target_key}) bought by {ticket.buyer_id}",
        stripe_payment_intent_id=ticket.stripe_payment_intent_id,
        stripe_charge_id=ticket.stripe_charge_id,
        lines=[
            Line(ledger.account(Kind.CUSTOMER_PAYMENTS, c), -ticket.amount),
            Line(ledger.account(Kind.CREATOR_PAYABLE, c, ticket.creator_id), ticket.creator_share),
            Line(ledger.account(Kind.PLATFORM_BALANCE, c), ticket.application_fee),
            Line(ledger.account(Kind.PLATFORM_BALANCE, c), -processing),
            Line(ledger.account(Kind.PROCESSING_FEES, c), processing),
        ],
    )


# --- refunds ----------------------------------------------------------------------------------


def _to_refund_pending(ticket: Ticket, *, reason: str, actor: Any = None) -> None:
    """Caller holds the ticket lock."""
    previous = ticket.status
    require_transition(ticket, S.REFUND_PENDING)
    ticket.status = S.REFUND_PENDING
    ticket.refund_reason = reason[:32]
    ticket.refund_requested_at = ticket.refund_requested_at or timezone.now()
    ticket.save(update_fields=["status", "refund_reason", "refund_requested_at", "updated"])
    audit(ticket, "refund_requested", from_status=previous, to_status=ticket.status, actor=actor,
          note=reason)  # fmt: skip


def _refund_on_commit(ticket_ids: list[int]) -> None:
    if not ticket_ids:
        return

    def enqueue() -> None:
        from payouts.tasks import ticket_refund_task

        for ticket_id in ticket_ids:
            ticket_refund_task.delay(ticket_id)

    transaction.on_commit(enqueue)


def tickets_cancel_for_event(*, event_id: int, actor: Any = None) -> list[int]:
    """The event is cancelled: every paid ticket is refunded (after commit, one task per
    ticket), and a payment still in flight is refunded as soon as it succeeds. Runs inside the
    caller's transaction (rooms' event_delete). Returns the ids of tickets being refunded."""
    now = timezone.now()
    refunding: list[int] = []
    with transaction.atomic():
        for ticket in Ticket.objects.select_for_update().filter(event_id=event_id).order_by("pk"):
            if ticket.status == S.PAID:
                _to_refund_pending(ticket, reason="event_cancelled", actor=actor)
                refunding.append(ticket.pk)
            elif ticket.status in {S.PENDING, S.REQUIRES_ACTION, S.FAILED}:
                ticket.refund_requested_at = now
                ticket.refund_reason = "event_cancelled"
                ticket.save(update_fields=["refund_requested_at", "refund_reason", "updated"])
                audit(ticket, "refund_when_paid", actor=actor, note="event_cancelled")
        _refund_on_commit(refunding)
    return refunding


def ticket_refund(*, ticket: Ticket, actor: User, reason: str = "staff") -> Ticket:
    """Staff refund a paid ticket, or retry a refund that failed or is stuck. Idempotent per
    ticket: the provider call carries the ticket's refund key."""
    if not actor.is_staff:
        raise PermissionDenied("Staff only.")
    with transaction.atomic():
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if locked.status == S.REFUNDED:
            return locked
        if locked.status in {S.PAID, S.REFUND_FAILED}:
            _to_refund_pending(locked, reason=reason, actor=actor)
        elif locked.status != S.REFUND_PENDING:
            raise Conflict("Only a paid ticket can be refunded.", code="illegal_transition")
    return ticket_refund_execute(ticket_id=ticket.pk)


def ticket_refund_execute(*, ticket_id: int) -> Ticket:
    """Ask the provider to refund a `refund_pending` ticket (the whole price, the transfer to
    the creator reversed and the platform's fee refunded). Safe to call again: the same key
    returns the same refund; a definitive refusal marks the ticket `refund_failed` for staff."""
    ticket = Ticket.objects.get(pk=ticket_id)
    if ticket.status != S.REFUND_PENDING:
        return ticket
    if not ticket.stripe_payment_intent_id:
        return ticket_mark_refund_failed(ticket=ticket, error="No payment intent to refund.")
    try:
        refund = get_provider().refund_create(
            payment_intent=ticket.stripe_payment_intent_id,
            idempotency_key=ticket.refund_idempotency_key,
        )
    except ProviderUnavailable as exc:
        # Unknown outcome: stay refund_pending; a retry uses the same key.
        with transaction.atomic():
            locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
            locked.refund_error = f"{exc.message} (will retry with the same key)"
            locked.save(update_fields=["refund_error", "updated"])
        return locked
    except ProviderError as exc:
        if exc.extra.get("provider_code") == "charge_already_refunded":
            # Refunded already: by an earlier request whose answer we never got (Stripe forgets
            # idempotency keys after a day) or from the dashboard. The charge's refund is ours.
            return ticket_mark_refunded(ticket=ticket)
        return ticket_mark_refund_failed(ticket=ticket, error=exc.message)
    return ticket_apply_refund(ticket=ticket, refund=refund)


def tickets_refund_sweep(*, older_than_seconds: int | None = None) -> list[str]:
    """Retry refunds still `refund_pending` after a while: the task queued on commit was lost
    (broker down, worker died) or the provider did not answer. Each retry carries the ticket's
    refund key, so nothing is refunded twice. Returns the tickets' resulting states."""
    wait = conf.ticket_refund_retry_after() if older_than_seconds is None else older_than_seconds
    cutoff = timezone.now() - timedelta(seconds=wait)
    stuck = Ticket.objects.filter(status=S.REFUND_PENDING, updated__lt=cutoff).order_by("pk")
    return [ticket_refund_execute(ticket_id=pk).status for pk in stuck.values_list("pk", flat=True)]


def ticket_apply_refund(*, ticket: Ticket, refund: dict[str, Any]) -> Ticket:
    """A refund object (the provider's answer, or `refund.updated`) drives the ticket."""
    status = refund.get("status")
    refund_id = str(refund.get("id") or "")
    if ticket.stripe_refund_id and refund_id and refund_id != ticket.stripe_refund_id:
        # News of an earlier attempt (one that failed and was retried under a new key): the
        # ticket follows its current refund only.
        logger.info("ignoring %s %s for ticket %s", refund_id, status, ticket.uuid)
        return ticket
    if status == "succeeded":
        return ticket_mark_refunded(ticket=ticket, refund_id=refund_id)
    if status in {"failed", "canceled"}:
        reason = str(refund.get("failure_reason") or status)
        return ticket_mark_refund_failed(ticket=ticket, error=reason, refund_id=refund_id)
    with transaction.atomic():  # pending at the provider: its webhook finishes it
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if not locked.stripe_refund_id and refund_id:
            locked.stripe_refund_id = refund_id
            locked.save(update_fields=["stripe_refund_id", "updated"])
    return locked


def ticket_mark_refund_failed(*, ticket: Ticket, error: str, refund_id: str = "") -> Ticket:
    """A definitive refusal or a failed refund: visible in admin, retried with a new key."""
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if ticket.status != S.REFUND_PENDING:
            if ticket.status == S.REFUNDED:
                logger.error("refund %s failed after ticket %s was refunded", refund_id, ticket)
                _record_refund_failed_after_success(ticket, refund_id, error)
            return ticket
        require_transition(ticket, S.REFUND_FAILED)
        ticket.status = S.REFUND_FAILED
        failed_id = refund_id or ticket.stripe_refund_id
        ticket.refund_error = f"{error} ({failed_id})" if failed_id else error
        ticket.stripe_refund_id = ""  # the retry's refund will be the ticket's refund
        ticket.refund_attempt += 1  # the next try is a new request, not a replay of this refusal
        ticket.save(
            update_fields=[
                "status",
                "refund_error",
                "stripe_refund_id",
                "refund_attempt",
                "updated",
            ]
        )
        audit(ticket, "refund_failed", from_status=S.REFUND_PENDING, to_status=ticket.status,
              note=error)  # fmt: skip
    return ticket


def _record_refund_failed_after_success(ticket: Ticket, refund_id: str, error: str) -> None:
    from payouts.models import Discrepancy

    Discrepancy.objects.get_or_create(
        kind=Discrepancy.Kind.UNEXPECTED_REVERSAL,
        object_type="refund",
        external_id=refund_id or f"ticket-{ticket.uuid}",
        defaults={"detail": f"ticket {ticket.uuid} was refunded, then the refund failed: {error}",
                  "ledger_amount": ticket.amount, "ledger_currency": ticket.currency},
    )  # fmt: skip


def ticket_mark_refunded(*, ticket: Ticket, refund_id: str = "", charge_id: str = "") -> Ticket:
    """The whole price went back to the buyer. The money is booked by the generic charge
    booking (services/charges.py): the creator's share is reversed and the platform's fee
    refunded; Stripe keeps its processing fee, which the platform absorbs. Whichever comes
    first, this transition or the `charge.refunded` webhook, books it; the other finds it
    booked."""
    if ticket.status in {S.PENDING, S.REQUIRES_ACTION, S.FAILED}:
        ticket = ticket_mark_paid(ticket=ticket, charge_id=charge_id)  # the refund proves it
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if ticket.status == S.REFUNDED:
            return ticket
        require_transition(ticket, S.REFUNDED)
        previous = ticket.status
        ticket.status = S.REFUNDED
        ticket.refunded_at = timezone.now()
        ticket.stripe_refund_id = refund_id or ticket.stripe_refund_id
        ticket.stripe_charge_id = ticket.stripe_charge_id or charge_id
        ticket.refund_error = ""
        ticket.save(
            update_fields=[
                "status",
                "refunded_at",
                "stripe_refund_id",
                "stripe_charge_id",
                "refund_error",
                "updated",
            ]
        )
        charge_refunds_book(
            charge_id=ticket.stripe_charge_id,
            amount_refunded=ticket.amount,
            refund_id=ticket.stripe_refund_id,
            journal_kind=Journal.Kind.TICKET_REFUND,
        )
        audit(ticket, "refunded", from_status=previous, to_status=ticket.status)
    return ticket


def ticket_mark_disputed(
    *, ticket: Ticket, dispute_id: str = "", charge_id: str = "", amount: int | None = None
) -> Ticket:
    """A chargeback: Stripe debits the platform the disputed amount and the platform absorbs
    it, as for every kind of charge (services/charges.py books it; recovering the creator's
    share is a staff decision, booked as a correction). The ticket stops admitting. A ticket
    refunded already is left alone: the bank's claim is then a matter for Stripe's dispute
    process (the money is still booked)."""
    if ticket.status in {S.PENDING, S.REQUIRES_ACTION, S.FAILED}:
        ticket = ticket_mark_paid(ticket=ticket, charge_id=charge_id)  # the dispute proves it
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if ticket.status in {S.DISPUTED, S.REFUNDED}:
            return ticket
        require_transition(ticket, S.DISPUTED)
        previous = ticket.status
        ticket.status = S.DISPUTED
        ticket.save(update_fields=["status", "updated"])
        if dispute_id:
            dispute_funds_withdrawn_book(
                dispute_id=dispute_id,
                charge_id=ticket.stripe_charge_id or charge_id,
                amount=ticket.amount if amount is None else amount,
                currency=ticket.currency,
                journal_kind=Journal.Kind.TICKET_DISPUTE,
            )
        audit(ticket, "disputed", from_status=previous, to_status=ticket.status, note=dispute_id)
    return ticket


# --- tickets as a kind of charge (refunds and disputes arrive as charge events) ---------------


def ticket_for_charge(charge: dict[str, Any]) -> Ticket | None:
    """The ticket a charge (or payment intent, or refund) paid for: by the `ticket` metadata,
    else by the charge, refund or payment intent id."""
    uuid = (charge.get("metadata") or {}).get("ticket")
    ticket = Ticket.objects.filter(uuid=uuid).first() if uuid else None
    if ticket is not None:
        return ticket
    object_id = str(charge.get("id") or "-")
    kind = charge.get("object")
    if kind == "charge":
        ticket = Ticket.objects.filter(stripe_charge_id=object_id).first()
    elif kind == "refund":
        ticket = Ticket.objects.filter(stripe_refund_id=object_id).first()
    if ticket is not None:
        return ticket
    pi = object_id if kind == "payment_intent" else charge.get("payment_intent")
    return Ticket.objects.filter(stripe_payment_intent_id=pi).first() if pi else None


def _ticket_ensure_booked(charge: dict[str, Any]) -> None:
    ticket = ticket_for_charge(charge)
    if ticket is not None and ticket.status in {S.PENDING, S.REQUIRES_ACTION, S.FAILED}:
        ticket_mark_paid(ticket=ticket, charge_id=str(charge.get("id") or ""))


def _ticket_refunded(charge: dict[str, Any]) -> None:
    ticket = ticket_for_charge(charge)
    if ticket is not None:
        ticket_mark_refunded(ticket=ticket, charge_id=str(charge.get("id") or ""))


def _ticket_disputed(charge: dict[str, Any], dispute: dict[str, Any]) -> None:
    ticket = ticket_for_charge(charge)
    if ticket is not None:
        ticket_mark_disputed(
            ticket=ticket,
            dispute_id=str(dispute["id"]),
            charge_id=str(charge.get("id") or ""),
            amount=int(dispute["amount"]),
        )


charge_kind_register(
    "ticket",
    ChargeKind(
        ensure_booked=_ticket_ensure_booked,
        refunded=_ticket_refunded,
        disputed=_ticket_disputed,
        refund_journal_kind=Journal.Kind.TICKET_REFUND,
        dispute_journal_kind=Journal.Kind.TICKET_DISPUTE,
    ),
)
