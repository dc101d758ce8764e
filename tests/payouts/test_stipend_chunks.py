"""A month's stipends are paid in chunks (payouts/services/stipends.py, point 8): in this process
one after the other without a broker, one Celery task per chunk with one. Either way every
creator ends paid or visibly failed, staff hear of the failures once, a second run pays nothing,
and each creator costs at most 8 database queries (issue #13, point 5; the 10,000-creator
timing is bench/stipends.py's)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Notification
from payouts import ledger, services
from payouts.ledger import Kind
from payouts.models import StipendPayment, StipendRun
from payouts.provider.standin import STANDIN
from payouts.tasks import stipend_pay_chunk_task

from .conftest import fund, make_creator, make_user

pytestmark = pytest.mark.django_db
FEB = date(2026, 2, 1)
S = StipendPayment.Status


def _creators(n: int, refused: set[int] = frozenset()) -> list[Any]:
    creators = [make_creator(stipend=True) for _ in range(n)]
    for i in refused:
        account = creators[i].connected_account.stripe_account_id
        STANDIN.get("accounts", account)["capabilities"]["transfers"] = "inactive"
    return creators


def _status(creator: Any) -> str:
    return str(StipendPayment.objects.get(creator=creator, month=FEB).status)


def test_chunks_pay_everyone_but_the_refused_one_and_staff_hear_once(settings) -> None:
    settings.PAYOUTS_STIPEND_CHUNK = 2
    make_user(is_staff=True, email="staff@example.test")
    fund()
    first, second, third, fourth, fifth = _creators(5, refused={1})
    services.stipend_run_month(month=FEB)
    assert [_status(c) for c in (first, second, third, fourth, fifth)] == [
        S.PAID, S.FAILED, S.PAID, S.PAID, S.PAID,
    ]  # fmt: skip
    assert "transfers capability" in StipendPayment.objects.get(creator=second).error
    assert ledger.creator_balances(third) == {"USD": 500_000}
    assert ledger.creator_balances(second) == {}
    assert len(mail.outbox) == 1
    assert "1 failed" in mail.outbox[0].subject
    paid_notices = Notification.objects.filter(data__event="stipend_paid")
    assert sorted(paid_notices.values_list("recipient_id", flat=True)) == sorted(
        c.pk for c in (first, third, fourth, fifth)
    )


def test_a_second_run_pays_nothing_and_costs_a_few_queries() -> None:
    fund()
    _creators(3)
    services.stipend_run_month(month=FEB)
    transfers = len(STANDIN.all("transfers"))
    with CaptureQueriesContext(connection) as rerun:
        services.stipend_run_month(month=FEB)
    assert len(STANDIN.all("transfers")) == transfers == 3
    assert len(rerun.captured_queries) <= 6, [q["sql"] for q in rerun.captured_queries]


@pytest.mark.django_db(transaction=True)  # real transactions, as in production: no savepoints
def test_each_creator_costs_at_most_eight_queries(settings) -> None:
    settings.PAYOUTS_STIPEND_CHUNK = 25
    fund()
    creators = _creators(50, refused={7})
    with CaptureQueriesContext(connection) as run:
        services.stipend_run_month(month=FEB)
    assert StipendPayment.objects.filter(status=S.PAID).count() == 49
    # Every round trip counts, BEGIN and COMMIT included.
    per_creator = len(run.captured_queries) / len(creators)
    assert per_creator <= 8, f"{per_creator:.2f} queries per creator"


@pytest.fixture
def broker() -> Any:
    """Celery with a broker: tasks are sent, not run here (tests/conftest.py runs them eagerly)."""
    conf = stipend_pay_chunk_task.app.conf
    conf.task_always_eager = False
    yield
    conf.task_always_eager = True


@pytest.mark.usefixtures("broker")
def test_with_a_broker_each_chunk_is_a_task_and_the_last_one_reports(
    settings, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    settings.PAYOUTS_STIPEND_CHUNK = 2
    make_user(is_staff=True, email="staff@example.test")
    fund()
    creators = _creators(5, refused={4})
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(stipend_pay_chunk_task, "delay", lambda *args: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        run = services.stipend_run_month(month=FEB)
    assert [len(args[2]) for args in sent] == [2, 2, 1]  # enqueued once the rows committed
    assert not StipendPayment.objects.filter(status=S.PAID).exists()  # workers pay them
    run.refresh_from_db()
    assert (run.round_chunks, run.round_done) == (3, 0)

    for args in reversed(sent):  # workers finish in any order
        stipend_pay_chunk_task(*args)
        if args is not sent[0]:
            assert mail.outbox == []  # not the last chunk: nobody is told yet
    assert [_status(c) for c in creators] == [S.PAID] * 4 + [S.FAILED]
    assert len(mail.outbox) == 1
    assert "1 failed" in mail.outbox[0].subject
    assert StipendRun.objects.get(pk=run.pk).round_done == 3


@pytest.mark.usefixtures("broker")
def test_a_chunk_of_an_older_round_does_not_report_for_the_newer_one(
    settings, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    settings.PAYOUTS_STIPEND_CHUNK = 10
    make_user(is_staff=True, email="staff@example.test")
    fund()
    _creators(2, refused={0})
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(stipend_pay_chunk_task, "delay", lambda *args: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        services.stipend_run_month(month=FEB)  # beat fires...
    with django_capture_on_commit_callbacks(execute=True):
        services.stipend_run_month(month=FEB)  # ...and fires again before a worker ran
    older, newer = sent
    stipend_pay_chunk_task(*older)  # pays both rows, but its round is over: no report
    assert mail.outbox == []
    stipend_pay_chunk_task(*newer)  # nothing left to pay; the current round reports, once
    assert len(mail.outbox) == 1
    assert len(STANDIN.all("transfers")) == 1
    assert ledger.balance_of(Kind.PLATFORM_BALANCE, "USD") == 10**9 - 500_000
