"""Races that the club lock settles (real PostgreSQL, real concurrent transactions)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from clubhouse.errors import ApplicationError
from clubs import services
from clubs.models import ClubAuditEntry, ClubMembership, ClubNomination
from tests.clubs.factories import ClubFactory, MembershipFactory, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls at the same moment, each in its own thread and connection."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except ApplicationError as exc:
            results[index] = exc.code
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_admins_leaving_at_once_leave_one_admin_behind() -> None:
    club = ClubFactory()
    first, second = club.created_by, MembershipFactory(club=club, role="admin").user
    results = race(
        lambda: services.club_leave(club=club, user=first),
        lambda: services.club_leave(club=club, user=second),
    )
    assert sorted(results, key=str) == [None, "club_last_admin"]
    assert ClubMembership.objects.filter(club=club, role="admin").count() == 1


def test_approving_the_same_nomination_twice_at_once_adds_one_member() -> None:
    club = ClubFactory()
    second_admin = MembershipFactory(club=club, role="admin").user
    member = MembershipFactory(club=club).user
    nomination = services.club_nominate(club=club, nominator=member, nominee=UserFactory())
    race(
        lambda: services.club_nomination_approve(nomination=nomination, actor=club.created_by),
        lambda: services.club_nomination_approve(nomination=nomination, actor=second_admin),
    )
    assert ClubNomination.objects.get(pk=nomination.pk).status == "approved"
    assert ClubAuditEntry.objects.filter(action="nomination_approved").count() == 1
    assert ClubMembership.objects.filter(club=club, user=nomination.nominee).count() == 1
