"""Refunds and disputes, generic over what was charged (tips, club memberships, tickets, ...).

A charge says what it paid for in its metadata (``kind`` = ``tip`` / ``membership`` /
``ticket`` ...). Each kind registers a ``ChargeKind`` here: how to make sure the original
payment is booked (a refund can overtake the payment's own event), and what to do to its own
state machine when the charge is fully refunded or disputed. The money side is the same for
every kind and is derived from the original payment journal (found by charge id):

* **Refund** (cumulative ``amount_refunded`` R of a charge C whose journal gave the creator S):
  the transfer to the connected account is reversed in proportion, ``share(S, R, C)``, and the
  rest of the refund comes out of the platform balance (the application fee, refunded in
  proportion; Stripe keeps its processing fee). Each new cumulative amount books only the
  difference from what is already booked for the charge, so partial refunds, replays and
  out-of-order ``charge.refunded`` events add up exactly to the refunded total.
* **Dispute, funds withdrawn**: ``platform_balance -A``, ``disputes +A`` (the platform absorbs
  chargebacks; recovering them from a creator is a staff correction).
* **Dispute, funds reinstated** (won): the reverse. Reinstating implies the withdrawal, which is
  booked first if its event has not been seen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Sum

from payouts import fees, ledger
from payouts.ledger import Kind, Line
from payouts.models import Entry, Journal

logger = logging.getLogger(__name__)

PAYMENT_KINDS = (Journal.Kind.TIP, Journal.Kind.TICKET, Journal.Kind.MEMBERSHIP)
REFUND_KINDS = (Journal.Kind.TIP_REFUND, Journal.Kind.TICKET_REFUND, Journal.Kind.REFUND)
DISPUTE_KINDS = (Journal.Kind.TIP_DISPUTE, Journal.Kind.TICKET_DISPUTE, Journal.Kind.DISPUTE)


@dataclass(frozen=True)
class ChargeKind:
    """What a kind of charge does beyond the ledger; every hook is idempotent."""

    ensure_booked: Callable[[dict[str, Any]], None]  # (charge) -> the payment journal exists
    refunded: Callable[[dict[str, Any]], None] | None = None  # (charge) fully refunded
    disputed: Callable[[dict[str, Any], dict[str, Any]], None] | None = None  # (charge, dispute)
    refund_journal_kind: str = Journal.Kind.REFUND
    dispute_journal_kind: str = Journal.Kind.DISPUTE


CHARGE_KINDS: dict[str, ChargeKind] = {}


def charge_kind_register(name: str, kind: ChargeKind) -> None:
    CHARGE_KINDS[name] = kind


def payment_journal_for_charge(charge_id: str) -> Journal | None:
    if not charge_id:
        return None
    return Journal.objects.filter(stripe_charge_id=charge_id, kind__in=PAYMENT_KINDS).first()


def _kind_of(charge: dict[str, Any]) -> ChargeKind | None:
    """By the charge's `kind` metadata; an unlabelled charge (or one whose metadata could not be
    fetched) by its payment journal, whose kind names the charge kind (tip, ticket,
    membership)."""
    name = str((charge.get("metadata") or {}).get("kind") or "")
    if not name:
        payment = payment_journal_for_charge(str(charge.get("id") or ""))
        name = payment.kind if payment is not None else ""
    return CHARGE_KINDS.get(name)


def _entries_total(journal: Journal, account_kind: str) -> tuple[int, int | None]:
    """(sum, creator id) of a journal's entries on one kind of account."""
    rows = list(
        Entry.objects.filter(journal=journal, account__kind=account_kind).values_list(
            "amount", "account__creator_id"
        )
    )
    return sum(r[0] for r in rows), (rows[0][1] if rows else None)


def refunded_booked(charge_id: str) -> int:
    total = Entry.objects.filter(
        journal__stripe_charge_id=charge_id,
        journal__kind__in=REFUND_KINDS,
        account__kind=Kind.REFUNDS,
    ).aggregate(total=Sum("amount"))["total"]
    return int(total or 0)


def charge_refunds_book(
    *,
    charge_id: str,
    amount_refunded: int,
    refund_id: str = "",
    journal_kind: str = Journal.Kind.REFUND,
) -> Journal | None:
    """Book the refunds of a charge up to its cumulative `amount_refunded` (once). Returns the
    new journal, or None when nothing was left to book (a replay, an older event) or the
    original payment is unknown to the ledger (reconciliation reports it)."""
    with transaction.atomic():
        payment = payment_journal_for_charge(charge_id)
        if payment is None:
            logger.warning("refund of unknown charge %s not booked", charge_id)
            return None
        # One refund booking per charge at a time: the payment journal row is the lock
        # (SELECT ... FOR UPDATE takes a row lock; the append-only triggers fire on UPDATE only).
        list(Journal.objects.select_for_update().filter(pk=payment.pk).values_list("pk"))
        charged = -_entries_total(payment, Kind.CUSTOMER_PAYMENTS)[0]
        share, creator_id = _entries_total(payment, Kind.CREATOR_PAYABLE)
        target = min(int(amount_refunded), charged)
        booked = refunded_booked(charge_id)
        if target <= booked:
            return None
        creator_back = fees.proportional_share(share, target, charged) - fees.proportional_share(
            share, booked, charged
        )
        amount = target - booked
        c = payment.currency
        lines = [
            Line(ledger.account(Kind.REFUNDS, c), amount),
            Line(ledger.account(Kind.PLATFORM_BALANCE, c), -(amount - creator_back)),
        ]
        if creator_id is not None:
            lines.append(Line(ledger.account(Kind.CREATOR_PAYABLE, c, creator_id), -creator_back))
        return ledger.journal_post(
            kind=journal_kind,
            currency=c,
            idempotency_key=f"refund:{charge_id}:{target}",
            description=f"refund of {payment.kind} charge {charge_id}: {booked} -> {target}",
            stripe_payment_intent_id=payment.stripe_payment_intent_id,
            stripe_charge_id=charge_id,
            stripe_refund_id=refund_id,
            lines=lines,
        )


def dispute_funds_withdrawn_book(
    *,
    dispute_id: str,
    charge_id: str,
    amount: int,
    currency: str,
    journal_kind: str = Journal.Kind.DISPUTE,
) -> Journal:
    c = currency.upper()
    payment = payment_journal_for_charge(charge_id)
    return ledger.journal_post(
        kind=journal_kind,
        currency=c,
        idempotency_key=f"dispute:{dispute_id}:withdrawn",
        description=f"dispute {dispute_id} on charge {charge_id}: funds withdrawn",
        stripe_payment_intent_id=payment.stripe_payment_intent_id if payment else "",
        stripe_charge_id=charge_id,
        stripe_dispute_id=dispute_id,
        lines=[
            Line(ledger.account(Kind.PLATFORM_BALANCE, c), -amount),
            Line(ledger.account(Kind.DISPUTES, c), amount),
        ],
    )


def dispute_funds_reinstated_book(
    *,
    dispute_id: str,
    charge_id: str,
    amount: int,
    currency: str,
    withdrawn_journal_kind: str = Journal.Kind.DISPUTE,
) -> Journal:
    c = currency.upper()
    with transaction.atomic():
        withdrawn = Journal.objects.filter(
            idempotency_key=f"dispute:{dispute_id}:withdrawn"
        ).first()
        if withdrawn is None:  # the reinstatement overtook the withdrawal: it implies it
            dispute_funds_withdrawn_book(
                dispute_id=dispute_id,
                charge_id=charge_id,
                amount=amount,
                currency=c,
                journal_kind=withdrawn_journal_kind,
            )
        return ledger.journal_post(
            kind=Journal.Kind.DISPUTE_REINSTATED,
            currency=c,
            idempotency_key=f"dispute:{dispute_id}:reinstated",
            description=f"dispute {dispute_id} on charge {charge_id}: funds reinstated",
            stripe_charge_id=charge_id,
            stripe_dispute_id=dispute_id,
            lines=[
                Line(ledger.account(Kind.PLATFORM_BALANCE, c), amount),
                Line(ledger.account(Kind.DISPUTES, c), -amount),
            ],
        )


# --- webhook entry points (charge.refunded, charge.dispute.*) ----------------------------------


def charge_refunded_apply(*, charge: dict[str, Any]) -> None:
    kind = _kind_of(charge)
    if kind is not None:
        kind.ensure_booked(charge)
    journal_kind = kind.refund_journal_kind if kind else Journal.Kind.REFUND
    charge_refunds_book(
        charge_id=str(charge["id"]),
        amount_refunded=int(charge.get("amount_refunded") or 0),
        journal_kind=journal_kind,
    )
    if kind is not None and kind.refunded is not None and charge.get("refunded"):
        kind.refunded(charge)


def _charge_of_dispute(dispute: dict[str, Any]) -> dict[str, Any]:
    from payouts.provider import ProviderError, get_provider

    charge_id = str(dispute.get("charge") or "")
    try:
        return get_provider().charge_retrieve(charge_id)
    except ProviderError:
        # Without the charge's metadata the ledger still books the money; the payment journal
        # (found by charge id) keeps the link.
        return {"id": charge_id, "metadata": {}}


def dispute_funds_withdrawn_apply(*, dispute: dict[str, Any]) -> None:
    charge = _charge_of_dispute(dispute)
    kind = _kind_of(charge)
    if kind is not None:
        kind.ensure_booked(charge)
    dispute_funds_withdrawn_book(
        dispute_id=str(dispute["id"]),
        charge_id=str(charge["id"]),
        amount=int(dispute["amount"]),
        currency=str(dispute["currency"]),
        journal_kind=kind.dispute_journal_kind if kind else Journal.Kind.DISPUTE,
    )
    if kind is not None and kind.disputed is not None:
        kind.disputed(charge, dispute)


def dispute_funds_reinstated_apply(*, dispute: dict[str, Any]) -> None:
    kind = _kind_of(_charge_of_dispute(dispute))
    dispute_funds_reinstated_book(
        dispute_id=str(dispute["id"]),
        charge_id=str(dispute.get("charge") or ""),
        amount=int(dispute["amount"]),
        currency=str(dispute["currency"]),
        withdrawn_journal_kind=kind.dispute_journal_kind if kind else Journal.Kind.DISPUTE,
    )


# --- tips as a kind of charge -------------------------------------------------------------------


def _tip_of(charge: dict[str, Any]) -> Any:
    from payouts.models import Tip

    uuid = (charge.get("metadata") or {}).get("tip")
    tip = Tip.objects.filter(uuid=uuid).first() if uuid else None
    return tip or Tip.objects.filter(stripe_charge_id=str(charge.get("id") or "-")).first()


def _tip_ensure_booked(charge: dict[str, Any]) -> None:
    from payouts.models import Tip
    from payouts.services.tips import tip_mark_succeeded

    tip = _tip_of(charge)
    if tip is not None and tip.status in {Tip.Status.CREATED, Tip.Status.REQUIRES_ACTION}:
        tip_mark_succeeded(tip=tip, charge_id=str(charge.get("id") or ""))


def _tip_refunded(charge: dict[str, Any]) -> None:
    from payouts.services.tips import tip_mark_refunded

    tip = _tip_of(charge)
    if tip is not None:
        tip_mark_refunded(tip=tip, charge_id=str(charge.get("id") or ""))


def _tip_disputed(charge: dict[str, Any], dispute: dict[str, Any]) -> None:
    from payouts.services.tips import tip_mark_disputed

    tip = _tip_of(charge)
    if tip is not None:
        tip_mark_disputed(tip=tip, dispute_id=str(dispute["id"]), charge_id=str(charge["id"]))


charge_kind_register(
    "tip",
    ChargeKind(
        ensure_booked=_tip_ensure_booked,
        refunded=_tip_refunded,
        disputed=_tip_disputed,
        refund_journal_kind=Journal.Kind.TIP_REFUND,
        dispute_journal_kind=Journal.Kind.TIP_DISPUTE,
    ),
)
