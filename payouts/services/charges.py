"""Refunds and disputes, generic over what was charged (tips, club memberships, tickets, ...).

A charge says what it paid for in its metadata (``kind`` = ``tip`` / ``membership`` /
``ticket`` ...). Each kind registers a ``ChargeKind`` here: how to make sure the original
payment is booked (a refund can overtake the payment's own event), and what to do to its own
state machine when the charge is fully refunded or disputed. The money side is the same for
every kind and is derived from the original payment journal (found by charge id):

* **Refund**: one ``ChargeRefund`` per provider refund, booked when it has succeeded (never
  from ``amount_refunded``, which counts pending refunds) and reversed by a new journal if it
  fails or is canceled after that (``refund_apply``). The transfer to the connected account is
  reversed in proportion to the cumulative net refunded, ``share(S, R, C)``, and the rest of the
  refund comes out of the platform balance (the application fee, refunded in proportion;
  Stripe keeps its processing fee), so refunds booked one by one add up exactly.
* **Dispute, funds withdrawn**: ``platform_balance -A``, ``disputes +A`` (the platform absorbs
  chargebacks; recovering them from a creator is a staff correction).
* **Dispute, funds reinstated** (won): the reverse. Reinstating implies the withdrawal, which is
  booked first if its event has not been seen.
* **Dispute fee**: Stripe's fee on the dispute's balance transactions, a platform expense
  (``dispute_fees``), returned when the dispute is won.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Sum

from payouts import fees, ledger
from payouts.audit import audit
from payouts.ledger import Kind, Line
from payouts.models import ChargeRefund, Entry, Journal

logger = logging.getLogger(__name__)

PAYMENT_KINDS = (Journal.Kind.TIP, Journal.Kind.TICKET, Journal.Kind.MEMBERSHIP)
REFUND_KINDS = (Journal.Kind.TIP_REFUND, Journal.Kind.TICKET_REFUND, Journal.Kind.REFUND)
DISPUTE_KINDS = (Journal.Kind.TIP_DISPUTE, Journal.Kind.TICKET_DISPUTE, Journal.Kind.DISPUTE)


@dataclass(frozen=True)
class ChargeKind:
    """What a kind of charge does beyond the ledger; every hook is idempotent."""

    ensure_booked: Callable[[dict[str, Any]], None]  # (charge) -> the payment journal exists
    # (charge, refund, change): one of the charge's refunds changed (booked, reversed, news).
    refund_changed: Callable[[dict[str, Any], dict[str, Any], RefundChange], None] | None = None
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
    """Net refunds booked for a charge: refund journals minus the reversals of failed ones."""
    total = Entry.objects.filter(
        journal__stripe_charge_id=charge_id,
        journal__kind__in=(*REFUND_KINDS, Journal.Kind.REFUND_REVERSED),
        account__kind=Kind.REFUNDS,
    ).aggregate(total=Sum("amount"))["total"]
    return int(total or 0)


def _refund_journal_post(
    *, payment: Journal, refund_id: str, amount: int, journal_kind: str
) -> Journal | None:
    """Book `amount` more of the charge's refunds. The creator's share reverses in proportion
    to the cumulative net refunded (as Stripe reverses the transfer), so refunds booked one by
    one add up exactly. Caller holds the payment journal's lock."""
    charge_id = payment.stripe_charge_id
    charged = -_entries_total(payment, Kind.CUSTOMER_PAYMENTS)[0]
    share, creator_id = _entries_total(payment, Kind.CREATOR_PAYABLE)
    booked = refunded_booked(charge_id)
    target = min(booked + int(amount), charged)
    if target <= booked:
        logger.error("refund %s of charge %s exceeds what was charged", refund_id, charge_id)
        return None
    creator_back = fees.proportional_share(share, target, charged) - fees.proportional_share(
        share, booked, charged
    )
    booked_now = target - booked
    c = payment.currency
    lines = [
        Line(ledger.account(Kind.REFUNDS, c), booked_now),
        Line(ledger.account(Kind.PLATFORM_BALANCE, c), -(booked_now - creator_back)),
    ]
    if creator_id is not None:
        lines.append(Line(ledger.account(Kind.CREATOR_PAYABLE, c, creator_id), -creator_back))
    return ledger.journal_post(
        kind=journal_kind,
        currency=c,
        idempotency_key=f"refund:{refund_id}",
        description=f"refund {refund_id} of {payment.kind} charge {charge_id}: {booked} -> {target}",
        stripe_payment_intent_id=payment.stripe_payment_intent_id,
        stripe_charge_id=charge_id,
        stripe_refund_id=refund_id,
        lines=lines,
    )


def _refund_reversal_post(booked: Journal, refund_id: str, reason: str) -> Journal:
    """The exact negation of a refund's journal: a new balanced journal, never an edit."""
    lines = [
        Line(e.account, -e.amount)
        for e in Entry.objects.filter(journal=booked).select_related("account")
    ]
    creator_back = sum(line.amount for line in lines if line.account.kind == Kind.CREATOR_PAYABLE)
    if creator_back:
        # Stripe returns a failed refund to the platform balance; whether the transfer reversal
        # made with it comes back to the connected account is Stripe's to say. Staff check it
        # and, if it did not, transfer the creator's share back (the ledger says it is owed).
        from payouts.models import Discrepancy

        Discrepancy.objects.get_or_create(
            kind=Discrepancy.Kind.UNEXPECTED_REVERSAL, object_type="refund", external_id=refund_id,
            defaults={"ledger_amount": creator_back, "ledger_currency": booked.currency,
                      "detail": f"refund {refund_id} of charge {booked.stripe_charge_id} "
                      f"{reason} after it succeeded; its booking was reversed. Check that the "
                      f"creator's share ({creator_back}) came back to their connected account."},
        )  # fmt: skip
    return ledger.journal_post(
        kind=Journal.Kind.REFUND_REVERSED,
        currency=booked.currency,
        idempotency_key=f"refund:{refund_id}:reversed",
        description=f"refund {refund_id} {reason} after it was booked: reversed",
        stripe_payment_intent_id=booked.stripe_payment_intent_id,
        stripe_charge_id=booked.stripe_charge_id,
        stripe_refund_id=refund_id,
        lines=lines,
    )


@dataclass(frozen=True)
class RefundChange:
    refund: ChargeRefund
    booked: bool = False  # this call booked it (it succeeded)
    reversed: bool = False  # this call reversed its booking (it failed after succeeding)


def refund_apply(*, refund: dict[str, Any], charge_kind: str = "") -> RefundChange | None:
    """Move one provider refund's `ChargeRefund` to the status the provider reports, booking
    it when it succeeds and reversing that booking if it then fails or is canceled. Safe under
    replays and any order: `failed` / `canceled` are final, so a late `succeeded` is ignored.
    Returns None for an object that is not a refund of a charge."""
    refund_id = str(refund.get("id") or "")
    charge_id = str(refund.get("charge") or "")
    status = str(refund.get("status") or "")
    if not refund_id or not charge_id or status not in ChargeRefund.Status.values:
        return None
    R = ChargeRefund.Status
    with transaction.atomic():
        payment = payment_journal_for_charge(charge_id)
        if payment is not None:  # one refund booking per charge at a time
            list(Journal.objects.select_for_update().filter(pk=payment.pk).values_list("pk"))
        name = charge_kind or (payment.kind if payment is not None else "")
        row, _ = ChargeRefund.objects.get_or_create(
            stripe_refund_id=refund_id,
            defaults={
                "stripe_charge_id": charge_id,
                "charge_kind": name if name in CHARGE_KINDS else "",
                "amount": int(refund["amount"]),
                "currency": str(refund.get("currency") or "").upper(),
            },
        )
        row = ChargeRefund.objects.select_for_update().get(pk=row.pk)
        if status == row.status or status not in ChargeRefund.TRANSITIONS[row.status]:
            return RefundChange(row)  # a replay, or older news than what we know
        previous = row.status
        change = RefundChange(row)
        if status == R.SUCCEEDED:
            if payment is None:
                # The payment is not booked yet (its kind books it first, see refund_events_
                # apply); the row stays pending so the next news of it books it.
                logger.warning("refund %s of unknown charge %s not booked", refund_id, charge_id)
                return RefundChange(row)
            kind = CHARGE_KINDS.get(row.charge_kind)
            # Booked before this rule (key `refund:<charge>:<cumulative>`, with the refund id
            # on ticket and membership refunds): that journal is this refund's booking.
            legacy = Journal.objects.filter(
                stripe_refund_id=refund_id, kind__in=REFUND_KINDS
            ).first()
            row.booked = legacy or _refund_journal_post(
                payment=payment, refund_id=refund_id, amount=row.amount,
                journal_kind=kind.refund_journal_kind if kind else Journal.Kind.REFUND,
            )  # fmt: skip
            change = RefundChange(row, booked=True)
        else:  # failed or canceled
            row.failure_reason = str(refund.get("failure_reason") or status)[:255]
            if row.booked is not None:
                row.reversed_by = _refund_reversal_post(row.booked, refund_id, status)
                change = RefundChange(row, reversed=True)
        row.status = status
        row.save()
        audit(row, status, from_status=previous, to_status=status, note=row.failure_reason)
    return change


def _charge_stub(refund: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(refund.get("charge") or ""), "object": "charge",
            "payment_intent": refund.get("payment_intent"), "metadata": {}}  # fmt: skip


def refund_events_apply(*, refund: dict[str, Any], charge_kind: str = "") -> RefundChange | None:
    """A refund object (the create answer, `refund.*` events, or fetched): the payment is
    booked first if its own event is late, then the money (refund_apply), then the kind's own
    state (a ticket's refund machine, a tip refunded or paid again)."""
    charge = _charge_stub(refund)
    kind = CHARGE_KINDS.get(charge_kind) or _kind_of(charge)
    if kind is not None and str(refund.get("status")) == "succeeded":
        kind.ensure_booked(charge)
    change = refund_apply(refund=refund, charge_kind=charge_kind)
    if change is not None and kind is not None and kind.refund_changed is not None:
        kind.refund_changed(charge, refund, change)
    return change


def charge_refunds_sync(*, charge: dict[str, Any]) -> None:
    """Apply every refund of a charge as the provider reports it now (`charge.refunded` says
    the charge's refunds changed; its `amount_refunded` also counts pending refunds, so it is
    never booked as such). Without the provider, the refunds the event carries are used."""
    from payouts.provider import ProviderError, get_provider

    charge_id = str(charge.get("id") or "")
    try:
        refunds = get_provider().charge_refund_list(charge_id)
    except ProviderError:
        refunds = list(((charge.get("refunds") or {}).get("data")) or [])
        logger.warning(
            "refunds of charge %s not listed; %d from the event", charge_id, len(refunds)
        )
    kind = _kind_of(charge)
    if kind is not None:
        kind.ensure_booked(charge)
    name = next((n for n, k in CHARGE_KINDS.items() if k is kind), "")
    for refund in sorted(refunds, key=lambda r: (int(r.get("created") or 0), str(r["id"]))):
        refund_events_apply(refund={**refund, "charge": refund.get("charge") or charge_id},
                            charge_kind=name)  # fmt: skip


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


def dispute_fee_book(*, dispute: dict[str, Any], charge_id: str = "") -> None:
    """Stripe's dispute fee, charged to the platform when a dispute is opened and returned if
    it is won, as its own journals (a platform expense on `dispute_fees`). The amounts come
    from the dispute's balance transactions (`fee`: positive when charged, negative when
    returned); each is booked once per dispute."""
    dispute_id = str(dispute["id"])
    txns = [t for t in dispute.get("balance_transactions") or [] if isinstance(t, dict)]
    charged = sum(max(int(t.get("fee") or 0), 0) for t in txns)
    returned = sum(max(-int(t.get("fee") or 0), 0) for t in txns)
    c = str(dispute.get("currency") or (txns[0].get("currency") if txns else "")).upper()
    ids = {"stripe_charge_id": charge_id or str(dispute.get("charge") or ""),
           "stripe_dispute_id": dispute_id}  # fmt: skip
    with transaction.atomic():
        if charged:
            ledger.journal_post(
                kind=Journal.Kind.DISPUTE_FEE, currency=c,
                idempotency_key=f"dispute:{dispute_id}:fee",
                description=f"dispute {dispute_id}: Stripe's dispute fee", **ids,
                lines=[Line(ledger.account(Kind.PLATFORM_BALANCE, c), -charged),
                       Line(ledger.account(Kind.DISPUTE_FEES, c), charged)],
            )  # fmt: skip
        if returned:
            ledger.journal_post(
                kind=Journal.Kind.DISPUTE_FEE_RETURNED, currency=c,
                idempotency_key=f"dispute:{dispute_id}:fee_returned",
                description=f"dispute {dispute_id} won: Stripe's dispute fee returned", **ids,
                lines=[Line(ledger.account(Kind.PLATFORM_BALANCE, c), returned),
                       Line(ledger.account(Kind.DISPUTE_FEES, c), -returned)],
            )  # fmt: skip


# --- webhook entry points (charge.refunded, charge.dispute.*) ----------------------------------


def charge_refunded_apply(*, charge: dict[str, Any]) -> None:
    charge_refunds_sync(charge=charge)


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
    dispute_fee_book(dispute=dispute, charge_id=str(charge["id"]))
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
    dispute_fee_book(dispute=dispute)


# --- tips as a kind of charge -------------------------------------------------------------------


def _tip_of(charge: dict[str, Any]) -> Any:
    from payouts.models import Tip

    uuid = (charge.get("metadata") or {}).get("tip")
    tip = Tip.objects.filter(uuid=uuid).first() if uuid else None
    tip = tip or Tip.objects.filter(stripe_charge_id=str(charge.get("id") or "-")).first()
    pi = charge.get("payment_intent")
    return tip or (Tip.objects.filter(stripe_payment_intent_id=pi).first() if pi else None)


def _tip_ensure_booked(charge: dict[str, Any]) -> None:
    from payouts.models import Tip
    from payouts.services.tips import tip_mark_succeeded

    tip = _tip_of(charge)
    if tip is not None and tip.status in {Tip.Status.CREATED, Tip.Status.REQUIRES_ACTION}:
        tip_mark_succeeded(tip=tip, charge_id=str(charge.get("id") or ""))


def _tip_refund_changed(
    charge: dict[str, Any], refund: dict[str, Any], change: RefundChange
) -> None:
    from payouts.services.tips import tip_mark_refund_reversed, tip_mark_refunded

    tip = _tip_of(charge)
    if tip is None:
        return
    charge_id = change.refund.stripe_charge_id
    if change.booked and refunded_booked(charge_id) >= tip.charge_amount:
        tip_mark_refunded(tip=tip, refund_id=change.refund.stripe_refund_id, charge_id=charge_id)
    elif change.reversed:
        tip_mark_refund_reversed(tip=tip, refund_id=change.refund.stripe_refund_id,
                                 reason=change.refund.status)  # fmt: skip


def _tip_disputed(charge: dict[str, Any], dispute: dict[str, Any]) -> None:
    from payouts.services.tips import tip_mark_disputed

    tip = _tip_of(charge)
    if tip is not None:
        tip_mark_disputed(tip=tip, dispute_id=str(dispute["id"]), charge_id=str(charge["id"]))


charge_kind_register(
    "tip",
    ChargeKind(
        ensure_booked=_tip_ensure_booked,
        refund_changed=_tip_refund_changed,
        disputed=_tip_disputed,
        refund_journal_kind=Journal.Kind.TIP_REFUND,
        dispute_journal_kind=Journal.Kind.TIP_DISPUTE,
    ),
)


# --- staff: pending and failed refunds of every kind (admin), the beat sweep ------------------


def charge_refund_refresh(*, refund: ChargeRefund) -> ChargeRefund:
    """Ask the provider where a refund stands and apply it (a lost webhook, a stuck pending
    refund). Idempotent."""
    from payouts.provider import get_provider

    refund_events_apply(refund=get_provider().refund_retrieve(refund.stripe_refund_id),
                        charge_kind=refund.charge_kind)  # fmt: skip
    refund.refresh_from_db()
    return refund


def charge_refunds_refresh_stale(*, older_than_seconds: int) -> list[str]:
    """The beat sweep: refunds still pending after a while are looked up at the provider.
    Returns their resulting states; an unreachable provider leaves them for the next run."""
    from datetime import timedelta

    from django.utils import timezone

    from payouts.provider import ProviderError

    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    states = []
    for row in ChargeRefund.objects.filter(status=ChargeRefund.Status.PENDING, updated__lt=cutoff):
        try:
            states.append(charge_refund_refresh(refund=row).status)
        except ProviderError:
            logger.warning("refund %s: provider unreachable, left pending", row.stripe_refund_id)
            states.append(row.status)
    return states


def charge_refund_retry(*, refund: ChargeRefund, actor: Any) -> ChargeRefund | None:
    """Staff retry a failed or canceled refund: a new refund of the same amount of the same
    charge (a new request under a new key), through the service of the charge's kind. Returns
    the new refund's row, or None if the provider's answer named no refund."""
    from clubhouse.errors import Conflict, PermissionDenied
    from payouts.models import MembershipInvoice, Ticket, Tip

    if not getattr(actor, "is_staff", False):
        raise PermissionDenied("Only staff can refund.", code="staff_required")
    if refund.status not in ChargeRefund.FINAL:
        raise Conflict(
            "Only a failed or canceled refund can be retried.", code="illegal_transition"
        )
    charge_id = refund.stripe_charge_id
    before = set(
        ChargeRefund.objects.filter(stripe_charge_id=charge_id).values_list("pk", flat=True)
    )
    if refund.charge_kind == "tip" and (
        tip := Tip.objects.filter(stripe_charge_id=charge_id).first()
    ):
        from payouts.services.tips import tip_refund

        tip_refund(tip=tip, actor=actor)
    elif refund.charge_kind == "membership" and (
        invoice := MembershipInvoice.objects.filter(stripe_charge_id=charge_id).first()
    ):
        from payouts.services.memberships import membership_invoice_refund

        membership_invoice_refund(invoice=invoice, actor=actor, amount=refund.amount)
    elif refund.charge_kind == "ticket" and (
        ticket := Ticket.objects.filter(stripe_charge_id=charge_id).first()
    ):
        from payouts.services.tickets import ticket_refund

        ticket_refund(ticket=ticket, actor=actor)
    else:
        raise Conflict("This refund's charge is not one of ours.", code="unknown_charge")
    return ChargeRefund.objects.filter(stripe_charge_id=charge_id).exclude(pk__in=before).first()
