"""Membership invoices: the money (booked once per paid invoice), failures, staff refunds."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Sum

from clubhouse.errors import Conflict, InvalidInput, PermissionDenied
from payouts import fees
from payouts.audit import audit
from payouts.models import ChargeRefund, ClubSubscription, Journal, MembershipInvoice
from payouts.provider import ProviderError, get_provider
from payouts.services.charges import (
    ChargeKind,
    Sale,
    charge_mark_paid,
    refund_events_apply,
    refunded_booked,
)
from payouts.services.memberships._common import _ts

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)


# --- invoices: the money ----------------------------------------------------------------------


def _invoice_subscription_id(invoice: dict[str, Any]) -> str:
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or {}
    sub = details.get("subscription") or invoice.get("subscription") or ""
    return str(sub.get("id") if isinstance(sub, dict) else sub)


def _invoice_sub(invoice: dict[str, Any]) -> ClubSubscription | None:
    sub = ClubSubscription.objects.filter(
        stripe_subscription_id=_invoice_subscription_id(invoice) or "-"
    ).first()
    if sub is None:
        meta = ((invoice.get("parent") or {}).get("subscription_details") or {}).get("metadata")
        uuid = (meta or {}).get("club_subscription")
        if uuid:
            sub = ClubSubscription.objects.filter(uuid=uuid).first()
    return sub


def membership_invoice_paid(*, invoice: dict[str, Any]) -> MembershipInvoice | None:
    """Book a paid membership invoice once (`membership:<invoice id>`): the card paid C, the
    club owner's connected account gets C - F (F = the application fee), the platform keeps F
    and pays Stripe's processing fee P from it."""
    # The provider's current invoice; if it cannot be reached, the event's snapshot says it was
    # paid and the amounts come from the payment intent below.
    with contextlib.suppress(ProviderError):
        invoice = get_provider().invoice_retrieve(str(invoice["id"]))
    if invoice.get("status") != "paid":
        return None
    sub = _invoice_sub(invoice)
    if sub is None:
        logger.warning("paid invoice %s is not a club membership of ours", invoice.get("id"))
        return None
    existing = MembershipInvoice.objects.filter(
        stripe_invoice_id=str(invoice["id"]), status=MembershipInvoice.Status.PAID
    ).first()
    if existing is not None:
        return existing
    intent = _paid_intent(invoice)
    if intent is None:
        logger.warning("paid invoice %s has no payment intent", invoice.get("id"))
        return None
    charged = int(intent.get("amount_received") or intent["amount"])
    app_fee = int(intent.get("application_fee_amount") or 0)
    currency = str(intent["currency"]).upper()
    processing = fees.processing_fee(charged, currency)
    charge_id = str(intent.get("latest_charge") or "")
    with transaction.atomic():
        list(ClubSubscription.objects.select_for_update().filter(pk=sub.pk).values_list("pk"))
        row, _ = MembershipInvoice.objects.select_for_update().get_or_create(
            stripe_invoice_id=str(invoice["id"]),
            defaults={"subscription": sub, "amount": charged, "currency": currency},
        )
        if row.status == MembershipInvoice.Status.PAID:
            return row
        # What the provider charged, then the one lifecycle's paid transition (services/
        # charges.py), which books the sale from `_membership_sale`.
        row.amount, row.currency = charged, currency
        row.application_fee, row.processing_fee = app_fee, processing
        row.stripe_payment_intent_id = str(intent["id"])
        row.attempt_count = int(invoice.get("attempt_count") or row.attempt_count or 1)
        row.period_start = _ts(invoice.get("period_start"))
        row.period_end = _ts(invoice.get("period_end"))
        row.paid_at = _ts((invoice.get("status_transitions") or {}).get("paid_at"))
        row.save()
        row = charge_mark_paid(row, charge_id=charge_id)
        if charge_id:
            metadata = {"kind": "membership", "membership_invoice": str(invoice["id"]),
                        "club_subscription": str(sub.uuid)}  # fmt: skip
            transaction.on_commit(lambda: _label_charge(charge_id, metadata))
    return row


def _membership_sale(row: MembershipInvoice) -> Sale:
    """The card paid C, the club owner's connected account gets C - F (F = the application
    fee), the platform keeps F and pays Stripe's processing fee P from it."""
    sub = row.subscription
    return Sale(
        journal_kind=Journal.Kind.MEMBERSHIP,
        idempotency_key=f"membership:{row.stripe_invoice_id}",
        description=f"club {sub.club_id} membership of user {sub.user_id}, "
        f"invoice {row.stripe_invoice_id}",
        creator_id=sub.creator_id,
        creator_share=row.amount - row.application_fee,
        processing_fee=row.processing_fee,
    )


def _label_charge(charge_id: str, metadata: dict[str, str]) -> None:
    """Invoice charges carry no metadata of their own: label them, so refunds and disputes of
    the charge know what it paid for (the ledger also finds the payment by charge id)."""
    try:
        get_provider().charge_metadata_update(charge=charge_id, metadata=metadata)
    except ProviderError:
        logger.warning("could not label charge %s", charge_id)


def _paid_intent(invoice: dict[str, Any]) -> dict[str, Any] | None:
    payments = ((invoice.get("payments") or {}).get("data")) or []
    paid = [p for p in payments if p.get("status") == "paid"] or payments
    for payment in reversed(paid):
        pi = (payment.get("payment") or {}).get("payment_intent")
        if isinstance(pi, dict):
            return pi
        if pi:
            return get_provider().payment_intent_retrieve(str(pi))
    return None


def membership_invoice_attempt_failed(*, invoice: dict[str, Any]) -> ClubSubscription | None:
    """A payment attempt failed: note it on the invoice. Returns the subscription, whose access
    follows its own status (past_due starts the grace period): the caller re-syncs it
    (`subscriptions.membership_invoice_failed`), in case its own event is late."""
    sub = _invoice_sub(invoice)
    if sub is None:
        return None
    with transaction.atomic():
        row, _ = MembershipInvoice.objects.select_for_update().get_or_create(
            stripe_invoice_id=str(invoice["id"]),
            defaults={
                "subscription": sub,
                "amount": int(invoice.get("amount_due") or 0),
                "currency": str(invoice.get("currency") or sub.currency).upper(),
            },
        )
        if row.status == MembershipInvoice.Status.OPEN:
            row.attempt_count = max(row.attempt_count, int(invoice.get("attempt_count") or 0))
            row.save(update_fields=["attempt_count", "updated"])
    return sub


# --- memberships as a kind of charge (refunds, disputes) ------------------------------------


def _membership_ensure_paid(charge: dict[str, Any]) -> None:
    """Stripe makes the invoice's payment: news of its charge books the invoice from Stripe's
    invoice (named in the charge's metadata, which `_label_charge` wrote)."""
    invoice_id = (charge.get("metadata") or {}).get("membership_invoice")
    if invoice_id:
        membership_invoice_paid(invoice={"id": invoice_id})


def membership_invoice_refund(
    *, invoice: MembershipInvoice, actor: User, amount: int | None = None, reason: str = ""
) -> MembershipInvoice:
    """Staff refund a paid membership invoice, in full or in part. The transfer to the club
    owner and the application fee are reversed in proportion. The ledger books the refund when
    it has succeeded (now if the provider's answer says so, else from its webhook); a pending
    or failed refund shows in admin (Charge refunds) and what it holds cannot be refunded
    twice. Access is not changed: cancel the subscription for that."""
    if not actor.is_staff:
        raise PermissionDenied("Only staff can refund.", code="staff_required")
    if invoice.status != MembershipInvoice.Status.PAID or not invoice.stripe_payment_intent_id:
        raise Conflict("Only a paid invoice can be refunded.", code="illegal_transition")
    refunded_before = _refunded_total(invoice)
    if amount is not None and not 0 < amount <= invoice.amount - refunded_before:
        raise InvalidInput(
            "That is more than what is left to refund.",
            code="refund_amount_invalid",
            fields={"amount": ["out of range"]},
        )
    if amount is None and refunded_before >= invoice.amount:
        raise Conflict("This invoice is refunded already.", code="already_refunded")
    target = refunded_before + (amount if amount is not None else invoice.amount - refunded_before)
    # A failed or canceled refund is final at Stripe: a retry of the same amount is a new
    # request (a new key), while a replay of this attempt returns the same refund.
    attempt = ChargeRefund.objects.filter(
        stripe_charge_id=invoice.stripe_charge_id or "-", status__in=ChargeRefund.FINAL
    ).count()
    suffix = f"-a{attempt + 1}" if attempt else ""
    refund = get_provider().refund_create(
        payment_intent=invoice.stripe_payment_intent_id,
        amount=target - refunded_before,
        idempotency_key=f"membership-refund-{invoice.stripe_invoice_id}-{target}{suffix}",
    )
    with transaction.atomic():
        refund_events_apply(refund=refund, charge_kind="membership")
        audit(invoice, "refund_requested", actor=actor,
              note=f"{refund['id']} {refund.get('status')}: {target - refunded_before} "
              f"{invoice.currency}", reason=reason)  # fmt: skip
    return invoice


def _refunded_total(invoice: MembershipInvoice) -> int:
    """Booked (succeeded) refunds plus the pending ones, which the provider holds."""
    if not invoice.stripe_charge_id:
        return 0
    pending = ChargeRefund.objects.filter(
        stripe_charge_id=invoice.stripe_charge_id, status=ChargeRefund.Status.PENDING
    ).aggregate(total=Sum("amount"))["total"]
    return refunded_booked(invoice.stripe_charge_id) + int(pending or 0)


def _membership_refund_retry(
    row: MembershipInvoice, refund: ChargeRefund, actor: Any, reason: str = ""
) -> None:
    membership_invoice_refund(invoice=row, actor=actor, amount=refund.amount, reason=reason)


MEMBERSHIP_CHARGES = ChargeKind(
    model=MembershipInvoice,
    sale=_membership_sale,
    ensure_paid=_membership_ensure_paid,
    refund_retry=_membership_refund_retry,
)
