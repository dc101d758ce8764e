"""A double tap on "subscribe" (two requests at once, real PostgreSQL, each thread on its own
connection) ends with one live subscription, access for the member, and no failed row."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from clubhouse.errors import ApplicationError
from clubhouse.money import Money
from clubs.models import ClubMembership
from clubs.selectors import club_premium_access
from clubs.services import club_create
from payouts import services
from payouts.models import ClubSubscription, Journal
from payouts.provider import ProviderUnavailable, get_provider
from payouts.provider.standin import STANDIN

from .conftest import make_creator, make_user

S = ClubSubscription.Status
WAIT = 30  # seconds: generous, the machine is loaded; nothing waits this long when it works


def paid_club() -> Any:
    owner = make_creator()
    club = club_create(creator=owner, name="Night Owls", is_exclusive=True)
    services.club_plan_set(club=club, actor=owner, price=Money(1000, "USD"))
    return club


def member_of(club: Any) -> Any:
    user = make_user()
    ClubMembership.objects.create(club=club, user=user, role=ClubMembership.Role.MEMBER)
    return user


def in_thread(call: Callable[[], Any], results: list[Any], done: threading.Event) -> Any:
    def run() -> None:
        try:
            results.append(call())
        except ApplicationError as exc:
            results.append(exc)
        finally:
            connection.close()
            done.set()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_double_tap_while_the_first_subscribe_awaits_stripe_leaves_one_paid_subscription(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first request has created its row and is waiting for Stripe when the second one
    arrives, after the member's saved card changed (as when both taps carried the card and the
    second one saved its own). The first request's call is held until the second request has
    done what it does (or, if it asked Stripe too, until its answer is back and the first has
    finished): the order that lost a paying member's access."""
    club = paid_club()
    user = member_of(club)
    provider = get_provider()
    real_create = provider.club_subscription_create
    first_in_provider = threading.Event()
    second_progressed = threading.Event()
    first_done = threading.Event()
    calls: list[str] = []
    lock = threading.Lock()

    def held_create(**kwargs: Any) -> Any:
        with lock:
            calls.append(kwargs["payment_method"])
            mine = len(calls)
        if mine == 1:
            first_in_provider.set()
            assert second_progressed.wait(WAIT)
            return real_create(**kwargs)
        answer = real_create(**kwargs)
        second_progressed.set()
        first_done.wait(WAIT)
        return answer

    monkeypatch.setattr(provider, "club_subscription_create", held_create)
    first_results: list[Any] = []
    second_results: list[Any] = []
    second_done = threading.Event()
    first = in_thread(
        lambda: services.club_subscribe(club=club, user=user, payment_method="pm_card_visa"),
        first_results,
        first_done,
    )
    assert first_in_provider.wait(WAIT)
    services.payment_method_save(user=user, payment_method="pm_card_mastercard")
    second = in_thread(
        lambda: services.club_subscribe(club=club, user=user),
        second_results,
        second_done,
    )
    assert second_done.wait(WAIT) or second_progressed.is_set()
    second_progressed.set()
    first.join(WAIT)
    second.join(WAIT)

    assert not first.is_alive()
    assert not second.is_alive()
    for result in (*first_results, *second_results):
        assert isinstance(result, tuple), result  # neither tap answered an error
        assert result[0].status not in {S.INCOMPLETE_EXPIRED, S.CANCELED}
    rows = ClubSubscription.objects.filter(club=club, user=user)
    assert [row.status for row in rows] == [S.ACTIVE]
    assert club_premium_access(user, club)
    assert len(STANDIN.all("subscriptions")) == 1
    assert Journal.objects.filter(kind=Journal.Kind.MEMBERSHIP).count() == 1


@pytest.mark.django_db
def test_a_retry_with_another_card_finds_the_subscription_stripe_made_instead_of_failing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stripe made the subscription but its answer was lost; a minute later the member taps
    again with another card. The retry must find that subscription (the member is paying for
    it), not answer an idempotency error and fail the row."""
    club = paid_club()
    user = member_of(club)
    provider = get_provider()
    real_create = provider.club_subscription_create

    def answer_lost(**kwargs: Any) -> Any:
        real_create(**kwargs)
        raise ProviderUnavailable()

    monkeypatch.setattr(provider, "club_subscription_create", answer_lost)
    with pytest.raises(ProviderUnavailable):
        services.club_subscribe(club=club, user=user, payment_method="pm_card_visa")
    monkeypatch.setattr(provider, "club_subscription_create", real_create)
    ClubSubscription.objects.update(created=timezone.now() - timedelta(minutes=1))
    services.payment_method_save(user=user, payment_method="pm_card_mastercard")

    sub, created = services.club_subscribe(club=club, user=user)

    assert not created
    assert sub.status == S.ACTIVE
    assert [row.status for row in ClubSubscription.objects.all()] == [S.ACTIVE]
    assert club_premium_access(user, club)
    assert len(STANDIN.all("subscriptions")) == 1
    assert Journal.objects.filter(kind=Journal.Kind.MEMBERSHIP).count() == 1
