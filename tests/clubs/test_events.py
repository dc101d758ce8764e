"""Membership-lost: the WebSocket event and the rooms hook run on commit, never on rollback."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from clubs import events, services
from clubs.models import Club, PremiumMembership
from tests.clubs.conftest import World
from tests.clubs.factories import ClubFactory, MembershipFactory, PremiumFactory, UserFactory

pytestmark = pytest.mark.django_db


class Boom(Exception):
    pass


def _lost(world_club: Club, user_id: int, reason: str) -> tuple[int, dict]:
    return (
        user_id,
        {"type": "club.membership_lost", "data": {"club_id": world_club.pk, "reason": reason}},
    )


def test_removing_a_member_calls_the_hook_and_tells_them_on_commit(
    world: World, lost_hook: list, sent: list, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.club_member_remove(club=world.club, actor=world.admin, user=world.member)
    assert lost_hook == []
    assert sent == []
    for callback in callbacks:
        callback()
    assert lost_hook == [(world.club.pk, world.member.pk)]
    assert sent == [_lost(world.club, world.member.pk, "removed")]


def test_the_hook_is_not_called_when_the_transaction_rolls_back(
    world: World, lost_hook: list, sent: list, django_capture_on_commit_callbacks
) -> None:
    with (  # noqa: PT012 - the block is the transaction whose rollback is under test
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(Boom),
        transaction.atomic(),
    ):
        services.club_member_remove(club=world.club, actor=world.admin, user=world.member)
        raise Boom
    assert callbacks == []
    assert lost_hook == []
    assert sent == []
    assert world.club.memberships.filter(user=world.member).exists()


def test_leaving_calls_the_hook(
    world: World, lost_hook: list, sent: list, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        services.club_leave(club=world.club, user=world.leader)
    assert lost_hook == [(world.club.pk, world.leader.pk)]
    assert sent == [_lost(world.club, world.leader.pk, "left")]


def test_premium_lapse_in_an_exclusive_club_calls_the_hook(
    lost_hook: list, sent: list, django_capture_on_commit_callbacks
) -> None:
    club = ClubFactory(is_exclusive=True)
    member = MembershipFactory(club=club).user
    services.premium_membership_sync(
        club=club, user=member, status="active", period_end=None, provider_subscription_id="sub_1"
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.premium_membership_sync(
            club=club,
            user=member,
            status="canceled",
            period_end=None,
            provider_subscription_id="sub_1",
        )
    assert lost_hook == [(club.pk, member.pk)]
    assert sent == [_lost(club, member.pk, "premium_lapsed")]


def test_premium_changes_that_keep_access_call_no_hook(
    lost_hook: list, django_capture_on_commit_callbacks
) -> None:
    club = ClubFactory(is_exclusive=True)
    member = MembershipFactory(club=club).user
    with django_capture_on_commit_callbacks(execute=True):
        for status in ("active", "past_due"):  # past due starts a grace period: still in
            services.premium_membership_sync(
                club=club, user=member, status=status, period_end=None, provider_subscription_id="s"
            )
    assert lost_hook == []


def test_expiry_by_the_clock_calls_the_hook_for_plain_members(
    lost_hook: list, django_capture_on_commit_callbacks
) -> None:
    club = ClubFactory(is_exclusive=True)
    member = MembershipFactory(club=club).user
    PremiumFactory(club=club, user=member, current_period_end=timezone.now() - timedelta(minutes=1))
    PremiumFactory(club=club, user=UserFactory(), current_period_end=timezone.now())  # no member
    with django_capture_on_commit_callbacks(execute=True):
        services.premium_memberships_expire_due()
    assert lost_hook == [(club.pk, member.pk)]
    assert PremiumMembership.objects.filter(status="expired").count() == 2


def test_a_failing_hook_does_not_stop_the_others(
    monkeypatch: pytest.MonkeyPatch, sent: list
) -> None:
    calls: list[tuple[int, int]] = []

    def broken(club_id: int, user_id: int) -> None:
        raise RuntimeError("rooms is down")

    monkeypatch.setattr(
        events, "MEMBERSHIP_LOST_HOOKS", [broken, lambda c, u: calls.append((c, u))]
    )
    events.on_membership_lost(7, 8)
    assert calls == [(7, 8)]
    assert sent == [
        (8, {"type": "club.membership_lost", "data": {"club_id": 7, "reason": "removed"}})
    ]


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
async def test_membership_lost_reaches_the_users_sockets_through_the_channel_layer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Real commit, real channel layer: the event arrives in the user's group."""
    import asyncio

    from channels.db import database_sync_to_async
    from channels.layers import get_channel_layer

    from rooms.realtime.broadcast import user_group, user_send

    monkeypatch.setattr(events, "user_send", user_send)  # undo the recording fixture
    monkeypatch.setattr(events, "MEMBERSHIP_LOST_HOOKS", [])

    def setup() -> tuple[Club, int]:
        club = ClubFactory()
        return club, MembershipFactory(club=club).user_id

    club, member_id = await database_sync_to_async(setup)()
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(user_group(member_id), channel)
    try:
        member = await database_sync_to_async(
            lambda: club.memberships.get(user_id=member_id).user
        )()
        await database_sync_to_async(services.club_member_remove)(
            club=club, actor=club.created_by, user=member
        )
        message = await asyncio.wait_for(layer.receive(channel), timeout=5)
    finally:
        await layer.group_discard(user_group(member_id), channel)
    assert message["type"] == "user.event"
    assert message["event"] == {
        "type": "club.membership_lost",
        "data": {"club_id": club.pk, "reason": "removed"},
    }


def test_deleting_a_club_calls_the_hook_for_every_member(
    world: World, lost_hook: list, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        services.club_delete(club=world.club, actor=world.admin)
    club_id = world.club.pk
    assert sorted(lost_hook) == sorted(
        (club_id, user.pk) for user in (world.admin, world.leader, world.member)
    )


def test_a_club_becoming_exclusive_calls_the_hook_for_members_without_premium(
    world: World, lost_hook: list, sent: list, django_capture_on_commit_callbacks
) -> None:
    paying = MembershipFactory(club=world.club).user
    PremiumFactory(club=world.club, user=paying)
    with django_capture_on_commit_callbacks(execute=True):
        services.club_update(club=world.club, actor=world.admin, is_exclusive=True)
    assert lost_hook == [(world.club.pk, world.member.pk)]  # not admin, leader, nor paying
    assert sent == [_lost(world.club, world.member.pk, "premium_required")]


def test_demoting_a_leader_of_an_exclusive_club_without_premium_calls_the_hook(
    lost_hook: list, django_capture_on_commit_callbacks
) -> None:
    club = ClubFactory(is_exclusive=True)
    leader = MembershipFactory(club=club, role="leader").user
    with django_capture_on_commit_callbacks(execute=True):
        services.club_member_set_role(club=club, actor=club.created_by, user=leader, role="member")
    assert lost_hook == [(club.pk, leader.pk)]
