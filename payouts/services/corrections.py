"""Correcting journals: how staff resolve a discrepancy (docs/payouts.md, "Correcting journals").

A correction is a new, balanced `correction` journal with a reason, linked to the discrepancy
it resolves; it never edits an existing journal. Posting it resolves the discrepancy (its
resolution note is the reason) and writes an audit entry naming the staff member, the
discrepancy and the journal, all in one transaction. A double submission of the same form (the
same key) posts once. A resolved discrepancy refuses another correction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from clubhouse.errors import Conflict, InvalidInput
from payouts import ledger
from payouts.audit import audit
from payouts.ledger import Kind, Line, UnbalancedJournal
from payouts.models import Discrepancy, Journal


class CorrectionInvalid(InvalidInput):
    code = "correction_invalid"
    default_message = "This correcting journal is not valid; nothing was posted."


class CorrectionUnbalanced(CorrectionInvalid):
    code = "correction_unbalanced"
    default_message = "The lines of a journal must sum to zero; nothing was posted."


class DiscrepancyResolved(Conflict):
    code = "discrepancy_resolved"
    default_message = (
        "This discrepancy is already resolved; reopen it (untick “resolved”) before posting "
        "another correction."
    )


@dataclass(frozen=True, slots=True)
class CorrectionLine:
    kind: str  # a LedgerAccount.Kind
    amount: int  # minor units, signed: debit positive, credit negative
    creator: Any = None  # the creator of a creator_payable line, and of no other


def _checked(currency: str, reason: str, lines: Sequence[CorrectionLine]) -> tuple[str, str]:
    currency = currency.strip().upper()
    reason = reason.strip()
    if len(currency) != 3 or not currency.isalpha():
        raise CorrectionInvalid("The currency is a three-letter ISO 4217 code.",
                                fields={"currency": ["not a currency code"]})  # fmt: skip
    if not reason:
        raise CorrectionInvalid("Say why this correction is posted.",
                                fields={"reason": ["required"]})  # fmt: skip
    if len(lines) < 2:
        raise CorrectionInvalid("A journal needs at least two lines.")
    for n, line in enumerate(lines, start=1):
        if line.kind not in Kind.values:
            raise CorrectionInvalid(f"Line {n}: {line.kind!r} is not a ledger account.")
        if isinstance(line.amount, bool) or not isinstance(line.amount, int) or line.amount == 0:
            raise CorrectionInvalid(f"Line {n}: the amount is a non-zero integer of minor units.")
        payable = line.kind == Kind.CREATOR_PAYABLE
        if payable and line.creator is None:
            raise CorrectionInvalid(f"Line {n}: a creator_payable line names its creator.")
        if not payable and line.creator is not None:
            raise CorrectionInvalid(f"Line {n}: only creator_payable lines name a creator.")
    total = sum(line.amount for line in lines)
    if total != 0:
        raise CorrectionUnbalanced(
            f"The lines sum to {total:+d} {currency}, not zero: a journal must balance. "
            "Nothing was posted."
        )
    return currency, reason


def correction_post(
    *,
    discrepancy: Discrepancy,
    currency: str,
    reason: str,
    lines: Sequence[CorrectionLine],
    actor: Any,
    key: str,
) -> Journal:
    """Post the correcting journal of `discrepancy` once per `key` (the form's uuid: a double
    submission returns the first journal) and resolve the discrepancy with it."""
    currency, reason = _checked(currency, reason, lines)
    if not key.strip():
        raise CorrectionInvalid("A correction needs its form's key.")
    idempotency_key = f"correction:{key.strip()}"
    with transaction.atomic():
        locked = Discrepancy.objects.select_for_update().get(pk=discrepancy.pk)
        previous = locked.correction
        if previous is not None and previous.idempotency_key == idempotency_key:
            return previous  # the same form submitted again
        if Journal.objects.filter(idempotency_key=idempotency_key).exists():
            raise Conflict("This form was already used for another correction.",
                           code="correction_key_reused")  # fmt: skip
        if locked.resolved:
            raise DiscrepancyResolved()
        try:
            journal = ledger.journal_post(
                kind=Journal.Kind.CORRECTION,
                currency=currency,
                idempotency_key=idempotency_key,
                description=f"correction of discrepancy #{locked.pk} ({locked}): {reason}",
                lines=[
                    Line(ledger.account(line.kind, currency, line.creator), line.amount)
                    for line in lines
                ],
            )
        except UnbalancedJournal as exc:  # checked above; the ledger's own word, as a 400
            raise CorrectionUnbalanced(exc.message) from exc
        now = timezone.now()
        locked.correction = journal
        locked.resolved = True
        locked.resolution_note = reason
        locked.resolved_by = actor if getattr(actor, "pk", None) else None
        locked.resolved_at = now
        locked.save(update_fields=["correction", "resolved", "resolution_note", "resolved_by",
                                   "resolved_at"])  # fmt: skip
        audit(locked, "correction_posted", from_status="open", to_status="resolved",
              actor=actor, note=f"journal #{journal.pk} ({idempotency_key})", reason=reason)  # fmt: skip
    discrepancy.refresh_from_db()
    return journal
