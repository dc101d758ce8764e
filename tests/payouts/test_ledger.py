from __future__ import annotations

import pytest
from django.contrib.admin.sites import site
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory

from payouts import ledger
from payouts.ledger import Kind, Line, UnbalancedJournal
from payouts.models import Entry, Journal, LedgerAccount, LedgerImmutable

from .conftest import make_user

pytestmark = pytest.mark.django_db


def _tip_like(key: str = "k1") -> Journal:
    creator = make_user()
    return ledger.journal_post(
        kind=Journal.Kind.TIP,
        currency="USD",
        idempotency_key=key,
        lines=[
            Line(ledger.account(Kind.CUSTOMER_PAYMENTS, "USD"), -1061),
            Line(ledger.account(Kind.CREATOR_PAYABLE, "USD", creator), 1000),
            Line(ledger.account(Kind.PROCESSING_FEES, "USD"), 61),
        ],
    )


def test_a_balanced_journal_is_posted_and_balances_are_sums() -> None:
    journal = _tip_like()
    assert journal.entries.count() == 3
    assert ledger.balance_of(Kind.CUSTOMER_PAYMENTS, "USD") == -1061
    assert ledger.balance_of(Kind.PROCESSING_FEES, "USD") == 61


def test_an_unbalanced_journal_is_refused_by_the_posting_service() -> None:
    with pytest.raises(UnbalancedJournal):
        ledger.journal_post(
            kind=Journal.Kind.CORRECTION, currency="USD", idempotency_key="bad",
            lines=[Line(ledger.account(Kind.PLATFORM_BALANCE, "USD"), 5),
                   Line(ledger.account(Kind.PLATFORM_FUNDING, "USD"), -4)],
        )  # fmt: skip
    assert not Journal.objects.exists()


def test_entries_in_another_currency_are_refused() -> None:
    with pytest.raises(UnbalancedJournal):
        ledger.journal_post(
            kind=Journal.Kind.CORRECTION, currency="USD", idempotency_key="fx",
            lines=[Line(ledger.account(Kind.PLATFORM_BALANCE, "EUR"), 5),
                   Line(ledger.account(Kind.PLATFORM_FUNDING, "USD"), -5)],
        )  # fmt: skip


def test_the_same_idempotency_key_posts_once() -> None:
    first = _tip_like("same")
    second = _tip_like("same")
    assert first.pk == second.pk
    assert Journal.objects.count() == 1
    assert Entry.objects.count() == 3


def test_the_orm_refuses_to_update_or_delete_ledger_rows() -> None:
    journal = _tip_like()
    entry = journal.entries.first()
    assert entry is not None
    entry.amount = 1
    with pytest.raises(LedgerImmutable):
        entry.save()
    with pytest.raises(LedgerImmutable):
        entry.delete()
    with pytest.raises(LedgerImmutable):
        Entry.objects.filter(pk=entry.pk).update(amount=2)
    with pytest.raises(LedgerImmutable):
        Journal.objects.all().delete()


def test_admin_offers_no_way_to_add_change_or_delete_ledger_rows() -> None:
    request = RequestFactory().get("/admin/")
    request.user = make_user(is_staff=True, is_superuser=True)
    for model in (Journal, LedgerAccount):
        admin = site._registry[model]
        assert not admin.has_add_permission(request)
        assert not admin.has_change_permission(request)
        assert not admin.has_delete_permission(request)


@pytest.mark.postgres
@pytest.mark.ledger_may_be_broken
def test_postgres_refuses_direct_updates_and_deletes() -> None:
    journal = _tip_like()
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE payouts_entry SET amount = 0 WHERE journal_id = %s", [journal.pk])
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM payouts_journal WHERE id = %s", [journal.pk])


@pytest.mark.postgres
@pytest.mark.ledger_may_be_broken
def test_postgres_refuses_to_commit_an_unbalanced_journal_written_directly() -> None:
    acc = ledger.account(Kind.PLATFORM_BALANCE, "USD")
    with pytest.raises(DatabaseError, match="does not balance"), transaction.atomic():  # noqa: PT012
        journal = Journal.objects.create(kind="correction", currency="USD", idempotency_key="raw")
        Entry.objects.create(journal=journal, account=acc, amount=5, currency="USD")
        with connection.cursor() as cursor:  # what COMMIT does with the deferred trigger
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert not Journal.objects.filter(idempotency_key="raw").exists()
