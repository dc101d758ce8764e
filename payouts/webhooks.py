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
from djstripe import event_handlers
from djstripe.models import Event
from djstripe.signals import WEBHOOK_SIGNALS

from payouts import ledger
from payouts.ledger import Kind, Line
from payouts.models import ConnectedAccount, Discrepancy, HandledEvent, Journal
from payouts.reconciliation import reconcile_transfer
from payouts.services import bank_payouts, charges, creators, funding, memberships

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], int | None], None]


# Payment intents belong to a tip or a ticket (club memberships follow their invoices): the
# intent's `kind` metadata names which, and the one payment lifecycle moves the row
# (services/charges.py).


def _payment_intent(implied_status: str) -> Handler:
    """`payment_intent.succeeded` / `.payment_failed` / `.requires_action`: the intent's status
    (the one its event implies, if the object carries none) says where its row goes; an earlier
    attempt's news is recorded, not applied."""

    def handle(obj: dict[str, Any], created: int | None) -> None:
        charges.payment_intent_apply(intent={**obj, "status": obj.get("status") or implied_status})

    return handle


def _charge_refunded(obj: dict[str, Any], created: int | None) -> None:
    """Any charge (tip, membership, ticket ...), full or partial: see services/charges.py."""
    charges.charge_refunded_apply(charge=obj)


def _refund_updated(obj: dict[str, Any], created: int | None) -> None:
    """`refund.updated` / `refund.failed` / `charge.refund.updated`: a refund of any kind of
    charge settled, failed or was canceled: booked when it succeeds, reversed if it fails after
    that; the charge's kind moves its own state (services/charges.py)."""
    charges.refund_events_apply(refund=obj)


def _dispute_funds_withdrawn(obj: dict[str, Any], created: int | None) -> None:
    """`charge.dispute.created` and `charge.dispute.funds_withdrawn` book the same journal once."""
    charges.dispute_funds_withdrawn_apply(dispute=obj)


def _account_updated(obj: dict[str, Any], created: int | None) -> None:
    creators.connected_account_sync(data=obj, event_created=created)


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


def _topup_succeeded(obj: dict[str, Any], created: int | None) -> None:
    """The platform's bank topped up its Stripe balance: one `funding` journal per top-up."""
    funding.topup_book(topup=obj, reason="Stripe event topup.succeeded")


def _topup_reversed(obj: dict[str, Any], created: int | None) -> None:
    """Stripe took a succeeded top-up back: the exact negation of its journal, if it was booked."""
    funding.topup_reverse(topup=obj, reason="Stripe event topup.reversed")


def _transfer_reversed(obj: dict[str, Any], created: int | None) -> None:
    reconcile_transfer(obj)


# --- paid clubs, dispute outcomes, payouts -----------------------------------------------------


def _subscription_changed(obj: dict[str, Any], created: int | None) -> None:
    memberships.club_subscription_sync(subscription_id=str(obj["id"]), snapshot=obj)


def _invoice_paid(obj: dict[str, Any], created: int | None) -> None:
    memberships.membership_invoice_paid(invoice=obj)


def _invoice_payment_failed(obj: dict[str, Any], created: int | None) -> None:
    memberships.membership_invoice_failed(invoice=obj)


def _dispute_funds_reinstated(obj: dict[str, Any], created: int | None) -> None:
    charges.dispute_funds_reinstated_apply(dispute=obj)


def _platform_payout_failed(obj: dict[str, Any], created: int | None) -> None:
    bank_payouts.platform_payout_failed(data=obj)


def _connected_payout(obj: dict[str, Any], created: int | None, account: str) -> None:
    bank_payouts.connected_payout_apply(data=obj, account_id=account)


# Events that happened on a creator's connected account (the event's `account`).
CONNECT_HANDLERS: dict[str, Callable[[dict[str, Any], int | None, str], None]] = {
    "payout.paid": _connected_payout,
    "payout.failed": _connected_payout,
    "payout.canceled": _connected_payout,
}


HANDLERS: dict[str, Handler] = {
    "payment_intent.succeeded": _payment_intent("succeeded"),
    "payment_intent.payment_failed": _payment_intent("requires_payment_method"),
    "payment_intent.requires_action": _payment_intent("requires_action"),
    "charge.refunded": _charge_refunded,
    "refund.created": _refund_updated,
    "refund.updated": _refund_updated,
    "refund.failed": _refund_updated,
    "charge.refund.updated": _refund_updated,
    "charge.dispute.created": _dispute_funds_withdrawn,
    "account.updated": _account_updated,
    "payout.paid": _payout_paid,
    "transfer.reversed": _transfer_reversed,
    "customer.subscription.created": _subscription_changed,
    "customer.subscription.updated": _subscription_changed,
    "customer.subscription.deleted": _subscription_changed,
    "invoice.paid": _invoice_paid,
    "invoice.payment_failed": _invoice_payment_failed,
    "charge.dispute.funds_withdrawn": _dispute_funds_withdrawn,
    "charge.dispute.funds_reinstated": _dispute_funds_reinstated,
    "payout.failed": _platform_payout_failed,
    "payout.canceled": lambda obj, created: None,  # platform side: nothing was booked
    "topup.succeeded": _topup_succeeded,
    "topup.reversed": _topup_reversed,
}


def event_handle(
    *,
    event_id: str,
    type_: str,
    obj: dict[str, Any],
    created: int | None,
    account: str | None = None,
) -> bool:
    """Apply one provider event exactly once. Returns False for a replay or an unknown type.
    `account` is the connected account a Connect event happened on."""
    handler: Handler | None = HANDLERS.get(type_)
    if account and type_ in CONNECT_HANDLERS:
        if not ConnectedAccount.objects.filter(stripe_account_id=account).exists():
            # Never the platform's own handler: a payout on someone else's account is not a
            # payout of the platform balance. Staff see it; the event stays unhandled, so a
            # replay once the account is connected (or explained) applies it.
            _unknown_account_flag(event_id=event_id, type_=type_, obj=obj, account=account)
            return False
        connect_handler = CONNECT_HANDLERS[type_]
        handler = lambda o, c: connect_handler(o, c, account)  # noqa: E731
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


def _unknown_account_flag(*, event_id: str, type_: str, obj: dict[str, Any], account: str) -> None:
    logger.warning("%s %s: %s from account %s, which is not one of ours; not booked",
                   event_id, type_, obj.get("id"), account)  # fmt: skip
    amount = obj.get("amount")
    Discrepancy.objects.get_or_create(
        kind=Discrepancy.Kind.UNKNOWN_ACCOUNT,
        object_type=str(obj.get("object") or type_.split(".")[0])[:32],
        external_id=str(obj.get("id") or event_id),
        defaults={
            "provider_amount": int(amount) if isinstance(amount, int) else None,
            "provider_currency": str(obj.get("currency") or "").upper()[:3],
            "detail": f"{type_} (event {event_id}) on account {account}, which is not a "
            "connected account of ours: not booked; the event is kept unhandled.",
        },
    )


def _on_djstripe_event(sender: Any, event: Any, **kwargs: Any) -> None:
    data = event.data or {}
    created = int(event.created.timestamp()) if getattr(event, "created", None) else None
    # A Connect event names its connected account in the event itself. dj-stripe's owner
    # account is no substitute: for the platform's own events it is the platform account.
    raw = getattr(event, "stripe_data", None) or {}
    account = raw.get("account") if isinstance(raw, dict) else None
    event_handle(
        event_id=event.id,
        type_=event.type,
        obj=data.get("object") or {},
        created=created,
        account=str(account or "") or None,
    )


# Types the stand-in (and Stripe) send around subscriptions and payouts that we do not act on:
# dj-stripe would mirror them and fetch related objects from Stripe; our tables are the source
# of truth, so its handlers are disconnected for them too and the event is only stored.
MIRROR_DISABLED = frozenset({
    "invoice.finalized",
    "invoice.payment_succeeded",
    "invoice.payment_action_required",
    "charge.dispute.closed",
    "payout.created",
})  # fmt: skip


def connect() -> None:
    djstripe_handlers = [
        getattr(event_handlers, name) for name in dir(event_handlers) if name.startswith("handle_")
    ]
    for type_ in {*HANDLERS, *CONNECT_HANDLERS}:
        signal = WEBHOOK_SIGNALS[type_]
        for handler in djstripe_handlers:
            signal.disconnect(handler, sender=Event)
        signal.connect(_on_djstripe_event, sender=Event, dispatch_uid=f"payouts:{type_}")
    for type_ in MIRROR_DISABLED:
        for handler in djstripe_handlers:
            WEBHOOK_SIGNALS[type_].disconnect(handler, sender=Event)
