"""Payouts to banks: the platform's own, and creators' from their connected accounts.

Connected-account payouts arrive as Connect events (`payout.paid` / `payout.failed` with the
event's `account`). A payout row follows Stripe's lifecycle; a paid payout can still fail later
(the bank returns it), failed and canceled are final, so an older event arriving late changes
nothing. Journals: paid → `creator_payable -A`, `bank_payouts +A`; failed after paid → the
reverse (the money is back in the connected account's balance).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.db import transaction

from payouts import ledger
from payouts.audit import audit
from payouts.ledger import Kind, Line
from payouts.models import ConnectedAccount, ConnectedPayout, Journal

logger = logging.getLogger(__name__)


def connected_payout_apply(*, data: dict[str, Any], account_id: str) -> ConnectedPayout | None:
    account = ConnectedAccount.objects.filter(stripe_account_id=account_id).first()
    if account is None:
        logger.warning("payout %s of unknown account %s", data.get("id"), account_id)
        return None
    status = str(data.get("status") or "")
    if status not in ConnectedPayout.Status.values:
        return None
    amount, currency = int(data["amount"]), str(data["currency"]).upper()
    with transaction.atomic():
        payout, _ = ConnectedPayout.objects.select_for_update().get_or_create(
            stripe_payout_id=str(data["id"]),
            defaults={"account": account, "creator_id": account.user_id, "amount": amount,
                      "currency": currency},
        )  # fmt: skip
        if payout.status == status or status not in ConnectedPayout.TRANSITIONS[payout.status]:
            return payout  # a replay, or an older event than the state we hold
        previous = payout.status
        payout.status = status
        payout.failure_code = str(data.get("failure_code") or "")[:64]
        if data.get("arrival_date"):
            payout.arrival_date = datetime.fromtimestamp(int(data["arrival_date"]), tz=UTC)
        payout.save()
        audit(payout, status, from_status=previous, to_status=status)
        if status == ConnectedPayout.Status.PAID:
            ledger.journal_post(
                kind=Journal.Kind.CREATOR_PAYOUT,
                currency=currency,
                idempotency_key=f"creator-payout:{payout.stripe_payout_id}",
                description=f"payout {payout.stripe_payout_id} of creator {account.user_id}",
                stripe_payout_id=payout.stripe_payout_id,
                lines=[
                    Line(ledger.account(Kind.CREATOR_PAYABLE, currency, account.user_id), -amount),
                    Line(ledger.account(Kind.BANK_PAYOUTS, currency), amount),
                ],
            )
        elif status == ConnectedPayout.Status.FAILED and previous == ConnectedPayout.Status.PAID:
            ledger.journal_post(
                kind=Journal.Kind.CREATOR_PAYOUT_FAILED,
                currency=currency,
                idempotency_key=f"creator-payout-failed:{payout.stripe_payout_id}",
                description=f"payout {payout.stripe_payout_id} returned by the bank",
                stripe_payout_id=payout.stripe_payout_id,
                lines=[
                    Line(ledger.account(Kind.CREATOR_PAYABLE, currency, account.user_id), amount),
                    Line(ledger.account(Kind.BANK_PAYOUTS, currency), -amount),
                ],
            )
    return payout


def platform_payout_failed(*, data: dict[str, Any]) -> Journal | None:
    """A platform payout that was booked as paid came back."""
    paid = Journal.objects.filter(idempotency_key=f"payout:{data['id']}").first()
    if paid is None:
        return None
    currency = str(data["currency"]).upper()
    amount = int(data["amount"])
    return ledger.journal_post(
        kind=Journal.Kind.PAYOUT_FAILED,
        currency=currency,
        idempotency_key=f"payout-failed:{data['id']}",
        description=f"payout {data['id']} returned by the bank",
        stripe_payout_id=str(data["id"]),
        lines=[
            Line(ledger.account(Kind.PLATFORM_BALANCE, currency), amount),
            Line(ledger.account(Kind.BANK_PAYOUTS, currency), -amount),
        ],
    )
