"""Exclusive clubs: the one premium access rule, the payouts sync contract, staff grants."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from clubhouse.errors import ApplicationError
from clubs import selectors, services
from clubs.models import ClubAuditEntry, ClubMembership, PremiumMembership
from tests.clubs.factories import (
    ClubFactory,
    MembershipFactory,
    PremiumFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
Status = PremiumMembership.Status
NOW = timezone.now()
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("status", "period_end", "grace_until", "access"),
    [
        pytest.param(Status.ACTIVE, None, None, True, id="active-open-ended"),
        pytest.param(Status.ACTIVE, NOW + HOUR, None, True, id="active-before-period-end"),
        pytest.param(Status.ACTIVE, NOW - HOUR, None, False, id="active-but-expired"),
        pytest.param(Status.PAST_DUE, NOW - HOUR, NOW + HOUR, True, id="past-due-in-grace"),
        pytest.param(Status.PAST_DUE, NOW - HOUR, NOW - HOUR, False, id="past-due-after-grace"),
        pytest.param(Status.PAST_DUE, NOW - HOUR, None, False, id="past-due-without-grace"),
        pytest.param(Status.CANCELED, NOW + HOUR, None, False, id="canceled"),
        pytest.param(Status.EXPIRED, NOW + HOUR, None, False, id="expired"),
    ],
)
def test_premium_access_rule(status, period_end, grace_until, access) -> None:
    premium = PremiumFactory(status=status, current_period_end=period_end, grace_until=grace_until)
    assert selectors.club_premium_access(premium.user, premium.club, now=NOW) is access


def test_no_premium_membership_means_no_access() -> None:
    assert selectors.club_premium_access(UserFactory(), ClubFactory(is_exclusive=True)) is False


def test_exclusive_members_only_rooms_need_premium_for_plain_members() -> None:
    club = ClubFactory(is_exclusive=True)
    member = MembershipFactory(club=club).user
    assert selectors.club_room_access(user=member, club=club, members_only=True) == (
        "club_premium_required"
    )
    assert selectors.club_room_access(user=member, club=club, members_only=False) is None
    PremiumFactory(club=club, user=member)
    assert selectors.club_room_access(user=member, club=club, members_only=True) is None


def test_premium_without_membership_does_not_open_members_only_rooms() -> None:
    premium = PremiumFactory()
    assert selectors.club_room_access(user=premium.user, club=premium.club, members_only=True) == (
        "club_members_only"
    )


# --- premium_membership_sync: the payouts contract ----------------------------------------


def _sync(club, user, status, period_end=NOW + timedelta(days=30), sub="sub_123"):
    return services.premium_membership_sync(
        club=club, user=user, status=status, period_end=period_end, provider_subscription_id=sub
    )


def test_sync_creates_a_subscription_membership() -> None:
    club, user = ClubFactory(is_exclusive=True), UserFactory()
    premium = _sync(club, user, Status.ACTIVE)
    assert premium.source == PremiumMembership.Source.SUBSCRIPTION
    assert premium.provider_subscription_id == "sub_123"
    assert selectors.club_premium_access(user, club)


def test_sync_is_idempotent() -> None:
    club, user = ClubFactory(is_exclusive=True), UserFactory()
    period_end = NOW + timedelta(days=30)
    first = _sync(club, user, Status.ACTIVE, period_end)
    again = _sync(club, user, Status.ACTIVE, period_end)
    assert first.pk == again.pk
    assert PremiumMembership.objects.count() == 1
    assert ClubAuditEntry.objects.filter(action="premium_synced").count() == 1


def test_past_due_starts_a_grace_period_that_repeated_syncs_do_not_extend(settings) -> None:
    settings.CLUBS_PREMIUM_GRACE_DAYS = 3
    club, user = ClubFactory(is_exclusive=True), UserFactory()
    _sync(club, user, Status.ACTIVE)
    premium = _sync(club, user, Status.PAST_DUE)
    grace = premium.grace_until
    assert grace is not None
    assert timedelta(days=3) - HOUR < grace - timezone.now() <= timedelta(days=3)
    assert _sync(club, user, Status.PAST_DUE).grace_until == grace
    assert selectors.club_premium_access(user, club)
    assert not selectors.club_premium_access(user, club, now=grace + HOUR)
    assert _sync(club, user, Status.ACTIVE).grace_until is None


def test_sync_refuses_a_subscription_linked_to_someone_else() -> None:
    club = ClubFactory(is_exclusive=True)
    _sync(club, UserFactory(), Status.ACTIVE, sub="sub_shared")
    with pytest.raises(ApplicationError) as excinfo:
        _sync(club, UserFactory(), Status.ACTIVE, sub="sub_shared")
    assert excinfo.value.code == "club_premium_subscription_mismatch"


def test_sync_refuses_unknown_statuses() -> None:
    with pytest.raises(ApplicationError) as excinfo:
        _sync(ClubFactory(), UserFactory(), "trialing")
    assert excinfo.value.code == "invalid"


# --- staff grants and revocations ---------------------------------------------------------


def test_staff_grant_and_revoke() -> None:
    club, user, staff = ClubFactory(is_exclusive=True), UserFactory(), UserFactory(is_staff=True)
    premium = services.premium_membership_grant(club=club, user=user, actor=staff)
    assert premium.source == PremiumMembership.Source.STAFF_GRANT
    assert premium.granted_by == staff
    assert selectors.club_premium_access(user, club)
    services.premium_membership_revoke(premium=premium, actor=staff)
    premium.refresh_from_db()
    assert premium.status == Status.CANCELED
    assert not selectors.club_premium_access(user, club)
    actions = list(ClubAuditEntry.objects.values_list("action", flat=True))
    assert sorted(actions) == ["premium_granted", "premium_revoked"]


def test_only_staff_grant_premium() -> None:
    club = ClubFactory(is_exclusive=True)
    with pytest.raises(ApplicationError) as excinfo:
        services.premium_membership_grant(club=club, user=UserFactory(), actor=club.created_by)
    assert excinfo.value.code == "club_staff_required"


def test_staff_leave_running_subscriptions_alone() -> None:
    club, user, staff = ClubFactory(is_exclusive=True), UserFactory(), UserFactory(is_staff=True)
    premium = _sync(club, user, Status.ACTIVE)
    for call in (
        lambda: services.premium_membership_grant(club=club, user=user, actor=staff),
        lambda: services.premium_membership_revoke(premium=premium, actor=staff),
    ):
        with pytest.raises(ApplicationError) as excinfo:
            call()
        assert excinfo.value.code == "club_premium_is_subscription"


def test_expire_due_marks_lapsed_memberships_expired() -> None:
    lapsed = PremiumFactory(current_period_end=NOW - HOUR)
    past_grace = PremiumFactory(status=Status.PAST_DUE, grace_until=NOW - HOUR)
    running = PremiumFactory(current_period_end=NOW + HOUR)
    assert services.premium_memberships_expire_due(now=NOW) == 2
    assert services.premium_memberships_expire_due(now=NOW) == 0
    statuses = {
        p.pk: p.status
        for p in PremiumMembership.objects.filter(pk__in=[lapsed.pk, past_grace.pk, running.pk])
    }
    assert statuses == {
        lapsed.pk: Status.EXPIRED,
        past_grace.pk: Status.EXPIRED,
        running.pk: Status.ACTIVE,
    }


def test_admins_and_leaders_of_exclusive_clubs_need_no_premium() -> None:
    club = ClubFactory(is_exclusive=True)
    leader = MembershipFactory(club=club, role=ClubMembership.Role.LEADER).user
    for user in (club.created_by, leader):
        assert selectors.club_room_access(user=user, club=club, members_only=True) is None


def test_the_periodic_task_expires_due_memberships() -> None:
    from clubs.tasks import premium_expire_due

    PremiumFactory(current_period_end=NOW - HOUR)
    assert premium_expire_due.delay().get() == 1


def test_premium_expiry_is_on_the_beat_schedule_once_and_keeps_staff_edits() -> None:
    import importlib

    from django.apps import apps
    from django_celery_beat.models import PeriodicTask

    from clubhouse.celery import app

    migration = importlib.import_module("clubs.migrations.0003_periodic_premium_expiry")
    migration.register(apps, None)
    task = PeriodicTask.objects.get(name=migration.NAME)
    assert task.task in app.tasks  # the name beat sends is a registered Celery task
    assert (task.interval.every, task.interval.period) == (15, "minutes")
    PeriodicTask.objects.filter(pk=task.pk).update(enabled=False)  # staff pause it in admin
    migration.register(apps, None)
    assert PeriodicTask.objects.filter(name=migration.NAME).count() == 1
    assert not PeriodicTask.objects.get(name=migration.NAME).enabled
