"""Nominations, membership requests, roles and leaving: the state machines and their rules."""

from __future__ import annotations

import pytest

from accounts.models import Notification, User
from clubhouse.errors import ApplicationError
from clubs import services
from clubs.models import (
    Club,
    ClubAuditEntry,
    ClubMembership,
    ClubMembershipRequest,
    ClubNomination,
)
from tests.clubs.conftest import World
from tests.clubs.factories import ClubFactory, MembershipFactory, UserFactory, block

pytestmark = pytest.mark.django_db
Role = ClubMembership.Role


def _code(excinfo: pytest.ExceptionInfo[ApplicationError]) -> str:
    return excinfo.value.code


def _is_member(club: Club, user: User) -> bool:
    return ClubMembership.objects.filter(club=club, user=user).exists()


# --- nominations --------------------------------------------------------------------------


def test_nomination_approved_by_an_admin_makes_the_nominee_a_member(world: World) -> None:
    nominee = UserFactory()
    nomination = services.club_nominate(club=world.club, nominator=world.member, nominee=nominee)
    assert nomination.status == ClubNomination.Status.PENDING
    assert not _is_member(world.club, nominee)

    approved = services.club_nomination_approve(nomination=nomination, actor=world.admin)

    assert approved.status == ClubNomination.Status.APPROVED
    assert approved.decided_by == world.admin
    assert approved.decided_at is not None
    assert ClubMembership.objects.get(club=world.club, user=nominee).role == Role.MEMBER
    assert Notification.objects.filter(recipient=nominee, kind=Notification.Kind.CLUB).exists()
    actions = set(ClubAuditEntry.objects.filter(club=world.club).values_list("action", flat=True))
    assert {"nomination_created", "nomination_approved", "member_added"} <= actions


def test_approving_twice_is_idempotent_and_audited_once(world: World) -> None:
    nomination = services.club_nominate(
        club=world.club, nominator=world.member, nominee=UserFactory()
    )
    services.club_nomination_approve(nomination=nomination, actor=world.admin)
    services.club_nomination_approve(nomination=nomination, actor=world.admin)
    assert ClubAuditEntry.objects.filter(action="nomination_approved").count() == 1
    assert ClubAuditEntry.objects.filter(action="member_added").count() == 1


def test_nominating_someone_already_pending_returns_the_same_nomination(world: World) -> None:
    nominee = UserFactory()
    first = services.club_nominate(club=world.club, nominator=world.member, nominee=nominee)
    again = services.club_nominate(club=world.club, nominator=world.leader, nominee=nominee)
    assert again.pk == first.pk
    assert ClubNomination.objects.filter(club=world.club, nominee=nominee).count() == 1


@pytest.mark.parametrize(
    ("first", "then", "code"),
    [
        ("reject", "approve", "club_nomination_decided"),
        ("approve", "reject", "club_nomination_decided"),
        ("withdraw", "approve", "club_nomination_decided"),
        ("reject", "withdraw", "club_nomination_decided"),
    ],
)
def test_a_decided_nomination_cannot_move_again(
    world: World, first: str, then: str, code: str
) -> None:
    nomination = services.club_nominate(
        club=world.club, nominator=world.member, nominee=UserFactory()
    )
    actors = {"approve": world.admin, "reject": world.admin, "withdraw": world.member}
    getattr(services, f"club_nomination_{first}")(nomination=nomination, actor=actors[first])
    with pytest.raises(ApplicationError) as excinfo:
        getattr(services, f"club_nomination_{then}")(nomination=nomination, actor=actors[then])
    assert _code(excinfo) == code
    assert excinfo.value.status == 409


def test_rejected_nominee_can_be_nominated_again(world: World) -> None:
    nominee = UserFactory()
    first = services.club_nominate(club=world.club, nominator=world.member, nominee=nominee)
    services.club_nomination_reject(nomination=first, actor=world.admin)
    second = services.club_nominate(club=world.club, nominator=world.member, nominee=nominee)
    assert second.pk != first.pk
    assert second.status == ClubNomination.Status.PENDING


def test_withdrawing_a_nomination_does_not_add_the_nominee(world: World) -> None:
    nominee = UserFactory()
    nomination = services.club_nominate(club=world.club, nominator=world.member, nominee=nominee)
    services.club_nomination_withdraw(nomination=nomination, actor=world.member)
    nomination.refresh_from_db()
    assert nomination.status == ClubNomination.Status.WITHDRAWN
    assert not _is_member(world.club, nominee)


def test_people_blocked_by_an_admin_cannot_be_nominated(world: World) -> None:
    with pytest.raises(ApplicationError) as excinfo:
        services.club_nominate(club=world.club, nominator=world.member, nominee=world.blocked)
    assert _code(excinfo) == "club_blocked"


def test_people_who_block_an_admin_cannot_be_nominated(world: World) -> None:
    blocker = UserFactory()
    block(blocker, world.admin)
    with pytest.raises(ApplicationError) as excinfo:
        services.club_nominate(club=world.club, nominator=world.member, nominee=blocker)
    assert _code(excinfo) == "club_blocked"


def test_a_block_after_the_nomination_stops_its_approval(world: World) -> None:
    nominee = UserFactory()
    nomination = services.club_nominate(club=world.club, nominator=world.member, nominee=nominee)
    block(nominee, world.admin)
    with pytest.raises(ApplicationError) as excinfo:
        services.club_nomination_approve(nomination=nomination, actor=world.admin)
    assert _code(excinfo) == "club_blocked"
    assert not _is_member(world.club, nominee)


def test_members_cannot_be_nominated_and_waitlisted_people_cannot_either(world: World) -> None:
    with pytest.raises(ApplicationError) as excinfo:
        services.club_nominate(club=world.club, nominator=world.member, nominee=world.leader)
    assert _code(excinfo) == "club_already_member"
    with pytest.raises(ApplicationError) as excinfo:
        services.club_nominate(club=world.club, nominator=world.member, nominee=world.waitlisted)
    assert _code(excinfo) == "club_nominee_unavailable"


# --- membership requests ------------------------------------------------------------------


@pytest.fixture
def request_club(world: World) -> Club:
    Club.objects.filter(pk=world.club.pk).update(join_policy=Club.JoinPolicy.REQUEST)
    world.club.refresh_from_db()
    return world.club


def test_request_approved_by_a_leader_makes_the_requester_a_member(
    world: World, request_club: Club
) -> None:
    request = services.club_request_create(club=request_club, user=world.stranger, message="hi")
    assert request.status == ClubMembershipRequest.Status.PENDING
    approved = services.club_request_approve(request=request, actor=world.leader)
    assert approved.status == ClubMembershipRequest.Status.APPROVED
    assert _is_member(request_club, world.stranger)
    assert ClubAuditEntry.objects.filter(action="request_approved").count() == 1


def test_asking_twice_returns_the_pending_request(world: World, request_club: Club) -> None:
    first = services.club_request_create(club=request_club, user=world.stranger)
    again = services.club_request_create(club=request_club, user=world.stranger)
    assert again.pk == first.pk


def test_rejected_request_leaves_the_requester_outside(world: World, request_club: Club) -> None:
    request = services.club_request_create(club=request_club, user=world.stranger)
    services.club_request_reject(request=request, actor=world.admin)
    services.club_request_reject(request=request, actor=world.admin)  # idempotent
    request.refresh_from_db()
    assert request.status == ClubMembershipRequest.Status.REJECTED
    assert not _is_member(request_club, world.stranger)
    with pytest.raises(ApplicationError) as excinfo:
        services.club_request_approve(request=request, actor=world.admin)
    assert _code(excinfo) == "club_request_decided"


def test_only_the_requester_can_withdraw(world: World, request_club: Club) -> None:
    request = services.club_request_create(club=request_club, user=world.stranger)
    with pytest.raises(ApplicationError) as excinfo:
        services.club_request_withdraw(request=request, user=world.admin)
    assert _code(excinfo) == "club_request_not_yours"
    services.club_request_withdraw(request=request, user=world.stranger)
    request.refresh_from_db()
    assert request.status == ClubMembershipRequest.Status.WITHDRAWN


def test_clubs_not_taking_requests_refuse_them(world: World) -> None:
    with pytest.raises(ApplicationError) as excinfo:
        services.club_request_create(club=world.club, user=world.stranger)
    assert _code(excinfo) == "club_requests_closed"


def test_nomination_only_clubs_cannot_be_joined_directly(world: World) -> None:
    with pytest.raises(ApplicationError) as excinfo:
        services.club_join(club=world.club, user=world.stranger)
    assert _code(excinfo) == "club_join_by_nomination"


def test_open_clubs_are_joined_directly_and_idempotently(world: World) -> None:
    Club.objects.filter(pk=world.club.pk).update(join_policy=Club.JoinPolicy.OPEN)
    world.club.refresh_from_db()
    first = services.club_join(club=world.club, user=world.stranger)
    again = services.club_join(club=world.club, user=world.stranger)
    assert first.pk == again.pk
    assert first.role == Role.MEMBER


def test_clubs_that_take_no_followers_refuse_follows(world: World) -> None:
    Club.objects.filter(pk=world.club.pk).update(follow_policy=Club.FollowPolicy.NOBODY)
    world.club.refresh_from_db()
    with pytest.raises(ApplicationError) as excinfo:
        services.club_follow(club=world.club, user=world.stranger)
    assert _code(excinfo) == "club_follow_closed"


# --- roles and leaving --------------------------------------------------------------------


def test_creating_a_club_makes_the_creator_its_admin() -> None:
    creator = UserFactory()
    club = services.club_create(creator=creator, name="Jazz Night", topics=[])
    assert club.slug == "jazz-night"
    assert ClubMembership.objects.get(club=club, user=creator).role == Role.ADMIN
    other = services.club_create(creator=creator, name="Jazz Night")
    assert other.slug == "jazz-night-2"


def test_the_last_admin_cannot_leave_or_demote_themselves(world: World) -> None:
    with pytest.raises(ApplicationError) as excinfo:
        services.club_leave(club=world.club, user=world.admin)
    assert _code(excinfo) == "club_last_admin"
    with pytest.raises(ApplicationError) as excinfo:
        services.club_member_set_role(
            club=world.club, actor=world.admin, user=world.admin, role=Role.MEMBER
        )
    assert _code(excinfo) == "club_last_admin"
    assert ClubMembership.objects.get(club=world.club, user=world.admin).role == Role.ADMIN


def test_an_admin_can_leave_once_another_admin_exists(world: World) -> None:
    services.club_member_set_role(
        club=world.club, actor=world.admin, user=world.leader, role=Role.ADMIN
    )
    services.club_leave(club=world.club, user=world.admin)
    assert not _is_member(world.club, world.admin)


def test_role_changes_are_audited_notified_and_pushed(
    world: World, sent: list, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        services.club_member_set_role(
            club=world.club, actor=world.admin, user=world.member, role=Role.LEADER
        )
    entry = ClubAuditEntry.objects.get(action="role_changed")
    assert entry.target == world.member
    assert entry.data == {"previous": "member", "role": "leader"}
    assert Notification.objects.filter(recipient=world.member, data__event="role_changed").exists()
    assert sent == [
        (
            world.member.pk,
            {"type": "club.role_changed", "data": {"club_id": world.club.pk, "role": "leader"}},
        )
    ]


def test_leaders_cannot_remove_admins(world: World) -> None:
    with pytest.raises(ApplicationError) as excinfo:
        services.club_member_remove(club=world.club, actor=world.leader, user=world.admin)
    assert _code(excinfo) == "club_admin_required"


def test_removing_someone_who_is_not_a_member_is_not_found(world: World) -> None:
    with pytest.raises(ApplicationError) as excinfo:
        services.club_member_remove(club=world.club, actor=world.admin, user=world.stranger)
    assert _code(excinfo) == "club_not_member"
    assert excinfo.value.status == 404


def test_verification_badge_is_staff_only() -> None:
    club = ClubFactory()
    with pytest.raises(ApplicationError) as excinfo:
        services.club_verify(club=club, actor=club.created_by)
    assert _code(excinfo) == "club_staff_required"
    staff = UserFactory(is_staff=True)
    assert services.club_verify(club=club, actor=staff).is_verified
    assert ClubAuditEntry.objects.filter(club=club, action="club_verified").count() == 1


def test_one_membership_per_person_per_club_is_a_database_rule() -> None:
    from django.db import IntegrityError, transaction

    membership = MembershipFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        ClubMembership.objects.create(club=membership.club, user=membership.user)


def test_members_cannot_nominate_someone_they_block_or_who_blocks_them(world: World) -> None:
    nominee = UserFactory()
    block(nominee, world.member)
    with pytest.raises(ApplicationError) as excinfo:
        services.club_nominate(club=world.club, nominator=world.member, nominee=nominee)
    assert _code(excinfo) == "club_blocked"


def test_staff_moderate_clubs_they_are_not_members_of(world: World) -> None:
    staff = UserFactory(is_staff=True)
    services.club_member_set_role(club=world.club, actor=staff, user=world.member, role=Role.LEADER)
    services.club_member_remove(club=world.club, actor=staff, user=world.leader)
    assert not _is_member(world.club, world.leader)
    assert ClubMembership.objects.get(club=world.club, user=world.member).role == Role.LEADER
