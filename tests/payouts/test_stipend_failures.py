"""#13 point 1: every creator-month ends paid or visibly failed.

A definitive refusal from Stripe fails that row with Stripe's code and message and the run goes
on; an unknown outcome stays `processing` and the sweep looks it up and retries it with the same
key; creators who onboard late are paid by the next daily run; staff see and retry what needs
them, and are told; creators are told about their application and every stipend paid.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import Notification, User
from payouts import ledger, selectors, services
from payouts.models import AuditEntry, ConnectedAccount, Journal, StipendPayment, StipendRun
from payouts.provider.standin import STANDIN, StandInError

from .conftest import fund, make_creator, make_user

pytestmark = pytest.mark.django_db
FEB = date(2026, 2, 1)
S = StipendPayment.Status
REFUSAL = (
    "insufficient_capabilities_for_transfer: "
    "Your destination account needs to have the transfers capability enabled."
)


def _fund(amount: int = 10**9) -> None:
    fund(amount)


def _account_id(creator: User) -> str:
    return ConnectedAccount.objects.get(user=creator).stripe_account_id


def _lose_transfers_capability(creator: User) -> None:
    """What Stripe does to an account it restricts (missing information, a review): its
    transfers capability is no longer active, and transfers to it are refused. Our copy still
    says active (the `account.updated` webhook has not arrived)."""
    with STANDIN._lock:
        STANDIN.get("accounts", _account_id(creator))["capabilities"]["transfers"] = "inactive"


def _transfers_to(creator: User) -> list[dict[str, Any]]:
    return [t for t in STANDIN.all("transfers") if t["destination"] == _account_id(creator)]


def _payment(creator: User, month: date = FEB) -> StipendPayment:
    return StipendPayment.objects.get(creator=creator, month=month)


def _staff_notices() -> list[Notification]:
    return [
        n
        for n in Notification.objects.filter(recipient__is_staff=True, kind="money")
        if n.data.get("event") == "stipend_run_failures"
    ]


def _events_of(user: User, event: str) -> list[Notification]:
    return [n for n in Notification.objects.filter(recipient=user) if n.data.get("event") == event]


# --- the acceptance scenario ------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_refused_creator_fails_visibly_the_others_are_paid_and_staff_retry_it_once(
    client,
) -> None:
    _fund()
    first, second, third = (make_creator(stipend=True) for _ in range(3))
    _lose_transfers_capability(second)

    run = services.stipend_run_month(month=FEB)  # raises nothing

    assert _payment(first).status == S.PAID
    assert _payment(third).status == S.PAID
    refused = _payment(second)
    assert refused.status == S.FAILED
    assert refused.error == REFUSAL
    assert not _transfers_to(second)
    assert len(_transfers_to(first)) == len(_transfers_to(third)) == 1
    assert ledger.creator_balances(first) == ledger.creator_balances(third) == {"USD": 500_000}
    assert ledger.creator_balances(second) == {}
    # Staff are told: an e-mail naming the creator, Stripe's message and the row's admin page.
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.subject == "Stipends 2026-02: 1 failed, 0 with an unknown outcome"
    assert REFUSAL in email.body
    assert str(second) in email.body
    assert f"/admin/payouts/stipendpayment/{refused.pk}/change/" in email.body
    assert {u.email for u in User.objects.filter(is_staff=True)} <= set(email.to)
    assert _staff_notices()
    assert all(n.data["failed"] == 1 for n in _staff_notices())
    assert AuditEntry.objects.filter(
        subject_type="StipendRun", subject_id=str(run.pk), action="failures_reported"
    ).exists()

    # The next daily run leaves the failed row to staff: nothing sent, nobody e-mailed again.
    services.stipend_run_month(month=FEB)
    assert _payment(second).status == S.FAILED
    assert len(mail.outbox) == 1
    assert len(STANDIN.all("transfers")) == 2

    # The creator fixes their account; staff retry the row with one click in admin.
    STANDIN.account_activate(_account_id(second))
    staff = make_user(is_staff=True, is_superuser=True)
    client.force_login(staff)
    page = client.get(f"/admin/payouts/stipendpayment/{refused.pk}/change/")
    assert b"data-stipend-retry" in page.content
    response = client.post(
        f"/admin/payouts/stipendpayment/{refused.pk}/retry/", {"reason": "account fixed"}
    )
    assert response.status_code == 302

    paid = _payment(second)
    assert paid.status == S.PAID
    assert paid.error == ""
    assert paid.key_attempt == 2
    [transfer] = _transfers_to(second)
    assert paid.stripe_transfer_id == transfer["id"]
    assert ledger.creator_balances(second) == {"USD": 500_000}
    assert AuditEntry.objects.filter(
        subject_type="StipendPayment", subject_id=str(paid.pk), action="retry", actor=staff
    ).exists()
    # Paid once: another run, another sweep and another click change nothing.
    services.stipend_run_month(month=FEB)
    services.stipends_sweep()
    client.post(f"/admin/payouts/stipendpayment/{refused.pk}/retry/", {"reason": "again"})
    assert len(STANDIN.all("transfers")) == 3
    assert Journal.objects.filter(kind=Journal.Kind.STIPEND).count() == 3
    assert len(_events_of(second, "stipend_paid")) == 1


# --- unknown outcomes and the sweep -----------------------------------------------------------


def test_an_unknown_outcome_stays_processing_and_the_sweep_pays_it_with_the_same_key(
    django_capture_on_commit_callbacks,
) -> None:
    _fund()
    creator = make_creator(stipend=True)
    # Stripe answers 500 to the request and to stripe-python's two retries: no answer at all.
    STANDIN.fail_next = [StandInError(500, "api_error", "Stripe is down") for _ in range(3)]

    services.stipend_run_month(month=FEB)  # raises nothing

    payment = _payment(creator)
    assert payment.status == S.PROCESSING
    assert payment.key_attempt == 1
    assert payment.claimed_at is None  # no worker holds it: the sweep may take it at once
    assert payment.error.startswith("outcome unknown, retried with the same key")
    assert not STANDIN.all("transfers")
    assert selectors.stipend_payments_needing_attention().filter(pk=payment.pk).exists()
    assert mail.outbox[-1].subject == "Stipends 2026-02: 0 failed, 1 with an unknown outcome"

    # Still down at the first sweep: still processing, same key, nothing reported again.
    STANDIN.fail_next = [StandInError(503, "api_error", "Stripe is down") for _ in range(3)]
    services.stipends_sweep()
    payment.refresh_from_db()
    assert payment.status == S.PROCESSING
    assert payment.key_attempt == 1
    assert len(mail.outbox) == 1

    keys_before = set(STANDIN.idempotency)
    with django_capture_on_commit_callbacks(execute=True):
        services.stipends_sweep()
    payment.refresh_from_db()
    assert payment.status == S.PAID
    assert payment.key_attempt == 1
    assert payment.error == ""
    assert len(STANDIN.all("transfers")) == 1
    assert set(STANDIN.idempotency) - keys_before == {payment.idempotency_key}
    assert not selectors.stipend_payments_needing_attention().exists()


def test_a_transfer_whose_answer_was_lost_is_found_by_the_sweep_not_paid_twice() -> None:
    _fund()
    creator = make_creator(stipend=True)
    STANDIN.lose_responses = 3  # Stripe made the transfer; every answer is lost on the way back

    services.stipend_run_month(month=FEB)

    payment = _payment(creator)
    assert payment.status == S.PROCESSING
    assert len(STANDIN.all("transfers")) == 1
    STANDIN.idempotency.clear()  # even were the key forgotten, the lookup finds the transfer
    services.stipends_sweep()
    payment.refresh_from_db()
    assert payment.status == S.PAID
    assert len(STANDIN.all("transfers")) == 1
    assert payment.stripe_transfer_id == STANDIN.all("transfers")[0]["id"]
    assert ledger.creator_balances(creator) == {"USD": 500_000}


def test_a_500_stripe_stored_under_the_key_is_replayed_so_a_new_key_follows_a_quiet_lookup(
    monkeypatch,
) -> None:
    _fund()
    creator = make_creator(stipend=True)
    calls = []

    def crash_inside_stripe(p: dict[str, Any], key: str | None) -> dict[str, Any]:
        calls.append(key)
        raise StandInError(500, "api_error", "An unknown error occurred")

    # The request began executing, so Stripe stores its 500 under the key and replays it.
    monkeypatch.setattr(STANDIN, "_create_transfers", crash_inside_stripe)
    services.stipend_run_month(month=FEB)
    monkeypatch.undo()
    first_key = _payment(creator).idempotency_key
    assert calls == [first_key]
    assert _payment(creator).status == S.PROCESSING

    services.stipends_sweep()  # soon after: the same key, and Stripe replays its 500
    assert _payment(creator).status == S.PROCESSING
    assert _payment(creator).key_attempt == 1
    assert not STANDIN.all("transfers")

    StipendPayment.objects.filter(creator=creator).update(
        updated=timezone.now() - timedelta(minutes=16)  # the sweep, a quarter of an hour later
    )
    services.stipends_sweep()  # the list shows no transfer and nothing can still be running
    payment = _payment(creator)
    assert payment.status == S.PAID
    assert payment.key_attempt == 2
    assert len(STANDIN.all("transfers")) == 1
    new_keys = AuditEntry.objects.filter(
        subject_type="StipendPayment", subject_id=str(payment.pk), action="new_key"
    )
    assert new_keys.count() == 1


def test_a_row_in_flight_is_left_alone_by_the_sweep_until_its_claim_is_stale() -> None:
    _fund()
    creator = make_creator(stipend=True)
    services.stipend_run_month(month=date(2026, 1, 1))  # something to compare with
    StipendPayment.objects.create(
        run=StipendRun.objects.create(month=FEB), creator=creator, month=FEB, amount=500_000,
        currency="USD", destination_account_id=_account_id(creator), status=S.PROCESSING,
        claimed_at=timezone.now(),
    )  # fmt: skip  # a worker claimed it a moment ago and is calling Stripe
    services.stipends_sweep()
    assert _payment(creator).status == S.PROCESSING
    assert len(STANDIN.all("transfers")) == 1
    StipendPayment.objects.filter(creator=creator, month=FEB).update(
        claimed_at=timezone.now() - timedelta(minutes=16)  # that worker died
    )
    services.stipends_sweep()
    assert _payment(creator).status == S.PAID
    assert len(STANDIN.all("transfers")) == 2


def test_an_unexpected_error_for_one_creator_is_recorded_and_the_run_goes_on(monkeypatch) -> None:
    _fund()
    first, second = make_creator(stipend=True), make_creator(stipend=True)

    def broken_for_the_first(real_post: Any) -> Any:
        def post(**kwargs: Any) -> Any:
            if kwargs.get("idempotency_key") == f"stipend:{first.pk}:2026-02":
                raise RuntimeError("a bug in the ledger")
            return real_post(**kwargs)

        return post

    # Both ways the ledger books a stipend: a chunk's fresh rows, and the one-row path.
    monkeypatch.setattr(ledger, "journal_post", broken_for_the_first(ledger.journal_post))
    monkeypatch.setattr(
        ledger, "journal_post_claimed", broken_for_the_first(ledger.journal_post_claimed)
    )
    services.stipend_run_month(month=FEB)  # raises nothing

    stuck = _payment(first)
    assert stuck.status == S.PROCESSING
    assert "unexpected error: RuntimeError: a bug in the ledger" in stuck.error
    assert _payment(second).status == S.PAID
    assert len(_transfers_to(first)) == 1  # Stripe did pay: the row must not pay again

    monkeypatch.undo()  # the bug is fixed and deployed
    services.stipends_sweep()
    assert _payment(first).status == S.PAID
    assert len(_transfers_to(first)) == 1
    assert ledger.creator_balances(first) == {"USD": 500_000}


def test_the_sweep_runs_every_15_minutes_and_the_run_daily() -> None:
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    from payouts.setup import (
        STIPENDS_MONTHLY_TASK_NAME,
        STIPENDS_SWEEP_TASK_NAME,
        STIPENDS_TASK_NAME,
        ensure_periodic_tasks,
    )

    # A deployment from before: the monthly entry as it was created.
    monthly, _ = CrontabSchedule.objects.get_or_create(
        minute="5", hour="0", day_of_month="1", month_of_year="*", day_of_week="*", timezone="UTC"
    )
    PeriodicTask.objects.create(
        name=STIPENDS_MONTHLY_TASK_NAME,
        task="payouts.tasks.stipends_pay_due_task",
        crontab=monthly,
    )
    ensure_periodic_tasks()
    ensure_periodic_tasks()

    run = PeriodicTask.objects.get(task="payouts.tasks.stipends_pay_due_task")
    assert run.name == STIPENDS_TASK_NAME
    assert (run.crontab.minute, run.crontab.hour, run.crontab.day_of_month) == ("5", "0", "*")
    sweep = PeriodicTask.objects.get(task="payouts.tasks.stipends_sweep_task")
    assert sweep.name == STIPENDS_SWEEP_TASK_NAME
    assert sweep.interval.every == 15
    assert sweep.interval.period == "minutes"


def test_the_sweep_task_resolves_what_it_finds() -> None:
    from payouts.tasks import stipends_sweep_task

    _fund()
    creator = make_creator(stipend=True)
    STANDIN.fail_next = [StandInError(500, "api_error", "Stripe is down") for _ in range(3)]
    services.stipend_run_month(month=FEB)
    assert stipends_sweep_task.delay().get() == {"paid": 1}
    assert _payment(creator).status == S.PAID


# --- late eligibility -------------------------------------------------------------------------


def test_a_creator_who_onboards_after_the_1st_is_paid_by_the_next_daily_run() -> None:
    _fund()
    early = make_creator(stipend=True)
    late = make_creator(stipend=True, active=False)  # approved, payout account not set up yet

    services.stipends_pay_due(today=date(2026, 2, 1))
    assert _payment(early).status == S.PAID
    assert not StipendPayment.objects.filter(creator=late).exists()

    account = services.connected_account_ensure(user=late)  # onboarding done on the 14th
    STANDIN.account_activate(account.stripe_account_id)
    services.connected_account_sync(data=STANDIN.get("accounts", account.stripe_account_id))

    progress = services.stipends_pay_due(today=date(2026, 2, 15))
    assert _payment(late).status == S.PAID
    assert _payment(late).run == _payment(early).run
    assert progress["paid"] == 2
    assert progress["total"] == 2
    assert len(_transfers_to(early)) == len(_transfers_to(late)) == 1


# --- staff: the back office -------------------------------------------------------------------


@pytest.fixture
def staff_client(client):
    client.force_login(make_user(is_staff=True, is_superuser=True))
    return client


def test_staff_see_failed_and_stuck_rows_flagged_and_retry_them_in_one_click(
    staff_client,
) -> None:
    _fund()
    unknown, refused, paid = (make_creator(stipend=True) for _ in range(3))  # paid in this order
    _lose_transfers_capability(refused)
    # No answer to the first creator's transfer, nor to stripe-python's two retries.
    STANDIN.fail_next = [StandInError(502, "api_error", "Bad gateway") for _ in range(3)]
    services.stipend_run_month(month=FEB)
    assert [_payment(c).status for c in (paid, refused, unknown)] == [
        S.PAID, S.FAILED, S.PROCESSING,
    ]  # fmt: skip

    listing = staff_client.get("/admin/payouts/stipendpayment/?attention=yes")
    assert listing.status_code == 200
    rows = {p.pk for p in listing.context["cl"].result_list}
    assert rows == {_payment(refused).pk, _payment(unknown).pk}
    assert b"2 stipend payment(s) failed or stuck" in listing.content
    assert b"2 to retry" in staff_client.get("/admin/payouts/stipendrun/").content
    paid_page = staff_client.get(f"/admin/payouts/stipendpayment/{_payment(paid).pk}/change/")
    assert b"data-stipend-retry" not in paid_page.content  # nothing to retry on a paid row

    # The stuck row: one click (a POST); looked up, then sent again with its own key.
    retry_url = f"/admin/payouts/stipendpayment/{_payment(unknown).pk}/retry/"
    stuck_page = staff_client.get(f"/admin/payouts/stipendpayment/{_payment(unknown).pk}/change/")
    assert b"data-stipend-retry" in stuck_page.content
    assert staff_client.get(retry_url).status_code == 405
    staff_client.post(retry_url)  # no reason: nothing happens
    assert _payment(unknown).status != S.PAID
    staff_client.post(retry_url, {"reason": "stuck since Monday"})
    assert _payment(unknown).status == S.PAID
    assert _payment(unknown).key_attempt == 1
    # The failed row, still refused: it stays failed with Stripe's message, shown to staff.
    response = staff_client.post(
        f"/admin/payouts/stipendpayment/{_payment(refused).pk}/retry/",
        {"reason": "creator says it is fixed"},
        follow=True,
    )
    assert _payment(refused).status == S.FAILED
    assert _payment(refused).key_attempt == 3
    assert REFUSAL.encode() in response.content
    # Fixed, then the list action (several rows at once) pays it.
    STANDIN.account_activate(_account_id(refused))
    staff_client.post("/admin/payouts/stipendpayment/", {
        "action": "retry_selected", "_selected_action": [_payment(refused).pk], "apply": "1",
        "reason": "account activated"})  # fmt: skip
    assert _payment(refused).status == S.PAID
    assert len(STANDIN.all("transfers")) == 3
    listing = staff_client.get("/admin/payouts/stipendpayment/")
    assert b"stipend payment(s) failed or stuck" not in listing.content


def test_staff_without_the_retry_permission_cannot_retry(client) -> None:
    creator = make_creator(stipend=True)
    services.stipend_run_month(month=FEB)  # no balance: failed_insufficient_funds
    _fund()
    client.force_login(make_user(is_staff=True))  # staff, but no permission on stipends
    response = client.post(
        f"/admin/payouts/stipendpayment/{_payment(creator).pk}/retry/", {"reason": "try"}
    )
    assert response.status_code == 403
    assert _payment(creator).status == S.FAILED_INSUFFICIENT_FUNDS
    assert not STANDIN.all("transfers")


def test_a_row_a_worker_is_paying_cannot_be_retried_and_a_paid_one_is_not_paid_again() -> None:
    from clubhouse.errors import Conflict

    _fund()
    creator = make_creator(stipend=True)
    services.stipend_run_month(month=FEB)
    with pytest.raises(Conflict) as paid:
        services.stipend_retry(payment=_payment(creator))
    assert paid.value.code == "stipend_paid"
    StipendPayment.objects.create(
        run=StipendRun.objects.get(month=FEB), creator=make_creator(stipend=True), month=FEB,
        amount=500_000, currency="USD", destination_account_id="acct_x", status=S.PROCESSING,
        claimed_at=timezone.now(),
    )  # fmt: skip
    with pytest.raises(Conflict) as in_flight:
        services.stipend_retry(payment=StipendPayment.objects.get(status=S.PROCESSING))
    assert in_flight.value.code == "stipend_in_flight"
    assert len(STANDIN.all("transfers")) == 1


def test_a_run_without_failures_tells_staff_nothing() -> None:
    _fund()
    make_creator(stipend=True)
    services.stipend_run_month(month=FEB)
    assert mail.outbox == []
    assert _staff_notices() == []


def test_staff_are_told_of_a_failure_the_sweep_meets(django_capture_on_commit_callbacks) -> None:
    _fund(500_000)  # enough for one stipend
    first, second = make_creator(stipend=True), make_creator(stipend=True)
    STANDIN.fail_next = [StandInError(500, "api_error", "Stripe is down") for _ in range(3)]
    services.stipend_run_month(month=FEB)  # first: unknown outcome; second: paid
    assert _payment(second).status == S.PAID
    assert _payment(first).status == S.PROCESSING
    mail.outbox.clear()
    services.stipends_sweep()  # the balance went to the second creator
    assert _payment(first).status == S.FAILED_INSUFFICIENT_FUNDS
    assert _payment(first).error.startswith("insufficient_funds: ")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "Stipends 2026-02: 1 failed, 0 with an unknown outcome"


# --- creators are told (of their application: test_creator_notifications.py) ---------------


def test_a_creator_is_notified_of_each_stipend_paid_once(
    django_capture_on_commit_callbacks,
) -> None:
    _fund()
    creator = make_creator(stipend=True)
    with django_capture_on_commit_callbacks(execute=True):
        services.stipend_run_month(month=FEB)
        services.stipend_run_month(month=FEB)
        services.stipend_run_month(month=date(2026, 3, 1))
    paid = _events_of(creator, "stipend_paid")
    assert sorted(n.data["month"] for n in paid) == ["2026-02", "2026-03"]
    assert all(n.data["amount"] == 500_000 and n.data["currency"] == "USD" for n in paid)
