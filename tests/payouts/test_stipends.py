from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from payouts import ledger, selectors, services
from payouts.models import Journal, StipendPayment, StipendRun
from payouts.provider.standin import STANDIN

from .conftest import fund, make_creator

pytestmark = pytest.mark.django_db
FEB = date(2026, 2, 1)
S = StipendPayment.Status


def _fund(amount: int = 10**9) -> None:
    fund(amount)


def _transfers() -> list[dict]:
    return STANDIN.all("transfers")


def test_each_creator_in_the_program_is_paid_once_with_a_journal() -> None:
    _fund()
    a, b = make_creator(stipend=True), make_creator(stipend=True)
    make_creator()  # no stipend
    make_creator(stipend=True, active=False)  # not onboarded: not due
    services.stipend_run_month(month=FEB)
    payments = StipendPayment.objects.filter(month=FEB)
    assert {p.creator for p in payments} == {a, b}
    assert all(p.status == S.PAID and p.stripe_transfer_id for p in payments)
    assert len(_transfers()) == 2
    assert ledger.creator_balances(a) == {"USD": 500_000}
    assert Journal.objects.filter(kind=Journal.Kind.STIPEND).count() == 2


def test_months_outside_the_terms_are_not_paid() -> None:
    _fund()
    make_creator(stipend=True)  # January to March 2026
    services.stipend_run_month(month=date(2026, 4, 1))
    services.stipend_run_month(month=date(2025, 12, 1))
    assert not StipendPayment.objects.exists()


def test_beat_firing_twice_or_the_task_retried_pays_once() -> None:
    _fund()
    creator = make_creator(stipend=True)
    from payouts.tasks import stipends_pay_due_task

    services.stipend_run_month(month=FEB)
    services.stipend_run_month(month=FEB)
    stipends_pay_due_task.delay()  # eager: the beat entry for "this" month (not February)
    assert StipendPayment.objects.filter(creator=creator, month=FEB).count() == 1
    assert len([t for t in _transfers() if t["transfer_group"].endswith("2026-02")]) == 1


def test_insufficient_platform_balance_is_a_visible_retriable_state() -> None:
    creator = make_creator(stipend=True)
    services.stipend_run_month(month=FEB)
    payment = StipendPayment.objects.get(creator=creator)
    assert payment.status == S.FAILED_INSUFFICIENT_FUNDS
    assert "insufficient" in payment.error
    assert selectors.stipend_run_progress(payment.run)["failed_insufficient_funds"] == 1
    _fund()
    services.stipend_retry(payment=payment)
    payment.refresh_from_db()
    assert payment.status == S.PAID
    assert payment.key_attempt == 2
    assert len(_transfers()) == 1


def test_a_worker_dying_between_the_transfer_and_the_commit_does_not_pay_twice(monkeypatch) -> None:
    _fund()
    creator = make_creator(stipend=True)
    from payouts.services import stipends as module

    def crash(*args, **kwargs):
        raise SystemExit("worker killed")

    monkeypatch.setattr(module, "stipend_mark_paid", crash)  # the one-row path
    monkeypatch.setattr(module, "_mark_paid_claimed", crash)  # a chunk's fresh rows
    with pytest.raises(SystemExit):
        services.stipend_run_month(month=FEB)
    monkeypatch.undo()
    payment = StipendPayment.objects.get(creator=creator)
    assert payment.status == S.PROCESSING
    assert len(_transfers()) == 1

    # Beat again at once: the row is in flight, nothing is sent.
    services.stipend_run_month(month=FEB)
    assert len(_transfers()) == 1
    # Later the row is stale: the transfer list is checked before anything is retried.
    StipendPayment.objects.filter(pk=payment.pk).update(
        claimed_at=timezone.now() - timedelta(days=2)
    )
    STANDIN.idempotency.clear()  # Stripe has forgotten the key by now
    services.stipend_run_month(month=FEB)
    payment.refresh_from_db()
    assert payment.status == S.PAID
    assert len(_transfers()) == 1
    assert payment.stripe_transfer_id == _transfers()[0]["id"]
    assert ledger.creator_balances(creator) == {"USD": 500_000}


def test_a_retry_of_an_unknown_outcome_reuses_the_idempotency_key() -> None:
    _fund()
    creator = make_creator(stipend=True)
    services.stipend_run_month(month=FEB)
    payment = StipendPayment.objects.get(creator=creator)
    from payouts.provider import get_provider

    again = get_provider().transfer_create(
        amount=payment.amount, currency="usd", destination=payment.destination_account_id,
        transfer_group=payment.transfer_group,
        metadata={"kind": "stipend", "creator": str(creator.pk), "month": "2026-02"},
        idempotency_key=payment.idempotency_key,
    )  # fmt: skip
    assert again["id"] == payment.stripe_transfer_id
    assert len(_transfers()) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_pay_each_creator_exactly_once() -> None:
    _fund()
    creators = [make_creator(stipend=True) for _ in range(6)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            services.stipend_run_month(month=FEB)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread, which asserts on it
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert StipendRun.objects.count() == 1
    assert StipendPayment.objects.filter(status=S.PAID).count() == len(creators)
    groups = [t["transfer_group"] for t in _transfers()]
    assert len(groups) == len(set(groups)) == len(creators)
    assert Journal.objects.filter(kind=Journal.Kind.STIPEND).count() == len(creators)


def test_an_unknown_outcome_keeps_the_row_processing_and_a_later_lookup_completes_it() -> None:
    from payouts.provider.standin import StandInError

    _fund()
    creator = make_creator(stipend=True)
    STANDIN.fail_next = [StandInError(500, "api_error", "boom") for _ in range(3)]  # > retries
    services.stipend_run_month(month=FEB)  # raises nothing: the row says what happened
    payment = StipendPayment.objects.get(creator=creator)
    assert payment.status == S.PROCESSING
    assert payment.key_attempt == 1
    assert not _transfers()
    assert "payment_provider_unavailable" in payment.error
    StipendPayment.objects.filter(pk=payment.pk).update(
        claimed_at=timezone.now() - timedelta(days=2)
    )
    services.stipend_run_month(month=FEB)
    payment.refresh_from_db()
    assert payment.status == S.PAID
    assert len(_transfers()) == 1


def test_a_transient_provider_error_is_retried_with_the_same_key() -> None:
    from payouts.provider.standin import StandInError

    _fund()
    make_creator(stipend=True)
    STANDIN.fail_next = [StandInError(500, "api_error", "boom")]
    services.stipend_run_month(month=FEB)
    assert StipendPayment.objects.get().status == S.PAID
    assert len(_transfers()) == 1


def test_a_row_marked_failed_while_its_transfer_exists_is_completed_not_paid_again() -> None:
    _fund()
    creator = make_creator(stipend=True)
    services.stipend_run_month(month=FEB)
    payment = StipendPayment.objects.get(creator=creator)
    # Simulate the race: the row ended failed although the provider made the transfer.
    StipendPayment.objects.filter(pk=payment.pk).update(
        status=S.FAILED, key_attempt=2, stripe_transfer_id=""
    )
    services.stipend_retry(payment=payment)
    payment.refresh_from_db()
    assert payment.status == S.PAID
    assert len(_transfers()) == 1
    assert Journal.objects.filter(kind=Journal.Kind.STIPEND).count() == 1
