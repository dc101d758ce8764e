"""Two invitations sent at once can never overdraw a quota: real concurrent transactions on
PostgreSQL, each thread on its own connection."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import F

from accounts import services
from accounts.models import Invitation, User
from tests.factories import UserFactory, WaitlistedUserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _in_thread(target: Callable[[], Any], results: list[Any]) -> threading.Thread:
    def run() -> None:
        try:
            results.append(target())
        except Exception as exc:  # noqa: BLE001 - handed to the test thread, which asserts on it
            results.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_second_spend_waits_for_the_first_and_finds_the_quota_empty() -> None:
    """A spends the last invitation and holds its transaction open; B tries meanwhile. B must
    block on A's row lock and then fail on the committed value, never both succeed."""
    inviter = UserFactory(invitation_quota=1)
    a_spent = threading.Event()
    results_a: list[Any] = []
    results_b: list[Any] = []

    def first() -> str:
        with transaction.atomic():
            services.invitation_create(inviter=inviter, email="a@example.com")
            a_spent.set()
            time.sleep(0.5)  # B is now waiting on our uncommitted UPDATE
        return "ok"

    def second() -> str:
        assert a_spent.wait(5)
        started = time.monotonic()
        try:
            services.invitation_create(inviter=inviter, email="b@example.com")
        finally:
            results_b.append(time.monotonic() - started)
        return "ok"

    threads = [_in_thread(first, results_a), _in_thread(second, results_b)]
    for thread in threads:
        thread.join(10)
    assert results_a == ["ok"]
    waited, outcome = results_b
    assert waited >= 0.3, "B should have waited for A's row lock"
    assert isinstance(outcome, services.NoInvitationsLeft)
    inviter.refresh_from_db()
    assert inviter.invitation_quota == 0
    assert Invitation.objects.count() == 1


def test_many_concurrent_invitations_spend_exactly_the_quota() -> None:
    inviter = UserFactory(invitation_quota=3)
    barrier = threading.Barrier(6)
    results: list[Any] = []

    def invite(n: int) -> Callable[[], str]:
        def run() -> str:
            barrier.wait(5)
            services.invitation_create(inviter=inviter, email=f"p{n}@example.com")
            return "ok"

        return run

    threads = [_in_thread(invite(n), results) for n in range(6)]
    for thread in threads:
        thread.join(15)
    assert results.count("ok") == 3
    assert sum(isinstance(r, services.NoInvitationsLeft) for r in results) == 3
    inviter.refresh_from_db()
    assert inviter.invitation_quota == 0
    assert Invitation.objects.count() == 3


def test_concurrent_let_ins_cannot_overdraw_either() -> None:
    member = UserFactory(invitation_quota=1)
    people = [WaitlistedUserFactory(), WaitlistedUserFactory()]
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def let_in(person: User) -> Callable[[], bool]:
        def run() -> bool:
            barrier.wait(5)
            return services.waitlist_let_in(member=member, target=person)

        return run

    threads = [_in_thread(let_in(person), results) for person in people]
    for thread in threads:
        thread.join(10)
    assert results.count(True) == 1
    assert sum(isinstance(r, services.NoInvitationsLeft) for r in results) == 1
    assert User.objects.filter(pk__in=[p.pk for p in people], status="member").count() == 1


def test_the_database_refuses_a_negative_quota() -> None:
    user = UserFactory(invitation_quota=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.filter(pk=user.pk).update(invitation_quota=F("invitation_quota") - 1)
