"""Stripe webhook handlers, connected to dj-stripe's per-event-type signals.

dj-stripe verifies the signature (a forged one is a 400), stores the ``WebhookEventTrigger``
and the ``Event`` (unique by id, so a redelivery is not handled twice), then sends the signal
for the event type inside its transaction. Our handlers record the event id in
``HandledEvent`` in that same transaction — a second guard that also covers events applied by
other paths (replays from admin, the demo) — and apply state-based, idempotent transitions,
so duplicates and out-of-order deliveries change nothing twice. Side effects outside the
database leave on commit.

dj-stripe's own handlers for these types would mirror the objects into its tables and may call
the Stripe API to fetch related objects; our models are the source of truth, so they are
disconnected for the types we handle (``connect``) and dj-stripe only stores the event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction

from payouts import ledger
from payouts.ledger import Kind, Line
from payouts.models import HandledEvent, Journal, Tip

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], int | None], None]


def _tip_for(obj: dict[str, Any]) -> Tip | None:
    uuid = (obj.get("metadata") or {}).get("tip")
    if uuid:
        tip = Tip.objects.filter(uuid=uuid).first()
        if tip:
            return tip
    pi = obj.get("payment_intent") if obj.get("object") != "payment_intent" else obj.get("id")
    if pi:
        return Tip.objects.filter(stripe_payment_intent_id=pi).first()
    return None


def _payment_intent_succeeded(obj: dict[str, Any], created: int | None) -> None:
    from payouts.services import tip_mark_succeeded

    tip = _tip_for(obj)
    if tip:
        tip_mark_succeeded(tip=tip, charge_id=str(obj.get("latest_charge") or ""))


def _payment_intent_failed(obj: dict[str, Any], created: int | None) -> None:
    from payouts.services import tip_mark_failed

    tip = _tip_for(obj)
    if tip:
        error = obj.get("last_payment_error") or {}
        tip_mark_failed(tip=tip, code=str(error.get("code") or "payment_failed"))


def _payment_intent_requires_action(obj: dict[str, Any], created: int | None) -> None:
    from payouts.services.tips import tip_mark_requires_action

    tip = _tip_for(obj)
    if tip:
        tip_mark_requires_action(tip=tip)


def _charge_refunded(obj: dict[str, Any], created: int | None) -> None:
    from payouts.services import tip_mark_refunded

    tip = _tip_for(obj)
    if tip and obj.get("refunded"):
        tip_mark_refunded(tip=tip, charge_id=str(obj.get("id") or ""))
    elif tip:
        logger.warning(
            "partial refund of tip %s is not modelled; reconciliation will flag it", tip.uuid
        )


def _dispute_created(obj: dict[str, Any], created: int | None) -> None:
    from payouts.services import tip_mark_disputed

    tip = _tip_for(obj) or Tip.objects.filter(stripe_charge_id=obj.get("charge") or "-").first()
    if tip:
        tip_mark_disputed(
            tip=tip, dispute_id=str(obj.get("id")), charge_id=str(obj.get("charge") or "")
        )


def _account_updated(obj: dict[str, Any], created: int | None) -> None:
    from payouts.services import connected_account_sync

    connected_account_sync(data=obj, event_created=created)


def _payout_paid(obj: dict[str, Any], created: int | None) -> None:
    """A payout from the platform balance to the platform's bank."""
    currency = str(obj["currency"]).upper()
    ledger.journal_post(
        kind=Journal.Kind.PAYOUT,
        currency=currency,
        idempotency_key=f"payout:{obj['id']}",
        description=f"payout {obj['id']}",
        stripe_payout_id=str(obj["id"]),
        lines=[
            Line(ledger.account(Kind.PLATFORM_BALANCE, currency), -int(obj["amount"])),
            Line(ledger.account(Kind.BANK_PAYOUTS, currency), int(obj["amount"])),
        ],
    )


def _transfer_reversed(obj: dict[str, Any], created: int | None) -> None:
    from payouts.reconciliation import reconcile_transfer

    reconcile_transfer(obj)


HANDLERS: dict[str, Handler] = {
    "payment_intent.succeeded": _payment_intent_succeeded,
    "payment_intent.payment_failed": _payment_intent_failed,
    "payment_intent.requires_action": _payment_intent_requires_action,
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute_created,
    "account.updated": _account_updated,
    "payout.paid": _payout_paid,
    "transfer.reversed": _transfer_reversed,
}


def event_handle(*, event_id: str, type_: str, obj: dict[str, Any], created: int | None) -> bool:
    """Apply one provider event exactly once. Returns False for a replay or an unknown type."""
    handler = HANDLERS.get(type_)
    if handler is None:
        return False
    try:
        with transaction.atomic():
            _, new = HandledEvent.objects.get_or_create(event_id=event_id, defaults={"type": type_})
            if not new:
                return False
            handler(obj, created)
    except IntegrityError:
        return False  # the same event handled concurrently: the primary key let one through
    return True


def _on_djstripe_event(sender: Any, event: Any, **kwargs: Any) -> None:
    data = event.data or {}
    created = int(event.created.timestamp()) if getattr(event, "created", None) else None
    event_handle(event_id=event.id, type_=event.type, obj=data.get("object") or {}, created=created)


def connect() -> None:
    from djstripe import event_handlers
    from djstripe.models import Event
    from djstripe.signals import WEBHOOK_SIGNALS

    djstripe_handlers = [
        getattr(event_handlers, name) for name in dir(event_handlers) if name.startswith("handle_")
    ]
    for type_ in HANDLERS:
        signal = WEBHOOK_SIGNALS[type_]
        for handler in djstripe_handlers:
            signal.disconnect(handler, sender=Event)
        signal.connect(_on_djstripe_event, sender=Event, dispatch_uid=f"payouts:{type_}")


# --- Tickets ----------------------------------------------------------------------------------
# Ticket payments and refunds share event types with tips; each handler acts only on objects
# that belong to it (by metadata, payment intent or refund id), so both run for every event.


def _ticket_for(obj: dict[str, Any]) -> Any:
    from payouts.models import Ticket

    uuid = (obj.get("metadata") or {}).get("ticket")
    if uuid:
        ticket = Ticket.objects.filter(uuid=uuid).first()
        if ticket:
            return ticket
    if obj.get("object") == "refund" and obj.get("id"):
        ticket = Ticket.objects.filter(stripe_refund_id=obj["id"]).first()
        if ticket:
            return ticket
    pi = obj.get("payment_intent") if obj.get("object") != "payment_intent" else obj.get("id")
    if pi:
        return Ticket.objects.filter(stripe_payment_intent_id=pi).first()
    return None


def _ticket_payment_intent_succeeded(obj: dict[str, Any], created: int | None) -> None:
    from payouts.services.tickets import ticket_mark_paid

    ticket = _ticket_for(obj)
    if ticket:
        ticket_mark_paid(ticket=ticket, charge_id=str(obj.get("latest_charge") or ""))


def _ticket_payment_intent_failed(obj: dict[str, Any], created: int | None) -> None:
    from payouts.services.tickets import ticket_mark_failed

    ticket = _ticket_for(obj)
    if ticket:
        error = obj.get("last_payment_error") or {}
        ticket_mark_failed(ticket=ticket, code=str(error.get("code") or "payment_failed"))


def _ticket_payment_intent_requires_action(obj: dict[str, Any], created: int | None) -> None:
    from payouts.services.tickets import ticket_mark_requires_action

    ticket = _ticket_for(obj)
    if ticket:
        ticket_mark_requires_action(ticket=ticket)


def _ticket_charge_refunded(obj: dict[str, Any], created: int | None) -> None:
    from payouts.services.tickets import ticket_mark_refunded

    ticket = _ticket_for(obj)
    if ticket and obj.get("refunded"):
        ticket_mark_refunded(ticket=ticket, charge_id=str(obj.get("id") or ""))
    elif ticket:
        logger.warning("partial refund of ticket %s is not modelled", ticket.uuid)


def _ticket_refund_updated(obj: dict[str, Any], created: int | None) -> None:
    """refund.updated / refund.failed / charge.refund.updated: a refund settled or failed."""
    from payouts.services.tickets import ticket_apply_refund

    ticket = _ticket_for(obj)
    if ticket:
        ticket_apply_refund(ticket=ticket, refund=obj)


def _ticket_dispute_created(obj: dict[str, Any], created: int | None) -> None:
    from payouts.models import Ticket
    from payouts.services.tickets import ticket_mark_disputed

    ticket = (
        _ticket_for(obj) or Ticket.objects.filter(stripe_charge_id=obj.get("charge") or "-").first()
    )
    if ticket:
        ticket_mark_disputed(
            ticket=ticket, dispute_id=str(obj.get("id")), charge_id=str(obj.get("charge") or "")
        )


def _also(first: Handler | None, second: Handler) -> Handler:
    if first is None:
        return second

    def both(obj: dict[str, Any], created: int | None) -> None:
        first(obj, created)
        second(obj, created)

    return both


TICKET_HANDLERS: dict[str, Handler] = {
    "payment_intent.succeeded": _ticket_payment_intent_succeeded,
    "payment_intent.payment_failed": _ticket_payment_intent_failed,
    "payment_intent.requires_action": _ticket_payment_intent_requires_action,
    "charge.refunded": _ticket_charge_refunded,
    "refund.updated": _ticket_refund_updated,
    "refund.failed": _ticket_refund_updated,
    "charge.refund.updated": _ticket_refund_updated,
    "charge.dispute.created": _ticket_dispute_created,
}
for _type, _handler in TICKET_HANDLERS.items():
    HANDLERS[_type] = _also(HANDLERS.get(_type), _handler)
