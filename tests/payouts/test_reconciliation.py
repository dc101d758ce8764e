from __future__ import annotations

from datetime import date

import pytest

from payouts import services
from payouts.models import Discrepancy, Journal, StipendPayment
from payouts.provider import get_provider
from payouts.provider.standin import STANDIN
from payouts.reconciliation import reconcile

from .conftest import follow, fund, make_creator, make_user

pytestmark = pytest.mark.django_db
K = Discrepancy.Kind


def _fund(amount: int = 10**8) -> None:
    fund(amount)


def _stipend() -> StipendPayment:
    _fund()
    creator = make_creator(stipend=True)
    services.stipend_run_month(month=date(2026, 2, 1))
    return StipendPayment.objects.get(creator=creator)


def _kinds() -> set[tuple[str, str]]:
    return set(Discrepancy.objects.values_list("kind", "object_type"))


def test_a_clean_history_has_no_discrepancy() -> None:
    _stipend()
    sender, creator = make_user(), make_creator()
    follow(sender, creator)
    from clubhouse.money import Money

    services.tip_send(
        sender=sender, creator=creator, amount=Money(1000, "USD"), payment_method="pm_card_visa"
    )
    assert reconcile() == []


def test_a_transfer_missing_from_the_ledger_is_reported() -> None:
    _fund()
    creator = make_creator()
    get_provider().transfer_create(
        amount=100, currency="usd", destination=creator.connected_account.stripe_account_id,
        transfer_group="manual", metadata={}, idempotency_key="manual",
    )  # fmt: skip
    reconcile()
    assert _kinds() == {(K.MISSING_IN_LEDGER, "transfer")}


def test_a_journal_missing_at_the_provider_is_reported() -> None:
    payment = _stipend()
    del STANDIN.objects["transfers"][payment.stripe_transfer_id]
    reconcile()
    assert _kinds() == {(K.MISSING_AT_PROVIDER, "transfer")}


def test_amount_and_currency_mismatches_are_reported() -> None:
    payment = _stipend()
    STANDIN.get("transfers", payment.stripe_transfer_id)["amount"] = 499_999
    reconcile()
    assert _kinds() == {(K.AMOUNT_MISMATCH, "transfer")}
    Discrepancy.objects.all().delete()
    transfer = STANDIN.get("transfers", payment.stripe_transfer_id)
    transfer.update(amount=500_000, currency="eur")
    reconcile()
    assert _kinds() == {(K.CURRENCY_MISMATCH, "transfer")}


def test_an_unexpected_reversal_is_reported_and_reruns_do_not_duplicate() -> None:
    payment = _stipend()
    STANDIN.transfer_reverse(payment.stripe_transfer_id)
    reconcile()
    reconcile()
    assert _kinds() == {(K.UNEXPECTED_REVERSAL, "transfer")}
    assert Discrepancy.objects.count() == 1


def test_a_charge_and_a_payout_unknown_to_the_ledger_are_reported() -> None:
    sender, creator = make_user(), make_creator()
    follow(sender, creator)
    from clubhouse.money import Money

    tip = services.tip_send(
        sender=sender, creator=creator, amount=Money(1000, "USD"), payment_method="pm_card_visa"
    )
    STANDIN.get(
        "balance_transactions", STANDIN.get("charges", tip.stripe_charge_id)["balance_transaction"]
    )["amount"] = 1
    STANDIN.top_up(5000)
    get_provider().payout_create(amount=100, currency="usd", idempotency_key="po")
    reconcile()
    assert _kinds() == {
        (K.AMOUNT_MISMATCH, "charge"),
        (K.MISSING_IN_LEDGER, "payout"),
        (K.MISSING_IN_LEDGER, "topup"),  # the top-up the payout came from was never booked
    }


def test_the_daily_task_is_scheduled_and_runs() -> None:
    from django.core.management import call_command
    from django_celery_beat.models import PeriodicTask

    from payouts.setup import ensure_periodic_tasks
    from payouts.tasks import reconcile_task

    ensure_periodic_tasks()
    call_command("payouts_setup", stdout=None)
    names = set(PeriodicTask.objects.values_list("task", flat=True))
    assert {"payouts.tasks.reconcile_task", "payouts.tasks.stipends_pay_due_task"} <= names
    assert PeriodicTask.objects.filter(task="payouts.tasks.stipends_pay_due_task").count() == 1
    assert reconcile_task.delay().get() == 0
    assert Journal.objects.count() == 0
