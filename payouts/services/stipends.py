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
8. A run is paid in chunks (``PAYOUTS_STIPEND_CHUNK`` rows): with a broker, one Celery task per
   chunk, so workers pay in parallel (Stripe's live rate limit, 100 writes/s, is the ceiling);
   without one (tests, `make run`), in this process, one chunk after the other. A chunk claims
   its fresh rows in one statement and books each payment in one short transaction; rows that
   need care (an earlier attempt, a retry after a failure) take the one-row path above. The last
   chunk of a round to end reports the round's failures, once.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.services import NotificationKind, notification_create, notifications_create_many
from clubhouse.errors import Conflict
from clubhouse.money import Money
from payouts import conf, ledger, selectors
from payouts.audit import audit, audit_many, require_transition
from payouts.jobs import job_enqueue, job_runs_inline
from payouts.ledger import Kind, Line
from payouts.models import Journal, LedgerAccount, StipendPayment, StipendRun
from payouts.provider import (
    InsufficientFunds,
    ProviderError,
    ProviderUnavailable,
    StripeDict,
    get_provider,
)

if TYPE_CHECKING:
    from accounts.models import User
else:
    User = get_user_model()

logger = logging.getLogger(__name__)

S = StipendPayment.Status


def stipend_run_month(*, month: date) -> StipendRun:
    """Create the month's rows (once) and pay every row that is due, in chunks (module point
    8). Safe to call repeatedly and concurrently; raises nothing for a creator's failure."""
    month = month.replace(day=1)
    run, _ = StipendRun.objects.get_or_create(month=month)
    _rows_create(run)
    due = list(
        run.payments.filter(status__in=[S.PENDING, S.PROCESSING])
        .order_by("pk")
        .values_list("id", flat=True)
    )
    size = conf.stipend_chunk_size()
    chunks = [due[i : i + size] for i in range(0, len(due), size)]
    now = timezone.now()
    StipendRun.objects.filter(pk=run.pk).update(last_run=now)
    if not chunks or job_runs_inline("stipend_pay_chunk"):
        ended: list[StipendPayment] = []
        for chunk in chunks:
            ended += stipends_pay_chunk(payment_ids=chunk)
        unresolved = [p for p in ended if p.status != S.PAID]
        if unresolved:
            stipend_failures_report(run=run, payments=unresolved)
        return run
    with transaction.atomic():
        StipendRun.objects.filter(pk=run.pk).update(
            round_started=now, round_chunks=len(chunks), round_done=0
        )
        for chunk in chunks:
            transaction.on_commit(
                partial(job_enqueue, "stipend_pay_chunk", run.pk, now.isoformat(), chunk)
            )
    return run


def _rows_create(run: StipendRun) -> None:
    """The month's row for every creator due and without one, in a few inserts. A row that a
    racing run inserted first is skipped (the unique constraint); a creator whose data cannot
    make a row is logged and left out, never the others."""
    have = set(run.payments.values_list("creator_id", flat=True))
    programs: Any = selectors.creators_due_stipend(run.month)  # annotated: the stubs cannot see it
    due = programs.values_list(
        "user_id", "due_amount", "due_currency",
        "user__connected_account__stripe_account_id",
    )  # fmt: skip
    rows = []
    for creator_id, amount, currency, account_id in due:
        if creator_id in have:
            continue
        if not account_id or amount <= 0:
            logger.error("stipends %s: no row for creator %s", run.month, creator_id)
            continue
        rows.append(StipendPayment(run=run, creator_id=creator_id, month=run.month,
                                   amount=amount, currency=currency,
                                   destination_account_id=account_id))  # fmt: skip
    StipendPayment.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)


def stipends_pay_chunk(*, payment_ids: list[int]) -> list[StipendPayment]:
    """Pay one chunk of rows: fresh rows (pending, first key) are claimed together and each
    booked in one transaction; any other row takes `stipend_pay`'s one-row path. Raises nothing
    for a row; returns the rows as they ended (not those another worker has)."""
    fresh = _claim_fresh(payment_ids)
    accounts = _payable_accounts(fresh)
    ended: list[StipendPayment] = []
    for payment in fresh:
        try:
            ended.append(_pay_claimed(payment, was_stale=False, attempt_over=False,
                                      accounts=accounts))  # fmt: skip
        except Exception as exc:
            logger.exception("stipend %s: unexpected error", payment.pk)
            try:
                ended.append(
                    _mark_unknown(payment, f"unexpected error: {type(exc).__name__}: {exc}")
                )
            except Exception:
                logger.exception("stipend %s: could not record the error", payment.pk)
    claimed = {p.pk for p in fresh}
    for payment_id in payment_ids:
        if payment_id not in claimed:
            other = _pay_recording_errors(payment_id)
            if other is not None:
                ended.append(other)
    paid = [p for p in ended if p.status == S.PAID and p.pk in claimed]
    if paid:
        try:
            notifications_create_many([_paid_notice(p) for p in paid])
        except Exception:  # the money is booked; a lost notice must not undo or stop it
            logger.exception("stipends: could not notify %s creators", len(paid))
    return ended


def stipends_pay_chunk_round(*, run_id: int, round_started: str, payment_ids: list[int]) -> None:
    """A Celery worker's chunk of a fanned-out round; the round's last chunk to end reports
    the round's failed and unresolved rows to staff, once."""
    stipends_pay_chunk(payment_ids=payment_ids)
    with transaction.atomic():
        run = StipendRun.objects.select_for_update().get(pk=run_id)
        if run.round_started is None or run.round_started.isoformat() != round_started:
            return  # a newer round began: it reports
        run.round_done += 1
        run.save(update_fields=["round_done"])
        last = run.round_done == run.round_chunks
    if last:
        unresolved = list(
            run.payments.exclude(status=S.PAID).filter(updated__gte=run.round_started)
        )
        if unresolved:
            stipend_failures_report(run=run, payments=unresolved)


def _claim_fresh(payment_ids: list[int]) -> list[StipendPayment]:
    """Claim, in one statement, the chunk's rows that no attempt has touched (pending, first
    key): nothing can have reached the provider for them."""
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            StipendPayment.objects.select_for_update(skip_locked=True)
            .filter(pk__in=payment_ids, status=S.PENDING, key_attempt=1)
            .order_by("pk")
        )
        if not rows:
            return []
        StipendPayment.objects.filter(pk__in=[r.pk for r in rows]).update(
            status=S.PROCESSING, claimed_at=now, updated=now
        )
        for row in rows:
            row.status, row.claimed_at, row.updated = S.PROCESSING, now, now
        audit_many(rows, "claimed", from_status=S.PENDING, to_status=S.PROCESSING)
    return rows


def _payable_accounts(rows: list[StipendPayment]) -> dict[tuple[str, int | None], LedgerAccount]:
    """The ledger accounts a chunk's stipends move money between, fetched (or created) once."""
    accounts: dict[tuple[str, int | None], LedgerAccount] = {}
    for currency in {r.currency for r in rows}:
        accounts[(currency, None)] = ledger.account(Kind.PLATFORM_BALANCE, currency)
        creators = [r.creator_id for r in rows if r.currency == currency]
        for acc in ledger.creator_accounts(creators, Kind.CREATOR_PAYABLE, currency):
            accounts[(currency, acc.creator_id)] = acc
    return accounts


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
    return _pay_claimed(payment, was_stale=was_stale, attempt_over=attempt_over)


def _pay_claimed(
    payment: StipendPayment,
    *,
    was_stale: bool,
    attempt_over: bool,
    accounts: dict[tuple[str, int | None], LedgerAccount] | None = None,
) -> StipendPayment:
    """Send (or find) the transfer of a row this worker has claimed, and record the outcome."""
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
    if accounts is not None:
        return _mark_paid_claimed(payment, transfer, accounts)
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
        ledger.journal_post(**_stipend_journal(
            payment, transfer, ledger.account(Kind.PLATFORM_BALANCE, c),
            ledger.account(Kind.CREATOR_PAYABLE, c, payment.creator_id),
        ))  # fmt: skip
        audit(payment, "paid", from_status=previous, to_status=S.PAID, note=transfer["id"])
        paid = payment
        transaction.on_commit(lambda: _notify_creator_paid(paid))
    return payment


def _stipend_journal(
    payment: StipendPayment, transfer: StripeDict, platform: LedgerAccount, payable: LedgerAccount
) -> dict[str, Any]:
    """The stipend's journal (key per creator and month): the platform balance pays the
    creator's payable."""
    return {
        "kind": Journal.Kind.STIPEND,
        "currency": payment.currency,
        "idempotency_key": f"stipend:{payment.creator_id}:{payment.month:%Y-%m}",
        "description": f"stipend {payment.month:%Y-%m} for {payment.creator_id}",
        "stripe_transfer_id": transfer["id"],
        "lines": [Line(platform, -payment.amount), Line(payable, payment.amount)],
    }


def _mark_paid_claimed(
    payment: StipendPayment,
    transfer: StripeDict,
    accounts: dict[tuple[str, int | None], LedgerAccount],
) -> StipendPayment:
    """`stipend_mark_paid` for a row this chunk claimed (still `processing`, so no lock is
    needed: the conditional update is the transition), with the chunk's ledger accounts; the
    creator is notified with the chunk's other payments."""
    now = timezone.now()
    c = payment.currency
    with transaction.atomic():
        moved = StipendPayment.objects.filter(pk=payment.pk, status=S.PROCESSING).update(
            status=S.PAID, stripe_transfer_id=transfer["id"], error="", updated=now
        )
        if not moved:  # another worker completed it meanwhile: its booking stands
            return StipendPayment.objects.get(pk=payment.pk)
        ledger.journal_post_claimed(**_stipend_journal(  # the update is the key's only claim
            payment, transfer, accounts[(c, None)], accounts[(c, payment.creator_id)]
        ))  # fmt: skip
        audit(payment, "paid", from_status=S.PROCESSING, to_status=S.PAID, note=transfer["id"])
    payment.status, payment.stripe_transfer_id, payment.error, payment.updated = (
        S.PAID, transfer["id"], "", now,
    )  # fmt: skip
    return payment


def _paid_notice(payment: StipendPayment) -> tuple[int, str, dict[str, Any]]:
    return (
        payment.creator_id,
        NotificationKind.MONEY,
        {"event": "stipend_paid", "amount": payment.amount, "currency": payment.currency,
         "month": f"{payment.month:%Y-%m}"},
    )  # fmt: skip


def _notify_creator_paid(payment: StipendPayment) -> None:
    notification_create(
        recipient=payment.creator,
        kind=NotificationKind.MONEY,
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


def stipend_retry(
    *, payment: StipendPayment, actor: User | None = None, reason: str = ""
) -> StipendPayment:
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
            audit(locked, "retry", from_status=previous, to_status=S.PENDING, actor=actor,
                  reason=reason)  # fmt: skip
        elif stuck or locked.status == S.PENDING:
            audit(locked, "retry", from_status=locked.status, to_status=locked.status,
                  actor=actor, note="not in flight: looked up first if it may have been sent",
                  reason=reason)  # fmt: skip
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
    notifications_create_many([
        (member.pk, NotificationKind.MONEY,
         {"event": "stipend_run_failures", "month": f"{run.month:%Y-%m}",
          "failed": len(failed), "unknown": len(unknown), "url": attention})
        for member in staff
    ])  # fmt: skip
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
