"""Monthly stipends, paid exactly once per (creator, month).

The argument (docs/payouts.md has it in full):

1. A row per (creator, month) exists at most once: a unique constraint, created in its own
   transaction (``stipend_run_month``), so a second beat, a retry or a racing worker finds it.
2. A row is *claimed* (pending -> processing) under ``select_for_update(skip_locked)`` and the
   claim commits before the provider is called: a second worker skips it or sees it in flight.
3. The transfer carries an idempotency key derived from (creator, month, key_attempt): a retry
   of an unknown outcome (crash, timeout) gets the same transfer back from Stripe.
4. Stripe forgets idempotency keys after 24 hours, so a row still ``processing`` after a day is
   first looked up in the provider's transfer list by its transfer group; if the transfer is
   there, the row is completed with it and nothing is sent.
5. Only a *definitive* refusal (e.g. insufficient balance) bumps ``key_attempt``, so the next
   try is a new request rather than the replay of a stored error.
6. The ledger journal is keyed by (creator, month): even a double completion posts once.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from clubhouse.errors import Conflict
from payouts import conf, ledger, selectors
from payouts.audit import audit, require_transition
from payouts.ledger import Kind, Line
from payouts.models import Journal, StipendPayment, StipendRun
from payouts.provider import (
    InsufficientFunds,
    ProviderError,
    StripeDict,
    get_provider,
)

logger = logging.getLogger(__name__)

S = StipendPayment.Status


def stipend_run_month(*, month: date) -> StipendRun:
    """Create the month's rows (once) and pay every row that is due. Safe to call repeatedly
    and concurrently."""
    month = month.replace(day=1)
    run, _ = StipendRun.objects.get_or_create(month=month)
    for program in selectors.creators_due_stipend(month):
        try:
            with transaction.atomic():
                StipendPayment.objects.get_or_create(
                    creator_id=program.user_id,
                    month=month,
                    defaults={
                        "run": run,
                        "amount": program.stipend_amount,
                        "currency": program.stipend_currency,
                        "destination_account_id": program.user.connected_account.stripe_account_id,
                    },
                )
        except IntegrityError:
            pass  # a racing run created it between our read and our insert
    for payment_id in run.payments.filter(status__in=[S.PENDING, S.PROCESSING]).values_list(
        "id", flat=True
    ):
        stipend_pay(payment_id=payment_id)
    StipendRun.objects.filter(pk=run.pk).update(last_run=timezone.now())
    return run


def _claim(payment_id: int) -> tuple[StipendPayment | None, bool]:
    """Move a row to processing. Returns (row, was_stale) or (None, False) when another worker
    has it, it is done, or it is in flight."""
    stale_before = timezone.now() - timedelta(seconds=conf.stipend_stale_after_seconds())
    with transaction.atomic():
        payment = (
            StipendPayment.objects.select_for_update(skip_locked=True).filter(pk=payment_id).first()
        )
        if payment is None:
            return None, False  # locked by another worker right now
        if payment.status == S.PROCESSING:
            if payment.claimed_at and payment.claimed_at > stale_before:
                return None, False  # in flight elsewhere (or died less than a day ago)
            was_stale = True
        elif payment.status == S.PENDING:
            was_stale = False
        else:
            return None, False  # paid, or failed waiting for staff / a retry
        previous = payment.status
        require_transition(payment, S.PROCESSING)
        payment.status = S.PROCESSING
        payment.claimed_at = timezone.now()
        payment.save(update_fields=["status", "claimed_at", "updated"])
        audit(payment, "claimed", from_status=previous, to_status=S.PROCESSING,
              note="stale claim: provider looked up first" if was_stale else "")  # fmt: skip
    return payment, was_stale


def stipend_pay(*, payment_id: int) -> StipendPayment | None:
    payment, was_stale = _claim(payment_id)
    if payment is None:
        return None
    provider = get_provider()
    if was_stale or payment.key_attempt > 1:
        # The worker that claimed it died (its idempotency key may have expired at Stripe), or
        # this is a retry after a failure: whatever happened, the provider's list is the truth.
        found = [
            t
            for t in provider.transfer_list(transfer_group=payment.transfer_group)
            if t.get("destination") == payment.destination_account_id
        ]
        if found:
            return stipend_mark_paid(payment=payment, transfer=found[-1])
    try:
        transfer = provider.transfer_create(
            amount=payment.amount,
            currency=payment.currency,
            destination=payment.destination_account_id,
            transfer_group=payment.transfer_group,
            metadata={
                "kind": "stipend",
                "creator": str(payment.creator_id),
                "month": f"{payment.month:%Y-%m}",
            },
            idempotency_key=payment.idempotency_key,
        )
    except InsufficientFunds as exc:
        return _mark_failed(payment, S.FAILED_INSUFFICIENT_FUNDS, exc.message)
    except ProviderError as exc:
        if exc.status >= 500 or (
            exc.code == "payment_provider_error" and "connection" in exc.message.lower()
        ):
            raise  # unknown outcome: the row stays processing; a retry reuses the same key
        return _mark_failed(payment, S.FAILED, f"{exc.code}: {exc.message}")
    return stipend_mark_paid(payment=payment, transfer=transfer)


def stipend_mark_paid(*, payment: StipendPayment, transfer: StripeDict) -> StipendPayment:
    with transaction.atomic():
        payment = StipendPayment.objects.select_for_update().get(pk=payment.pk)
        if payment.status == S.PAID:
            return payment
        # A transfer the provider holds is the truth, even for a row marked failed meanwhile.
        require_transition(payment, S.PAID)
        previous = payment.status
        payment.status = S.PAID
        payment.stripe_transfer_id = transfer["id"]
        payment.error = ""
        payment.save(update_fields=["status", "stripe_transfer_id", "error", "updated"])
        c = payment.currency
        ledger.journal_post(
            kind=Journal.Kind.STIPEND,
            currency=c,
            idempotency_key=f"stipend:{payment.creator_id}:{payment.month:%Y-%m}",
            description=f"stipend {payment.month:%Y-%m} for {payment.creator_id}",
            stripe_transfer_id=transfer["id"],
            lines=[
                Line(ledger.account(Kind.PLATFORM_BALANCE, c), -payment.amount),
                Line(ledger.account(Kind.CREATOR_PAYABLE, c, payment.creator_id), payment.amount),
            ],
        )
        audit(payment, "paid", from_status=previous, to_status=S.PAID, note=transfer["id"])
    return payment


def _mark_failed(payment: StipendPayment, status: str, error: str) -> StipendPayment:
    with transaction.atomic():
        payment = StipendPayment.objects.select_for_update().get(pk=payment.pk)
        if payment.status != S.PROCESSING:
            return payment
        require_transition(payment, status)
        payment.status = status
        payment.error = error[:2000]
        # The provider answered definitively and stored that answer under this key: the next
        # attempt must be a new request.
        payment.key_attempt += 1
        payment.save(update_fields=["status", "error", "key_attempt", "updated"])
        audit(payment, "failed", from_status=S.PROCESSING, to_status=status, note=error)
    logger.warning("stipend %s failed: %s", payment.pk, error)
    return payment


def stipend_retry(*, payment: StipendPayment, actor: User | None = None) -> StipendPayment | None:
    """Staff (or the next run) re-runs a failed row: back to pending, then pay it."""
    with transaction.atomic():
        locked = StipendPayment.objects.select_for_update().get(pk=payment.pk)
        if locked.status not in {S.FAILED, S.FAILED_INSUFFICIENT_FUNDS}:
            raise Conflict("Only a failed stipend can be re-run.", code="illegal_transition")
        previous = locked.status
        require_transition(locked, S.PENDING)
        locked.status = S.PENDING
        locked.save(update_fields=["status", "updated"])
        audit(locked, "retry", from_status=previous, to_status=S.PENDING, actor=actor)
    return stipend_pay(payment_id=payment.pk)


def stipend_month_due(today: date | None = None) -> date:
    return (today or timezone.now().date()).replace(day=1)


def stipends_pay_due(*, today: date | None = None) -> dict[str, Any]:
    run = stipend_run_month(month=stipend_month_due(today))
    return selectors.stipend_run_progress(run)
