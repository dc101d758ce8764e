"""Daily reconciliation: the ledger against the provider's transfers, charges and payouts.

Every difference becomes a ``Discrepancy`` row (unique per kind and object, so a daily rerun does
not duplicate it) for staff in admin. Nothing is corrected automatically: a correction is a new
journal posted by staff after investigation.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Min, Q, Sum

from payouts.models import Discrepancy, Entry, Journal, LedgerAccount
from payouts.provider import ProviderError, ProviderUnavailable, StripeDict, get_provider
from payouts.services.charges import DISPUTE_KINDS, REFUND_KINDS

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
    found += reconcile_refunds_disputes_payouts(gte=gte, since=since)
    found += reconcile_tickets(since=since)
    return found


# --- refunds, disputes, creators' payouts ----------------------------------------------------


def _ledger_totals(
    field: str, ids: list[str], kinds: list[str], account_kind: str
) -> dict[str, tuple[int, str, Journal | None]]:
    """Per external id: (sum on one kind of account, currency, a journal) over journals of kinds."""
    rows = (
        Entry.objects.filter(
            **{f"journal__{field}__in": ids}, journal__kind__in=kinds, account__kind=account_kind
        )
        .values(f"journal__{field}", "currency")
        .annotate(total=Sum("amount"), journal_id=Min("journal_id"))
    )
    out: dict[str, tuple[int, str, Journal | None]] = {}
    journals = Journal.objects.in_bulk([r["journal_id"] for r in rows])
    for r in rows:
        out[r[f"journal__{field}"]] = (
            int(r["total"]),
            r["currency"],
            journals.get(r["journal_id"]),
        )
    return out


def _compare_totals(
    object_type: str,
    provider: dict[str, tuple[int, str]],
    booked: dict[str, tuple[int, str, Journal | None]],
) -> list[Discrepancy]:
    found: list[Discrepancy] = []
    for ext_id in sorted(set(provider) | set(booked)):
        p_amount, p_currency = provider.get(ext_id, (0, ""))
        l_amount, l_currency, journal = booked.get(ext_id, (0, "", None))
        if p_amount == l_amount and (not p_amount or p_currency == l_currency):
            continue
        fields: dict[str, Any] = {"provider_amount": p_amount, "ledger_amount": l_amount,
                                  "provider_currency": p_currency, "ledger_currency": l_currency,
                                  "journal": journal}  # fmt: skip
        if not l_amount:
            kind = D.MISSING_IN_LEDGER
        elif not p_amount:
            kind = D.MISSING_AT_PROVIDER
        elif p_currency and l_currency and p_currency != l_currency:
            kind = D.CURRENCY_MISMATCH
        else:
            kind = D.AMOUNT_MISMATCH
        found.append(_record(kind, object_type, ext_id, **fields))
    return found


def reconcile_refunds_disputes_payouts(
    *, gte: int | None, since: datetime | None = None
) -> list[Discrepancy]:
    """Refunds per refund (the provider's succeeded refunds vs the ledger's `refunds`), disputes
    per dispute (funds withdrawn and not reinstated vs the ledger's `disputes`), and creators'
    bank payouts per payout (paid vs `bank_payouts`). The objects the provider lists in the
    window (`gte`, with its margin) and the journals about them are compared; refunds booked in
    the window (`since`) are compared too, so a refund the provider never made is found."""
    from payouts.models import ConnectedAccount

    provider = get_provider()
    found: list[Discrepancy] = []

    # Refunds, per refund id (like with like: a charge's refunds may straddle the window). A
    # refund counts at the provider once it has succeeded (the ledger books it then, and
    # reverses it if it fails later); refunds the ledger moved in the window whose provider
    # object is older than the listing are fetched one by one.
    refund_kinds: list[str] = [*REFUND_KINDS, Journal.Kind.REFUND_REVERSED]
    refunded: dict[str, tuple[int, str]] = {}

    def provider_refund(r: StripeDict) -> tuple[int, str]:
        amount = int(r["amount"]) if r.get("status") == "succeeded" else 0
        return amount, str(r["currency"]).upper()

    for r in provider.refund_list(created_gte=gte):
        if r.get("charge"):
            refunded[str(r["id"])] = provider_refund(r)
    booked_refunds = Journal.objects.filter(kind__in=refund_kinds).exclude(stripe_refund_id="")
    if since is not None:
        booked_refunds = booked_refunds.filter(created__gte=since)
    for refund_id in sorted(set(booked_refunds.values_list("stripe_refund_id", flat=True))):
        if refund_id in refunded:
            continue
        try:
            refunded[refund_id] = provider_refund(provider.refund_retrieve(refund_id))
        except ProviderUnavailable:
            continue  # unknown today; tomorrow's run looks again
        except ProviderError:
            refunded[refund_id] = (0, "")  # the provider does not know it
    found += _compare_totals(
        "refund", refunded,
        _ledger_totals("stripe_refund_id", sorted(refunded), refund_kinds,
                       LedgerAccount.Kind.REFUNDS),
    )  # fmt: skip

    withdrawn: dict[str, tuple[int, str]] = {}
    disputes = provider.dispute_list(created_gte=gte)
    for d in disputes:
        kept = 0 if d.get("status") == "won" else int(d["amount"])
        withdrawn[str(d["id"])] = (kept, str(d["currency"]).upper())
    found += _compare_totals(
        "dispute", withdrawn,
        _ledger_totals("stripe_dispute_id", list(withdrawn),
                       [*DISPUTE_KINDS, Journal.Kind.DISPUTE_REINSTATED],
                       LedgerAccount.Kind.DISPUTES),
    )  # fmt: skip

    # Stripe's dispute fees, per dispute: charged and not returned vs the ledger's
    # `dispute_fees` (services/charges.py `dispute_fee_book`).
    dispute_fees: dict[str, tuple[int, str]] = {}
    for d in disputes:
        net_fee = sum(int(t.get("fee") or 0) for t in d.get("balance_transactions") or [])
        dispute_fees[str(d["id"])] = (net_fee, str(d["currency"]).upper())
    found += _compare_totals(
        "dispute_fee", dispute_fees,
        _ledger_totals("stripe_dispute_id", list(dispute_fees),
                       [str(Journal.Kind.DISPUTE_FEE), str(Journal.Kind.DISPUTE_FEE_RETURNED)],
                       LedgerAccount.Kind.DISPUTE_FEES),
    )  # fmt: skip

    paid_out: dict[str, tuple[int, str]] = {}
    for account_id in ConnectedAccount.objects.values_list("stripe_account_id", flat=True):
        for po in provider.connected_payout_list(account=account_id, created_gte=gte):
            amount = int(po["amount"]) if po.get("status") == "paid" else 0
            paid_out[str(po["id"])] = (amount, str(po["currency"]).upper())
    found += _compare_totals(
        "creator_payout", paid_out,
        _ledger_totals("stripe_payout_id", list(paid_out),
                       [Journal.Kind.CREATOR_PAYOUT, Journal.Kind.CREATOR_PAYOUT_FAILED],
                       LedgerAccount.Kind.BANK_PAYOUTS),
    )  # fmt: skip
    return found


# --- tickets ----------------------------------------------------------------------------------
# Ticket sales are charges and their refunds and disputes are charges' refunds and disputes:
# the comparisons above cover their money (by charge). Here, the Ticket records against the
# ledger: a ticket the buyer paid for without its sale journal, a refunded ticket whose refund
# is not (fully) booked.


def reconcile_tickets(*, since: datetime | None = None) -> list[Discrepancy]:
    from payouts.models import Ticket

    S = Ticket.Status
    rows = Ticket.objects.filter(
        status__in=[S.PAID, S.REFUND_PENDING, S.REFUNDED, S.REFUND_FAILED, S.DISPUTED]
    )
    if since is not None:
        rows = rows.filter(updated__gte=since)
    tickets = list(rows)
    sold = set(
        Journal.objects.filter(
            kind=Journal.Kind.TICKET, idempotency_key__in=[f"ticket:{t.uuid}" for t in tickets]
        ).values_list("idempotency_key", flat=True)
    )
    refunded_charges = [t.stripe_charge_id for t in tickets if t.status == S.REFUNDED]
    refunded = {
        row["journal__stripe_charge_id"]: int(row["total"])
        for row in Entry.objects.filter(
            journal__stripe_charge_id__in=refunded_charges,
            journal__kind__in=[*REFUND_KINDS, Journal.Kind.REFUND_REVERSED],
            account__kind=LedgerAccount.Kind.REFUNDS,
        )
        .values("journal__stripe_charge_id")
        .annotate(total=Sum("amount"))
    }
    found: list[Discrepancy] = []
    for ticket in tickets:
        if f"ticket:{ticket.uuid}" not in sold:
            found.append(_record(D.MISSING_IN_LEDGER, "ticket", str(ticket.uuid),
                                 provider_amount=ticket.amount, provider_currency=ticket.currency,
                                 detail=f"ticket {ticket.status} without its sale journal"))  # fmt: skip
        booked = refunded.get(ticket.stripe_charge_id, 0)
        if ticket.status == S.REFUNDED and booked < ticket.amount:
            found.append(_record(D.MISSING_IN_LEDGER, "ticket_refund", str(ticket.uuid),
                                 provider_amount=ticket.amount, provider_currency=ticket.currency,
                                 ledger_amount=booked, ledger_currency=ticket.currency,
                                 detail="refunded ticket without its refund booked"))  # fmt: skip
    return found
