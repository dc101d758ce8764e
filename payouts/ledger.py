"""The one posting service of the append-only ledger, and the reads over it.

Every movement of money is a journal whose entries sum to zero per currency. Balances are sums
over entries, never stored counters; a correction is a new journal. On PostgreSQL the same
invariants are enforced below the ORM (see ``install_database_guards``): UPDATE and DELETE on
journals and entries raise, and a deferred constraint trigger refuses to commit an unbalanced
journal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connections, transaction
from django.db.models import Sum

from clubhouse.errors import ApplicationError
from payouts.models import Entry, Journal, LedgerAccount

Kind = LedgerAccount.Kind


class UnbalancedJournal(ApplicationError):
    code = "ledger_unbalanced"
    status = 500
    default_message = "A journal must balance to zero in each currency."


@dataclass(frozen=True, slots=True)
class Line:
    account: LedgerAccount
    amount: int  # debit positive, credit negative


def account(kind: str, currency: str, creator: Any = None) -> LedgerAccount:
    currency = currency.upper()
    creator_id = getattr(creator, "pk", creator)
    try:
        with transaction.atomic():
            obj, _ = LedgerAccount.objects.get_or_create(
                kind=kind, currency=currency, creator_id=creator_id
            )
    except IntegrityError:  # a concurrent first use created it
        obj = LedgerAccount.objects.get(kind=kind, currency=currency, creator_id=creator_id)
    return obj


def creator_accounts(creator_ids: Iterable[int], kind: str, currency: str) -> list[LedgerAccount]:
    """Many creators' accounts of one kind at once (created where missing): a batch job's
    lookups in two or three queries instead of one or two per creator."""
    currency, ids = currency.upper(), sorted(set(creator_ids))
    found = list(LedgerAccount.objects.filter(kind=kind, currency=currency, creator_id__in=ids))
    missing = set(ids) - {a.creator_id for a in found}
    if missing:
        LedgerAccount.objects.bulk_create(
            [LedgerAccount(kind=kind, currency=currency, creator_id=i) for i in sorted(missing)],
            ignore_conflicts=True,  # a concurrent first use created it
        )
        found += LedgerAccount.objects.filter(kind=kind, currency=currency, creator_id__in=missing)
    return found


def _checked_lines(currency: str, lines: Iterable[Line]) -> list[Line]:
    lines = [line for line in lines if line.amount != 0]
    if len(lines) < 2:
        raise UnbalancedJournal("A journal needs at least two non-zero entries.")
    for line in lines:
        if line.account.currency != currency:
            raise UnbalancedJournal(f"{line.account} is not in {currency}.")
        if isinstance(line.amount, bool) or not isinstance(line.amount, int):
            raise UnbalancedJournal("Entry amounts are integers of minor units.")
    if sum(line.amount for line in lines) != 0:
        raise UnbalancedJournal()
    return lines


def journal_post_claimed(
    *,
    kind: str,
    currency: str,
    idempotency_key: str,
    lines: Iterable[Line],
    description: str = "",
    **external_ids: str,
) -> Journal:
    """`journal_post` for a caller whose own transaction already holds the only claim to this
    key (a stipend row it moved to paid in that transaction): no lookup and no savepoint, the
    same checks. A duplicate key raises `IntegrityError` and rolls the caller back."""
    currency = currency.upper()
    return _insert(kind, currency, idempotency_key, _checked_lines(currency, lines), description,
                   external_ids)  # fmt: skip


def _insert(
    kind: str, currency: str, idempotency_key: str, lines: list[Line], description: str,
    external_ids: dict[str, str],
) -> Journal:  # fmt: skip
    journal = Journal.objects.create(
        kind=kind, currency=currency, idempotency_key=idempotency_key,
        description=description[:255], **external_ids,
    )  # fmt: skip
    Entry.objects.bulk_create(
        Entry(journal=journal, account=line.account, amount=line.amount, currency=currency)
        for line in lines
    )
    return journal


def journal_post(
    *,
    kind: str,
    currency: str,
    idempotency_key: str,
    lines: Iterable[Line],
    description: str = "",
    **external_ids: str,
) -> Journal:
    """Post a balanced journal once per idempotency key; a repeat returns the first journal."""
    currency = currency.upper()
    lines = _checked_lines(currency, lines)
    existing = Journal.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            journal = _insert(kind, currency, idempotency_key, lines, description, external_ids)
    except IntegrityError:
        # The same key posted concurrently: the unique key let exactly one through.
        return Journal.objects.get(idempotency_key=idempotency_key)
    return journal


def destination_sale_post(
    *,
    kind: str,
    currency: str,
    idempotency_key: str,
    description: str,
    charged: int,
    creator: Any,
    creator_share: int,
    application_fee: int,
    processing_fee: int,
    **external_ids: str,
) -> Journal:
    """The sale journal of a destination charge (a tip, a ticket, a club membership invoice): the
    buyer's card pays `charged`; the creator's connected account receives `creator_share`; the
    application fee reaches the platform balance, which pays Stripe's processing fee. What stays
    in the platform balance is the platform's revenue. Posted once per idempotency key."""
    c = currency
    return journal_post(
        kind=kind,
        currency=c,
        idempotency_key=idempotency_key,
        description=description,
        lines=[
            Line(account(Kind.CUSTOMER_PAYMENTS, c), -charged),
            Line(account(Kind.CREATOR_PAYABLE, c, creator), creator_share),
            Line(account(Kind.PLATFORM_BALANCE, c), application_fee),
            Line(account(Kind.PLATFORM_BALANCE, c), -processing_fee),
            Line(account(Kind.PROCESSING_FEES, c), processing_fee),
        ],
        **external_ids,
    )


def account_balance(acc: LedgerAccount) -> int:
    return int(Entry.objects.filter(account=acc).aggregate(total=Sum("amount"))["total"] or 0)


def balance_of(kind: str, currency: str, creator: Any = None) -> int:
    creator_id = getattr(creator, "pk", creator)
    total = Entry.objects.filter(
        account__kind=kind, account__currency=currency.upper(), account__creator_id=creator_id
    ).aggregate(total=Sum("amount"))["total"]
    return int(total or 0)


def creator_balances(creator: Any) -> dict[str, int]:
    """What the ledger says each currency's creator payable holds (positive = theirs)."""
    rows = (
        Entry.objects.filter(account__kind=Kind.CREATOR_PAYABLE, account__creator=creator)
        .values("currency")
        .annotate(total=Sum("amount"))
    )
    return {row["currency"]: int(row["total"]) for row in rows}


def journal_count() -> int:
    """How many journals the ledger holds (a restored backup says how many came back)."""
    return Journal.objects.count()


def ledger_imbalances() -> list[tuple[int, str, int]]:
    """(journal id, currency, sum) for every journal that does not sum to zero: always empty."""
    rows = (
        Entry.objects.values("journal_id", "currency")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
    )
    return [(r["journal_id"], r["currency"], int(r["total"])) for r in rows]


def ledger_totals_by_currency() -> dict[str, int]:
    rows = Entry.objects.values("currency").annotate(total=Sum("amount"))
    return {r["currency"]: int(r["total"]) for r in rows}


_GUARDS_SQL = """
CREATE OR REPLACE FUNCTION payouts_ledger_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the payouts ledger is append-only (% on %)', TG_OP, TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS payouts_journal_append_only ON payouts_journal;
CREATE TRIGGER payouts_journal_append_only BEFORE UPDATE OR DELETE ON payouts_journal
    FOR EACH ROW EXECUTE FUNCTION payouts_ledger_refuse_change();
DROP TRIGGER IF EXISTS payouts_entry_append_only ON payouts_entry;
CREATE TRIGGER payouts_entry_append_only BEFORE UPDATE OR DELETE ON payouts_entry
    FOR EACH ROW EXECUTE FUNCTION payouts_ledger_refuse_change();

CREATE OR REPLACE FUNCTION payouts_journal_balanced() RETURNS trigger AS $$
DECLARE
    bad record;
BEGIN
    SELECT e.currency, SUM(e.amount) AS total INTO bad
      FROM payouts_entry e WHERE e.journal_id = NEW.journal_id
     GROUP BY e.currency HAVING SUM(e.amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal % does not balance in %: %', NEW.journal_id, bad.currency, bad.total;
    END IF;
    IF EXISTS (SELECT 1 FROM payouts_entry e JOIN payouts_journal j ON j.id = e.journal_id
                WHERE e.journal_id = NEW.journal_id AND e.currency <> j.currency) THEN
        RAISE EXCEPTION 'journal % has an entry in another currency', NEW.journal_id;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS payouts_entry_balanced ON payouts_entry;
CREATE CONSTRAINT TRIGGER payouts_entry_balanced AFTER INSERT ON payouts_entry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION payouts_journal_balanced();
"""


def install_database_guards(using: str = "default") -> None:
    """Idempotent; run after every migrate (post_migrate), since tests build tables without
    migrations. TRUNCATE (test teardown, a deliberate reset) is not an UPDATE or DELETE."""
    conn = connections[using]
    if conn.vendor != "postgresql":
        return
    with conn.cursor() as cursor:
        cursor.execute(_GUARDS_SQL)


__all__ = [
    "Kind",
    "Line",
    "UnbalancedJournal",
    "account",
    "account_balance",
    "balance_of",
    "creator_accounts",
    "install_database_guards",
    "journal_post",
    "journal_post_claimed",
    "ledger_imbalances",
    "ledger_totals_by_currency",
]
