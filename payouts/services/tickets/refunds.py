"""Refunds and chargebacks of tickets; tickets as a kind of charge (services/charges.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from clubhouse.errors import Conflict, PermissionDenied
from payouts import conf
from payouts.audit import audit, require_transition
from payouts.models import (
    ChargeRefund,
    Journal,
    Ticket,
)
from payouts.provider import ProviderError, ProviderUnavailable, get_provider
from payouts.services.charges import (
    ChargeKind,
    RefundChange,
    charge_owner,
    charge_refunds_sync,
    dispute_funds_withdrawn_book,
    refund_apply,
    refunded_booked,
)
from payouts.services.tickets._common import (
    S,
    _refund_on_commit,
    _to_refund_pending,
    admission_lost_on_commit,
    logger,
)
from payouts.services.tickets.purchases import (
    _notify_buyer,
    _ticket_paid,
    _ticket_sale,
    ticket_mark_paid,
)

if TYPE_CHECKING:
    from accounts.models import User

# --- refunds ----------------------------------------------------------------------------------


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


def ticket_refund(
    *, ticket: Ticket, actor: User, reason: str = "staff", staff_reason: str = ""
) -> Ticket:
    """Staff refund a paid ticket, or retry a refund that failed or is stuck. Idempotent per
    ticket: the provider call carries the ticket's refund key."""
    if not actor.is_staff:
        raise PermissionDenied("Staff only.")
    with transaction.atomic():
        locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
        if locked.status == S.REFUNDED:
            return locked
        if locked.status in {S.PAID, S.REFUND_FAILED}:
            _to_refund_pending(locked, reason=reason, actor=actor, staff_reason=staff_reason)
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
            # idempotency keys after a day) or from the dashboard. The charge's refunds are
            # ours: booked as each succeeded; the ticket is refunded once the price is back.
            charge_refunds_sync(charge={"id": ticket.stripe_charge_id, "object": "charge",
                                        "payment_intent": ticket.stripe_payment_intent_id,
                                        "metadata": {"kind": "ticket", "ticket": str(ticket.uuid)}})  # fmt: skip
            ticket.refresh_from_db()
            if (
                ticket.status == S.REFUND_PENDING
                and refunded_booked(ticket.stripe_charge_id) >= ticket.amount
            ):
                return ticket_mark_refunded(ticket=ticket)
            return ticket
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
    """A refund object (the provider's answer, or `refund.*`) drives the ticket; its money is
    booked (or reversed) by the generic rule first, whichever refund of the charge it is."""
    with transaction.atomic():
        refund_apply(refund=refund, charge_kind="ticket")
        return _ticket_follow_refund(ticket, refund)


def _ticket_follow_refund(ticket: Ticket, refund: dict[str, Any]) -> Ticket:
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
            if ticket.status != S.REFUNDED or (
                refund_id and ticket.stripe_refund_id and refund_id != ticket.stripe_refund_id
            ):
                return ticket
            # The refund failed after it succeeded: its booking was reversed (services/
            # charges.py), the buyer did not get the money back; staff retry from admin.
            logger.warning("refund %s failed after ticket %s was refunded", refund_id, ticket)
        previous = ticket.status
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
        audit(ticket, "refund_failed", from_status=previous, to_status=ticket.status,
              note=error)  # fmt: skip
    return ticket


def ticket_mark_refunded(*, ticket: Ticket, refund_id: str = "", charge_id: str = "") -> Ticket:
    """The whole price went back to the buyer. State only: the money is booked per refund
    when it succeeds (services/charges.py `refund_apply`): the creator's share is reversed and
    the platform's fee refunded; Stripe keeps its processing fee, which the platform absorbs."""
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
        if previous in Ticket.ADMITTING:
            admission_lost_on_commit(ticket)
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
        if previous in Ticket.ADMITTING:
            admission_lost_on_commit(ticket)
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


# --- tickets as a kind of charge (registered by PayoutsConfig.ready) --------------------------


def ticket_for_charge(charge: dict[str, Any]) -> Ticket | None:
    """The ticket a charge (or payment intent, or refund) paid for: by the `ticket` metadata,
    else by the charge, then the payment intent (services/charges.py `charge_owner`)."""
    ticket: Ticket | None = charge_owner(TICKET_CHARGES, charge)
    return ticket


def _ticket_refund_changed(ticket: Ticket, refund: dict[str, Any], change: RefundChange) -> None:
    """A refund of a ticket's charge, from `charge.refunded` or `refund.*`: the ticket's own
    refund drives its machine; a refund made elsewhere (the dashboard, a lost answer) refunds
    the ticket once the whole price is back."""
    ours = ticket.stripe_refund_id == change.refund.stripe_refund_id
    if ours or ticket.status == S.REFUND_PENDING:
        _ticket_follow_refund(ticket, refund)
    elif change.booked and refunded_booked(change.refund.stripe_charge_id) >= ticket.amount:
        ticket_mark_refunded(ticket=ticket, refund_id=change.refund.stripe_refund_id)
    elif change.reversed and ticket.status == S.REFUNDED:
        ticket_mark_refund_failed(ticket=ticket, error=change.refund.failure_reason,
                                  refund_id=change.refund.stripe_refund_id)  # fmt: skip


def _ticket_disputed(ticket: Ticket, dispute: dict[str, Any]) -> None:
    ticket_mark_disputed(
        ticket=ticket,
        dispute_id=str(dispute["id"]),
        charge_id=str(dispute.get("charge") or ""),
        amount=int(dispute["amount"]),
    )


def _ticket_refund_retry(
    ticket: Ticket, refund: ChargeRefund, actor: Any, reason: str = ""
) -> None:
    ticket_refund(ticket=ticket, actor=actor, staff_reason=reason)


TICKET_CHARGES = ChargeKind(
    model=Ticket,
    sale=_ticket_sale,
    on_paid=_ticket_paid,
    refund_changed=_ticket_refund_changed,
    disputed=_ticket_disputed,
    settled_late=_notify_buyer,
    refund_retry=_ticket_refund_retry,
    refund_journal_kind=Journal.Kind.TICKET_REFUND,
    dispute_journal_kind=Journal.Kind.TICKET_DISPUTE,
)
