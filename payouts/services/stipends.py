"""Monthly stipends: every (creator, month) is paid exactly once, or visibly failed.

The argument (docs/payouts.md has it in full):

1. A row per (creator, month) exists at most once: a unique constraint, created in its own
   transaction (``stipend_run_month``), so a second beat, a retry or a racing worker finds it.
   The run is daily: a creator who becomes eligible during the month gets a row the next day.
2. A row is *claimed* (pending -> processing) under ``select_for_update(skip_locked)`` and the
   claim commits before the provider is called: a second worker skips it or sees it in flight.
3. The transfer carries an idempotency key derived from (creator, month, key_attempt): a retry
   of an unknown outcome (crash, timeout, 5xx) gets the same transfer back from Stripe.
4. An unknown outcome leaves the row ``processing`` with its claim released; the sweep
   (``stipends_sweep``) re-claims it and first looks the transfer group up in the provider's
   transfer list: a transfer found completes the row, otherwise the same key is sent again.
   Until resolved, every sweep does this again. Once the earlier attempt began longer ago than
   any call can last (PAYOUTS_STIPEND_STALE_AFTER) and the list still shows no transfer, the
   key is spent (Stripe replays a stored 500 for a day and forgets keys after that) and the
   next request is a new one: nothing of the old one can still create a transfer.
5. Only a *definitive* refusal (Stripe's invalid-request and card errors: a missing transfers
   capability, insufficient balance) marks the row failed with Stripe's code and message and
   bumps ``key_attempt``, so staff's retry is a new request rather than the replay of the
   stored error; every retry after a failure looks the transfer group up first.
6. The ledger journal is keyed by (creator, month): even a double completion posts once.
7. Nothing one creator's row does stops the run: an unexpected error is recorded on that row
   (left for the sweep, as an unknown outcome) and the run goes on to the next creator. A run
   that ends with failed or unresolved rows tells staff (e-mail and an in-app notice).
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Notification, User
from accounts.services import notification_create
from clubhouse.errors import Conflict
from clubhouse.money import Money
from payouts import conf, ledger, selectors
from payouts.audit import audit, require_transition
from payouts.ledger import Kind, Line
from payouts.models import Journal, StipendPayment, StipendRun
from payouts.provider import (
    InsufficientFunds,
    ProviderError,
    ProviderUnavailable,
    StripeDict,
    get_provider,
)

logger = logging.getLogger(__name__)

S = StipendPayment.Status


def stipend_run_month(*, month: date) -> StipendRun:
    """Create the month's rows (once) and pay every row that is due. Safe to call repeatedly
    and concurrently; raises nothing for a creator's failure (see the module's point 7)."""
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
        except Exception:  # one creator's bad data must not cost the others their month
            logger.exception("stipends %s: no row for creator %s", month, program.user_id)
    ended = [
        _pay_recording_errors(payment_id)
        for payment_id in run.payments.filter(status__in=[S.PENDING, S.PROCESSING]).values_list(
            "id", flat=True
        )
    ]
    StipendRun.objects.filter(pk=run.pk).update(last_run=timezone.now())
    unresolved = [p for p in ended if p is not None and p.status != S.PAID]
    if unresolved:
        stipend_failures_report(run=run, payments=unresolved)
    return run


def _pay_recording_errors(payment_id: int) -> StipendPayment | None:
    """`stipend_pay`, with any unexpected error written on the row instead of raised."""
    try:
        return stipend_pay(payment_id=payment_id)
    except Exception as exc:
        logger.exception("stipend %s: unexpected error", payment_id)
        try:
            payment = StipendPayment.objects.get(pk=payment_id)
            return _mark_unknown(payment, f"unexpected error: {type(exc).__name__}: {exc}")
        except Exception:
            logger.exception("stipend %s: could not record the error", payment_id)
            return None


def _claim(payment_id: int) -> tuple[StipendPayment | None, bool, bool]:
    """Move a row to processing. Returns (row, was_stale, attempt_over) or (None, False, False)
    when another worker has it, it is done, or it is in flight. `was_stale`: an earlier attempt
    may have reached the provider; `attempt_over`: and it began longer ago than any call lasts,
    so nothing of it can still be running at the provider."""
    stale_before = timezone.now() - timedelta(seconds=conf.stipend_stale_after_seconds())
    with transaction.atomic():
        payment = (
            StipendPayment.objects.select_for_update(skip_locked=True).filter(pk=payment_id).first()
        )
        if payment is None:
            return None, False, False  # locked by another worker right now
        attempt_over = False
        if payment.status == S.PROCESSING:
            if payment.claimed_at and payment.claimed_at > stale_before:
                return None, False, False  # in flight elsewhere (or died moments ago)
            was_stale = True
            # Released after an unknown outcome (`updated` is when), or claimed by a worker
            # that died: either way, how long ago.
            attempt_over = (payment.claimed_at or payment.updated) < stale_before
        elif payment.status == S.PENDING:
            was_stale = False
        else:
            return None, False, False  # paid, or failed waiting for staff / a retry
        previous = payment.status
        require_transition(payment, S.PROCESSING)
        payment.status = S.PROCESSING
        payment.claimed_at = timezone.now()
        payment.save(update_fields=["status", "claimed_at", "updated"])
        audit(payment, "claimed", from_status=previous, to_status=S.PROCESSING,
              note="stale claim: provider looked up first" if was_stale else "")  # fmt: skip
    return payment, was_stale, attempt_over


def stipend_pay(*, payment_id: int) -> StipendPayment | None:
    """Pay one row if no one else is: paid, failed (a definitive refusal) or, when the outcome
    is unknown, left `processing` with its claim released for the sweep. Returns the row as it
    ended, or None when another worker has it or it needs nothing."""
    payment, was_stale, attempt_over = _claim(payment_id)
    if payment is None:
        return None
    provider = get_provider()
    if was_stale or payment.key_attempt > 1:
        # An earlier attempt may have created the transfer (its answer lost, the worker dead,
        # its key possibly expired at Stripe), or this is a retry after a failure: whatever
        # happened, the provider's list is the truth. The group is unique per (creator, month).
        try:
            found = provider.transfer_list(transfer_group=payment.transfer_group)
        except ProviderError as exc:
            return _mark_unknown(payment, f"transfer lookup failed: {_describe(exc)}")
        if found:
            return stipend_mark_paid(payment=payment, transfer=found[-1])
        if was_stale and attempt_over:
            # No transfer, and the earlier attempt cannot still be running: its key is spent
            # (Stripe replays a 500 it stored under a key for a day), so this is a new request.
            payment = _new_key(payment)
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
    except ProviderUnavailable as exc:
        # Network, 5xx after stripe-python's own retries, a concurrent request with this key:
        # Stripe may or may not have made the transfer. Same key next time.
        return _mark_unknown(payment, _describe(exc))
    except InsufficientFunds as exc:
        return _mark_failed(payment, S.FAILED_INSUFFICIENT_FUNDS, _describe(exc))
    except ProviderError as exc:
        # Stripe answered and refused (invalid request, card error, idempotency mismatch):
        # definitive. The answer is stored under this key, so the retry gets a new one.
        return _mark_failed(payment, S.FAILED, _describe(exc))
    return stipend_mark_paid(payment=payment, transfer=transfer)


def _new_key(payment: StipendPayment) -> StipendPayment:
    with transaction.atomic():
        payment = StipendPayment.objects.select_for_update().get(pk=payment.pk)
        payment.key_attempt += 1
        payment.save(update_fields=["key_attempt", "updated"])
        audit(payment, "new_key", from_status=payment.status, to_status=payment.status,
              note="no transfer at the provider; the last attempt is long over")  # fmt: skip
    return payment


def _describe(exc: ProviderError) -> str:
    """Stripe's code and message, as staff read them on the row."""
    code = exc.extra.get("provider_code") or exc.code
    return f"{code}: {exc.message}"


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
        paid = payment
        transaction.on_commit(lambda: _notify_creator_paid(paid))
    return payment


def _notify_creator_paid(payment: StipendPayment) -> None:
    notification_create(
        recipient=payment.creator,
        kind=Notification.Kind.MONEY,
        data={"event": "stipend_paid", "amount": payment.amount, "currency": payment.currency,
              "month": f"{payment.month:%Y-%m}"},
    )  # fmt: skip


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


def _mark_unknown(payment: StipendPayment, error: str) -> StipendPayment:
    """The call ended without an answer: the row stays `processing` with the same key, its
    claim released (``claimed_at`` empty) so the next sweep looks it up and retries it."""
    with transaction.atomic():
        payment = StipendPayment.objects.select_for_update().get(pk=payment.pk)
        if payment.status != S.PROCESSING:
            return payment
        payment.claimed_at = None
        payment.error = f"outcome unknown, retried with the same key: {error}"[:2000]
        payment.save(update_fields=["claimed_at", "error", "updated"])
        audit(payment, "outcome_unknown", from_status=S.PROCESSING, to_status=S.PROCESSING,
              note=error)  # fmt: skip
    logger.warning("stipend %s: outcome unknown: %s", payment.pk, error)
    return payment


def stipend_retry(*, payment: StipendPayment, actor: User | None = None) -> StipendPayment:
    """Staff's one-click retry of a row that needs attention: a failed row goes back to
    pending and is paid (a new key, after a lookup); a stuck row (pending, or processing with
    an unknown outcome and no worker on it) is looked up and retried with its own key. Refuses
    a paid row and one a worker is paying right now. Returns the row as it ended."""
    with transaction.atomic():
        locked = StipendPayment.objects.select_for_update().get(pk=payment.pk)
        if locked.status == S.PAID:
            raise Conflict("This stipend is paid already.", code="stipend_paid")
        stuck = selectors.stipend_payments_to_sweep().filter(pk=locked.pk).exists()
        if locked.status in {S.FAILED, S.FAILED_INSUFFICIENT_FUNDS}:
            previous = locked.status
            require_transition(locked, S.PENDING)
            locked.status = S.PENDING
            locked.save(update_fields=["status", "updated"])
            audit(locked, "retry", from_status=previous, to_status=S.PENDING, actor=actor)
        elif stuck or locked.status == S.PENDING:
            audit(locked, "retry", from_status=locked.status, to_status=locked.status,
                  actor=actor, note="not in flight: looked up first if it may have been sent")  # fmt: skip
        else:
            raise Conflict(
                "A worker is paying this stipend right now; try again in a few minutes.",
                code="stipend_in_flight",
            )
    _pay_recording_errors(payment.pk)
    return StipendPayment.objects.get(pk=payment.pk)


def stipends_sweep() -> list[StipendPayment]:
    """Every row left unresolved (an unknown outcome, a dead worker, a run that stopped), any
    month: looked up at the provider, then retried with its key. Definitive failures it meets
    are reported to staff; rows still unknown wait for the next sweep (and the daily run's
    report). Raises nothing for a row."""
    ended: list[StipendPayment] = []
    for payment_id in selectors.stipend_payments_to_sweep().values_list("id", flat=True):
        payment = _pay_recording_errors(payment_id)
        if payment is not None:
            ended.append(payment)
    failed = [p for p in ended if p.status in {S.FAILED, S.FAILED_INSUFFICIENT_FUNDS}]
    for run in StipendRun.objects.filter(pk__in={p.run_id for p in failed}):
        stipend_failures_report(run=run, payments=[p for p in failed if p.run_id == run.pk])
    return ended


def stipend_failures_report(*, run: StipendRun, payments: list[StipendPayment]) -> None:
    """Tell staff that a run ended with rows failed or unresolved: an e-mail to active staff
    (and ADMINS) with each row's error and its admin page, an in-app notification to each of
    them, and an audit entry on the run (shown in admin). Never raises."""
    try:
        _failures_report(run, payments)
    except Exception:
        logger.exception("stipends %s: could not report failures to staff", run)


def _failures_report(run: StipendRun, payments: list[StipendPayment]) -> None:
    failed = [p for p in payments if p.status in {S.FAILED, S.FAILED_INSUFFICIENT_FUNDS}]
    unknown = [p for p in payments if p not in failed]
    site = str(settings.SITE_URL).rstrip("/")
    attention = f"{site}{reverse('admin:payouts_stipendpayment_changelist')}?attention=yes"
    subject = (
        f"Stipends {run.month:%Y-%m}: {len(failed)} failed, {len(unknown)} with an unknown outcome"
    )
    lines = [
        f"The stipend run for {run.month:%Y-%m} ended with rows that need attention.",
        "Failed rows wait for staff: fix the cause, then retry the row in admin. Rows with an",
        "unknown outcome are looked up at Stripe and retried by the sweep until resolved.",
        "",
    ]
    for p in payments:
        admin_url = reverse("admin:payouts_stipendpayment_change", args=[p.pk])
        lines += [
            f"- {p.creator} ({p.creator_id}): {Money(p.amount, p.currency)}, "
            f"{p.get_status_display()}",
            f"  {p.error}",
            f"  {site}{admin_url}",
        ]
    lines += ["", f"Everything that needs attention: {attention}"]
    staff = list(User.objects.filter(is_staff=True, is_active=True).order_by("pk"))
    admins = {a if isinstance(a, str) else a[1] for a in settings.ADMINS}  # "x@y" or (name, x@y)
    recipients = sorted({u.email for u in staff if u.email} | admins)
    audit(run, "failures_reported", note=subject)
    for member in staff:
        notification_create(
            recipient=member,
            kind=Notification.Kind.MONEY,
            data={"event": "stipend_run_failures", "month": f"{run.month:%Y-%m}",
                  "failed": len(failed), "unknown": len(unknown), "url": attention},
        )  # fmt: skip
    if recipients:
        send_mail(
            subject=subject, message="\n".join(lines), from_email=None,
            recipient_list=recipients,
        )  # fmt: skip


def stipend_month_due(today: date | None = None) -> date:
    return (today or timezone.now().date()).replace(day=1)


def stipends_pay_due(*, today: date | None = None) -> dict[str, Any]:
    run = stipend_run_month(month=stipend_month_due(today))
    return selectors.stipend_run_progress(run)
