"""Daily reconciliation: the ledger against everything Stripe moves in the platform's balance.

Stripe's balance transactions are the source of truth for what moved: each one is matched to
the ledger by kind, and every difference becomes a ``Discrepancy`` row (unique per kind, object
type and object, so a daily rerun does not duplicate it) for staff in admin:

=========================  ===========================================  =========================
object type                Stripe                                       ledger
=========================  ===========================================  =========================
``charge``                 a charge's gross (``amount``)                the sale's customer payment
``charge_fee``             its balance transaction's ``fee``            the sale's processing fee
``charge_net``             its ``net``                                  gross less processing fee
``application_fee``        the application fee (``application_fee``)    gross less creator share
``charge_transfer``        the transfer of the whole charge             the sale's gross
``transfer``               a stipend transfer                           the stipend journal
``transfer_reversal``      a transfer reversal made by a refund         the refund booked
``transfer`` (reversal)    any other reversal                           a stipend reversal journal
``application_fee_refund`` what the fee refunded to the creator         refunds less creator share
``refund``, ``dispute``,   per object (below)                           per object
``dispute_fee``,
``creator_payout``
``payout``                 a payout of the platform balance             the payout journal
``topup``                  top-ups less their reversals                 funding journals
``balance_transaction``    a balance transaction of any other type      nothing can book it
=========================  ===========================================  =========================

Nothing is corrected automatically: staff post a correcting journal from the discrepancy
(services/corrections.py), which resolves it. `reconcile` returns the unresolved ones.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Min, Q, Sum

from payouts.models import ConnectedAccount, Discrepancy, Entry, Journal, LedgerAccount, Ticket
from payouts.provider import ProviderError, ProviderUnavailable, StripeDict, get_provider
from payouts.services.charges import DISPUTE_KINDS, PAYMENT_KINDS, REFUND_KINDS

D = Discrepancy.Kind
A = LedgerAccount.Kind
MARGIN = timedelta(days=1)

# Balance transaction types and who checks them. Anything else moved money that no booking of
# the ledger covers (a Stripe fee for a Connect account, a reserve, a manual adjustment…).
CHARGE_TYPES = {"charge", "payment"}
CHECKED_TYPES = {
    *CHARGE_TYPES,
    "application_fee", "application_fee_refund",
    "transfer", "transfer_refund",
    "refund", "payment_refund", "refund_failure",
    "payout", "payout_cancel", "payout_failure",
    "topup", "topup_reversal",
}  # fmt: skip
# `adjustment` is checked when it belongs to a dispute (its source is the dispute).


def _record(kind: str, object_type: str, external_id: str, **fields: Any) -> Discrepancy:
    obj, _ = Discrepancy.objects.get_or_create(
        kind=kind, object_type=object_type, external_id=external_id, defaults=fields
    )
    return obj


@dataclass(frozen=True)
class Sale:
    """What the ledger says one destination charge (a tip, a ticket, a membership invoice)
    moved: the card paid `gross`, Stripe kept `fee`, the creator's account keeps `share`."""

    journal: Journal
    gross: int
    fee: int
    share: int

    @property
    def application_fee(self) -> int:
        return self.gross - self.share

    @property
    def net(self) -> int:
        return self.gross - self.fee

    def booked(self, amount: int) -> tuple[int, str, Journal | None]:
        return amount, self.journal.currency, self.journal


def _sales(charge_ids: Iterable[str], since: datetime | None) -> dict[str, Sale]:
    """The sale journals of these charges, and of every charge sold in the window."""
    window = Q(created__gte=since) if since else Q(pk__isnull=False)
    journals = list(
        Journal.objects.filter(kind__in=PAYMENT_KINDS)
        .exclude(stripe_charge_id="")
        .filter(Q(stripe_charge_id__in=list(charge_ids)) | window)
    )
    sums: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in (
        Entry.objects.filter(journal__in=journals)
        .values("journal_id", "account__kind")
        .annotate(total=Sum("amount"))
    ):
        sums[row["journal_id"]][row["account__kind"]] += int(row["total"])
    return {
        j.stripe_charge_id: Sale(
            journal=j,
            gross=-sums[j.pk][A.CUSTOMER_PAYMENTS],
            fee=sums[j.pk][A.PROCESSING_FEES],
            share=sums[j.pk][A.CREATOR_PAYABLE],
        )
        for j in journals
    }


def _in_window(journal: Journal, since: datetime | None) -> bool:
    return since is None or journal.created >= since


def _money(item: StripeDict, field: str = "amount") -> tuple[int, str]:
    return int(item.get(field) or 0), str(item["currency"]).upper()


def reconcile_charges(
    txns: list[StripeDict], transfers: list[StripeDict], fees: list[StripeDict],
    since: datetime | None,
) -> list[Discrepancy]:  # fmt: skip
    """Every destination charge, four ways: its gross, Stripe's fee and net (the charge's
    balance transaction), the application fee that came back to the platform, and the transfer
    of the whole charge to the creator's account (Stripe's flow of funds for
    `application_fee_amount`)."""
    charges = {str(t["source"]): t for t in txns if t.get("type") in CHARGE_TYPES}
    fee_of_charge = {str(f.get("originating_transaction") or ""): f for f in fees}
    fee_txns = {str(t["source"]): t for t in txns if t.get("type") == "application_fee"}
    charge_transfers = [t for t in transfers if t.get("source_transaction")]
    sales = _sales(
        [*charges, *fee_of_charge, *(str(t["source_transaction"]) for t in charge_transfers)],
        since,
    )
    window_sales = {c: s for c, s in sales.items() if _in_window(s.journal, since)}
    found: list[Discrepancy] = []

    gross = {c: _money(t) for c, t in charges.items()}
    booked = {c: s.booked(s.gross) for c, s in sales.items() if c in charges or c in window_sales}
    found += _compare_totals("charge", gross, booked)
    both = [c for c in charges if c in sales and gross[c] == booked[c][:2]]
    found += _compare_totals(
        "charge_fee",
        {c: _money(charges[c], "fee") for c in both},
        {c: sales[c].booked(sales[c].fee) for c in both},
    )
    fee_ok = [c for c in both if int(charges[c].get("fee") or 0) == sales[c].fee]
    found += _compare_totals(
        "charge_net",
        {c: _money(charges[c], "net") for c in fee_ok},
        {c: sales[c].booked(sales[c].net) for c in fee_ok},
    )

    # Application fees, per fee (its balance transaction), against the sale of the charge it
    # came from; a sale with a fee and no fee at Stripe, per charge. A fee or transfer whose
    # charge the ledger does not know is that charge's discrepancy, reported once, above.
    provider_fees: dict[str, tuple[int, str]] = {}
    booked_fees: dict[str, tuple[int, str, Journal | None]] = {}
    fee_by_id = {str(f["id"]): f for f in fees}
    for fee_id, txn in fee_txns.items():
        fee = fee_by_id.get(fee_id)
        sale = sales.get(str((fee or {}).get("originating_transaction") or ""))
        if sale is not None:
            provider_fees[fee_id] = _money(txn)
            booked_fees[fee_id] = sale.booked(sale.application_fee)
        elif fee is None:  # a fee the listing does not explain
            provider_fees[fee_id] = _money(txn)
    for charge_id, sale in window_sales.items():
        fee = fee_of_charge.get(charge_id)
        if sale.application_fee and (fee is None or fee["id"] not in fee_txns):
            key = str(fee["id"]) if fee else charge_id
            booked_fees.setdefault(key, sale.booked(sale.application_fee))
    found += _compare_totals("application_fee", provider_fees, booked_fees)

    # The transfer of each charge carries the whole charge to the creator's account.
    provider_moves: dict[str, tuple[int, str]] = {}
    booked_moves: dict[str, tuple[int, str, Journal | None]] = {}
    transferred = set()
    for t in charge_transfers:
        sale = sales.get(str(t["source_transaction"]))
        transferred.add(str(t["source_transaction"]))
        if sale is not None:
            provider_moves[str(t["id"])] = _money(t)
            booked_moves[str(t["id"])] = sale.booked(sale.gross)
    for charge_id, sale in window_sales.items():
        if sale.share and charge_id not in transferred:
            booked_moves[charge_id] = sale.booked(sale.gross)
    found += _compare_totals("charge_transfer", provider_moves, booked_moves)
    return found


def reconcile_transfer(transfer: StripeDict) -> Discrepancy | None:
    """A reversal that no refund made (someone reversed the transfer at Stripe) must be a
    stipend reversal the ledger booked; anything else is unexpected."""
    reversals = (transfer.get("reversals") or {}).get("data") or []
    by_refund = sum(int(r["amount"]) for r in reversals if r.get("source_refund"))
    other = int(transfer.get("amount_reversed") or 0) - by_refund
    if other <= 0:
        return None
    reversal_booked = Journal.objects.filter(
        kind=Journal.Kind.STIPEND_REVERSAL, stripe_transfer_id=transfer["id"]
    ).exists()
    if reversal_booked:
        return None
    return _record(D.UNEXPECTED_REVERSAL, "transfer", str(transfer["id"]),
                   provider_amount=other, provider_currency=str(transfer["currency"]).upper(),
                   journal=Journal.objects.filter(stripe_transfer_id=transfer["id"]).first()
                   or Journal.objects.filter(stripe_charge_id=transfer.get("source_transaction")
                                             or "-", kind__in=PAYMENT_KINDS).first())  # fmt: skip


def _refund_journal_totals(refund_ids: list[str], account_kind: str) -> dict[str, tuple[int, str, Journal | None]]:  # fmt: skip
    """Per refund id: what its booking (not its reversal, if it failed later: Stripe keeps the
    transfer reversal and the fee refund then) put on one kind of account."""
    return _ledger_totals("stripe_refund_id", refund_ids, list(REFUND_KINDS), account_kind)


def reconcile_refund_reversals(
    transfers: list[StripeDict], fees: list[StripeDict]
) -> list[Discrepancy]:
    """A refund with `reverse_transfer` takes its amount back from the creator's account (the
    transfer carried the whole charge), and with `refund_application_fee` gives them back the
    fee's part: together, the creator's share of the refund that the ledger booked.

    Reversals are read from the transfers listed in the window (Stripe lists a transfer's
    reversals on it). A reversal whose refund the ledger never booked is that refund's
    discrepancy (reported once, by the refund check), so it is not compared here; nor is the fee
    refund of a charge whose refunds the ledger and Stripe do not agree on yet."""
    reversals = {
        str(r["id"]): (r, str(t.get("source_transaction") or ""))
        for t in transfers
        for r in (t.get("reversals") or {}).get("data") or []
        if r.get("source_refund")
    }
    refunds = _refund_journal_totals(
        sorted({str(r["source_refund"]) for r, _ in reversals.values()}), A.REFUNDS
    )
    booked = {i: refunds[str(r["source_refund"])] for i, (r, _) in reversals.items()
              if str(r["source_refund"]) in refunds}  # fmt: skip
    found = _compare_totals(
        "transfer_reversal", {i: _money(reversals[i][0]) for i in booked}, booked
    )

    reversed_by_refunds: dict[str, int] = defaultdict(int)
    for r, charge_id in reversals.values():
        reversed_by_refunds[charge_id] += int(r["amount"])
    charge_of = {str(f["id"]): str(f.get("originating_transaction") or "") for f in fees}
    rows = (
        Entry.objects.filter(
            journal__stripe_charge_id__in=[c for c in charge_of.values() if c],
            journal__kind__in=REFUND_KINDS,
            account__kind__in=[A.PLATFORM_BALANCE, A.REFUNDS],
        )
        .values("journal__stripe_charge_id", "account__kind", "currency")
        .annotate(total=Sum("amount"), first_journal=Min("journal_id"))
    )
    by_charge: dict[str, dict[str, Any]] = defaultdict(dict)
    for row in rows:
        by_charge[row["journal__stripe_charge_id"]][row["account__kind"]] = row
    journals = Journal.objects.in_bulk([r["first_journal"] for r in rows])
    provider_part: dict[str, tuple[int, str]] = {}
    platform_part: dict[str, tuple[int, str, Journal | None]] = {}
    for fee in fees:
        fee_id, charge_id = str(fee["id"]), charge_of[str(fee["id"])]
        ledger_rows = by_charge.get(charge_id, {})
        refunded = int(ledger_rows.get(A.REFUNDS, {}).get("total") or 0)
        if refunded != reversed_by_refunds.get(charge_id, 0):
            continue
        provider_part[fee_id] = _money(fee, "amount_refunded")
        platform = ledger_rows.get(A.PLATFORM_BALANCE)
        if platform is not None:
            platform_part[fee_id] = (
                -int(platform["total"]),
                platform["currency"],
                journals.get(platform["first_journal"]),
            )
    found += _compare_totals("application_fee_refund", provider_part, platform_part)
    return found


def reconcile_platform_payouts(payouts: list[StripeDict], window: Q) -> list[Discrepancy]:
    """Payouts of the platform balance to its bank, per payout: what left and stayed gone at
    Stripe (a `paid` payout's amount; one in transit, failed or canceled is 0, as the ledger
    books a payout when it is paid and reverses it when the bank returns it) against the
    platform balance the `payout` and `payout_failed` journals moved."""
    paid = {
        str(p["id"]): (int(p["amount"]) if p.get("status") == "paid" else 0,
                       str(p["currency"]).upper())
        for p in payouts
    }  # fmt: skip
    kinds = [Journal.Kind.PAYOUT, Journal.Kind.PAYOUT_FAILED]
    return _compare_paid_out("payout", paid, "stripe_payout_id", kinds, window)


def _compare_paid_out(
    object_type: str, provider: dict[str, tuple[int, str]], field: str, kinds: Sequence[str],
    window: Q,
) -> list[Discrepancy]:  # fmt: skip
    """Money the platform balance paid out, per provider object (`field` names its id on the
    journals of `kinds`): the objects listed, and those the ledger booked in the window."""
    ids = set(provider) | set(
        Journal.objects.filter(window, kind__in=kinds)
        .exclude(**{field: ""})
        .values_list(field, flat=True)
    )
    booked = {
        i: (-amount, currency, journal)
        for i, (amount, currency, journal) in _ledger_totals(
            field, sorted(ids), [str(k) for k in kinds], A.PLATFORM_BALANCE
        ).items()
    }
    return _compare_totals(object_type, provider, booked)


def reconcile_topups(txns: list[StripeDict], since: datetime | None) -> list[Discrepancy]:
    """Top-ups less their reversals, per top-up, against the funding journals that name it."""
    moved: dict[str, tuple[int, str]] = {}
    for t in txns:
        if t.get("type") in {"topup", "topup_reversal"}:
            so_far = moved.get(str(t["source"]), (0, ""))[0]
            moved[str(t["source"])] = (so_far + int(t["amount"]), str(t["currency"]).upper())
    journals = Journal.objects.exclude(stripe_topup_id="").filter(
        Q(stripe_topup_id__in=list(moved))
        | (Q(created__gte=since) if since else Q(pk__isnull=False))
    )
    booked = _ledger_totals(
        "stripe_topup_id",
        sorted(set(journals.values_list("stripe_topup_id", flat=True))),
        [str(Journal.Kind.FUNDING), str(Journal.Kind.FUNDING_REVERSED)],
        A.PLATFORM_BALANCE,
    )
    return _compare_totals("topup", moved, booked)


def reconcile_unchecked(txns: list[StripeDict]) -> list[Discrepancy]:
    """A balance transaction of a type no booking covers moved the platform's money without the
    ledger knowing: staff explain it with a correcting journal."""
    found: list[Discrepancy] = []
    for t in txns:
        type_, source = str(t.get("type") or ""), str(t.get("source") or "")
        if type_ in CHECKED_TYPES or (type_ == "adjustment" and source.startswith("dp_")):
            continue
        found.append(
            _record(D.MISSING_IN_LEDGER, "balance_transaction", str(t["id"]),
                    provider_amount=int(t["amount"]), provider_currency=str(t["currency"]).upper(),
                    detail=f"a {type_} balance transaction ({source or 'no source'}, fee "
                    f"{int(t.get('fee') or 0)}) that no ledger booking covers")
        )  # fmt: skip
    return found


def reconcile(*, since: datetime | None = None) -> list[Discrepancy]:
    """Compare the provider's movements since `since` (with a day's margin; everything when
    None) with the ledger; return the discrepancies staff have not resolved yet."""
    provider = get_provider()
    gte = int((since - MARGIN).timestamp()) if since else None
    # Journals in the window, plus any the provider mentions (an empty Q would drop the window).
    ledger_window = Q(created__gte=since) if since else Q(pk__isnull=False)
    found: list[Discrepancy] = []
    txns = provider.balance_transaction_list(created_gte=gte)
    all_transfers = provider.transfer_list(created_gte=gte)
    fees = provider.application_fee_list(created_gte=gte)

    # Transfers we create ourselves (stipends); transfers of charges are checked with them.
    stipends = {str(t["id"]): _money(t) for t in all_transfers if not t.get("source_transaction")}
    found += _compare_paid_out(
        "transfer", stipends, "stripe_transfer_id", [Journal.Kind.STIPEND], ledger_window
    )
    for t in all_transfers:
        d = reconcile_transfer(t)
        if d:
            found.append(d)

    found += reconcile_charges(txns, all_transfers, fees, since)
    found += reconcile_refund_reversals(all_transfers, fees)

    found += reconcile_platform_payouts(provider.payout_list(created_gte=gte), ledger_window)
    found += reconcile_refunds_disputes_payouts(gte=gte, since=since)
    found += reconcile_topups(txns, since)
    found += reconcile_unchecked(txns)
    found += reconcile_tickets(since=since)
    return [d for d in found if not d.resolved]


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
