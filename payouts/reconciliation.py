"""Daily reconciliation: the ledger against the provider's transfers, charges and payouts.

Every difference becomes a ``Discrepancy`` row (unique per kind and object, so a daily rerun does
not duplicate it) for staff in admin. Nothing is corrected automatically: a correction is a new
journal posted by staff after investigation.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q

from payouts.models import Discrepancy, Entry, Journal, LedgerAccount
from payouts.provider import StripeDict, get_provider

D = Discrepancy.Kind
MARGIN = timedelta(days=1)


def _record(kind: str, object_type: str, external_id: str, **fields: Any) -> Discrepancy:
    obj, _ = Discrepancy.objects.get_or_create(
        kind=kind, object_type=object_type, external_id=external_id, defaults=fields
    )
    return obj


def _platform_amounts(journals: list[Journal]) -> dict[int, int]:
    """Per journal: the absolute platform-balance movement (what the provider object moved)."""
    totals: dict[int, int] = defaultdict(int)
    for e in Entry.objects.filter(
        journal__in=journals, account__kind=LedgerAccount.Kind.PLATFORM_BALANCE
    ):
        totals[e.journal_id] += e.amount
    return {k: abs(v) for k, v in totals.items()}


def _customer_amounts(journals: list[Journal]) -> dict[int, int]:
    totals: dict[int, int] = defaultdict(int)
    for e in Entry.objects.filter(
        journal__in=journals, account__kind=LedgerAccount.Kind.CUSTOMER_PAYMENTS
    ):
        totals[e.journal_id] += e.amount
    return {k: abs(v) for k, v in totals.items()}


def _compare(
    object_type: str,
    provider_items: dict[str, StripeDict],
    journals_by_id: dict[str, Journal],
    ledger_amounts: dict[int, int],
    window_journals: list[Journal],
    id_of: Any,
) -> list[Discrepancy]:
    found: list[Discrepancy] = []
    for ext_id, item in provider_items.items():
        journal = journals_by_id.get(ext_id)
        amount, currency = int(item["amount"]), str(item["currency"]).upper()
        if journal is None:
            found.append(_record(D.MISSING_IN_LEDGER, object_type, ext_id,
                                 provider_amount=amount, provider_currency=currency))  # fmt: skip
            continue
        if journal.currency != currency:
            found.append(_record(D.CURRENCY_MISMATCH, object_type, ext_id, journal=journal,
                                 ledger_currency=journal.currency, provider_currency=currency))  # fmt: skip
        elif ledger_amounts.get(journal.pk) != amount:
            found.append(_record(D.AMOUNT_MISMATCH, object_type, ext_id, journal=journal,
                                 ledger_amount=ledger_amounts.get(journal.pk), provider_amount=amount,
                                 ledger_currency=journal.currency, provider_currency=currency))  # fmt: skip
    for journal in window_journals:
        ext_id = id_of(journal)
        if ext_id not in provider_items:
            found.append(_record(D.MISSING_AT_PROVIDER, object_type, ext_id, journal=journal,
                                 ledger_amount=ledger_amounts.get(journal.pk),
                                 ledger_currency=journal.currency))  # fmt: skip
    return found


def reconcile_transfer(transfer: StripeDict) -> Discrepancy | None:
    if transfer.get("reversed") or int(transfer.get("amount_reversed") or 0) > 0:
        reversal_booked = Journal.objects.filter(
            kind=Journal.Kind.STIPEND_REVERSAL, stripe_transfer_id=transfer["id"]
        ).exists()
        if not reversal_booked and not transfer.get("source_transaction"):
            return _record(D.UNEXPECTED_REVERSAL, "transfer", str(transfer["id"]),
                           provider_amount=int(transfer.get("amount_reversed") or 0),
                           provider_currency=str(transfer["currency"]).upper(),
                           journal=Journal.objects.filter(stripe_transfer_id=transfer["id"]).first())  # fmt: skip
    return None


def reconcile(*, since: datetime | None = None) -> list[Discrepancy]:
    provider = get_provider()
    gte = int((since - MARGIN).timestamp()) if since else None
    # Journals in the window, plus any the provider mentions (an empty Q would drop the window).
    ledger_window = Q(created__gte=since) if since else Q(pk__isnull=False)
    found: list[Discrepancy] = []

    # Transfers we create ourselves (stipends); destination-charge transfers are checked
    # through their charges below.
    transfers = {
        t["id"]: t
        for t in provider.transfer_list(created_gte=gte)
        if not t.get("source_transaction")
    }
    stipend_journals = list(
        Journal.objects.filter(kind=Journal.Kind.STIPEND).exclude(stripe_transfer_id="")
        .filter(Q(stripe_transfer_id__in=list(transfers)) | ledger_window)
    )  # fmt: skip
    window = [j for j in stipend_journals if since is None or j.created >= since]
    found += _compare(
        "transfer", transfers, {j.stripe_transfer_id: j for j in stipend_journals},
        _platform_amounts(stipend_journals), window, lambda j: j.stripe_transfer_id,
    )  # fmt: skip
    for t in transfers.values():
        d = reconcile_transfer(t)
        if d:
            found.append(d)

    # Charges, from the platform's balance transactions.
    charges = {
        b["source"]: b
        for b in provider.balance_transaction_list(created_gte=gte)
        if b.get("type") in {"charge", "payment"}
    }
    tip_journals = list(
        Journal.objects.filter(kind__in=[Journal.Kind.TIP, Journal.Kind.TICKET, Journal.Kind.MEMBERSHIP])
        .exclude(stripe_charge_id="")
        .filter(Q(stripe_charge_id__in=list(charges)) | ledger_window)
    )  # fmt: skip
    window = [j for j in tip_journals if since is None or j.created >= since]
    found += _compare(
        "charge", charges, {j.stripe_charge_id: j for j in tip_journals},
        _customer_amounts(tip_journals), window, lambda j: j.stripe_charge_id,
    )  # fmt: skip

    # Payouts to the platform's bank.
    payouts = {p["id"]: p for p in provider.payout_list(created_gte=gte)}
    payout_journals = list(
        Journal.objects.filter(kind=Journal.Kind.PAYOUT)
        .filter(Q(stripe_payout_id__in=list(payouts)) | ledger_window)
    )  # fmt: skip
    window = [j for j in payout_journals if since is None or j.created >= since]
    found += _compare(
        "payout", payouts, {j.stripe_payout_id: j for j in payout_journals},
        _platform_amounts(payout_journals), window, lambda j: j.stripe_payout_id,
    )  # fmt: skip
    found += reconcile_tickets(since=since)
    return found


# --- Tickets ----------------------------------------------------------------------------------
# Ticket sales are charges: the charge comparison above covers them (by charge id). Here:
# ticket refunds against the provider's refund balance transactions, and the Ticket records
# against the ledger (a paid ticket without its sale journal, a refunded one without its
# refund journal).


def reconcile_tickets(*, since: datetime | None = None) -> list[Discrepancy]:
    from payouts.models import Ticket

    provider = get_provider()
    gte = int((since - MARGIN).timestamp()) if since else None
    ledger_window = Q(created__gte=since) if since else Q(pk__isnull=False)
    found: list[Discrepancy] = []

    refunds = {
        b["source"]: b
        for b in provider.balance_transaction_list(created_gte=gte)
        if b.get("type") == "refund"
    }
    known_ticket_refunds = set(
        Ticket.objects.filter(stripe_refund_id__in=list(refunds)).values_list(
            "stripe_refund_id", flat=True
        )
    )
    refund_journals = list(
        Journal.objects.filter(kind=Journal.Kind.TICKET_REFUND).exclude(stripe_refund_id="")
        .filter(Q(stripe_refund_id__in=list(refunds)) | ledger_window)
    )  # fmt: skip
    by_refund = {j.stripe_refund_id: j for j in refund_journals}
    refund_amounts: dict[int, int] = defaultdict(int)
    for e in Entry.objects.filter(
        journal__in=refund_journals, account__kind=LedgerAccount.Kind.REFUNDS
    ):
        refund_amounts[e.journal_id] += e.amount
    # Only refunds that are ours to know about: ticket refunds (tips' refunds are booked from
    # their charge, without the refund id).
    ticket_refunds = {
        k: {**v, "amount": abs(int(v["amount"]))}
        for k, v in refunds.items()
        if k in known_ticket_refunds or k in by_refund
    }
    window = [j for j in refund_journals if since is None or j.created >= since]
    found += _compare(
        "refund", ticket_refunds, by_refund, dict(refund_amounts), window,
        lambda j: j.stripe_refund_id,
    )  # fmt: skip

    tickets = Ticket.objects.filter(
        status__in=[Ticket.Status.PAID, Ticket.Status.REFUND_PENDING, Ticket.Status.REFUNDED,
                    Ticket.Status.REFUND_FAILED, Ticket.Status.DISPUTED]
    )  # fmt: skip
    if since is not None:
        tickets = tickets.filter(updated__gte=since)
    keys = set(
        Journal.objects.filter(kind__in=[Journal.Kind.TICKET, Journal.Kind.TICKET_REFUND])
        .filter(idempotency_key__startswith="ticket")
        .values_list("idempotency_key", flat=True)
    )
    for ticket in tickets:
        if f"ticket:{ticket.uuid}" not in keys:
            found.append(_record(D.MISSING_IN_LEDGER, "ticket", str(ticket.uuid),
                                 provider_amount=ticket.amount, provider_currency=ticket.currency,
                                 detail=f"ticket {ticket.status} without its sale journal"))  # fmt: skip
        if ticket.status == Ticket.Status.REFUNDED and f"ticket-refund:{ticket.uuid}" not in keys:
            found.append(_record(D.MISSING_IN_LEDGER, "ticket_refund", str(ticket.uuid),
                                 provider_amount=ticket.amount, provider_currency=ticket.currency,
                                 detail="refunded ticket without its refund journal"))  # fmt: skip
    return found
