"""Club rooms ask the clubs app who may enter (members-only, premium, club blocks), who may
start them, and lose people who lose the club's access while inside."""

from __future__ import annotations

import pytest

from accounts.models import Block
from clubhouse.errors import ApplicationError
from clubs.models import ClubMembership
from clubs.services import club_member_remove, premium_membership_grant
from rooms import services
from rooms.hallway import room_hallway_queryset
from rooms.models import Room, RoomEventLog, RoomParticipant
from tests.clubs.factories import ClubFactory, MembershipFactory
from tests.rooms.factories import MemberFactory, RoomFactory, participant

pytestmark = pytest.mark.django_db

Role = ClubMembership.Role


def club_room(club, *, members_only: bool, host=None) -> Room:
    host = host or club.created_by
    return services.room_create(
        user=host, title="Club talk", club_id=club.pk, members_only=members_only
    )


def join_code(user, room: Room) -> str | None:
    try:
        services.room_join(user=user, room_id=room.pk)
    except ApplicationError as error:
        return error.code
    return None


def test_a_members_only_room_refuses_non_members_and_admits_members() -> None:
    club = ClubFactory()
    room = club_room(club, members_only=True)
    member = MembershipFactory(club=club).user
    assert join_code(MemberFactory(), room) == "club_members_only"
    assert join_code(member, room) is None


def test_an_exclusive_clubs_members_only_room_needs_premium() -> None:
    club = ClubFactory(is_exclusive=True)
    room = club_room(club, members_only=True)
    member = MembershipFactory(club=club).user
    assert join_code(member, room) == "club_premium_required"
    staff = MemberFactory(is_staff=True)
    premium_membership_grant(club=club, user=member, actor=staff)
    assert join_code(member, room) is None


def test_a_public_club_room_refuses_people_blocked_with_a_club_admin() -> None:
    club = ClubFactory()
    leader = MembershipFactory(club=club, role=Role.LEADER).user
    room = club_room(club, members_only=False, host=leader)  # the admin is not in the room
    outsider = MemberFactory()
    assert join_code(outsider, room) is None
    services.room_leave(user=outsider, room_id=room.pk)
    Block.objects.create(blocker=club.created_by, blocked=outsider)
    assert join_code(outsider, room) == "club_blocked"


def test_only_club_leaders_and_admins_start_club_rooms() -> None:
    club = ClubFactory()
    member = MembershipFactory(club=club).user
    leader = MembershipFactory(club=club, role=Role.LEADER).user
    with pytest.raises(ApplicationError) as excinfo:
        club_room(club, members_only=False, host=member)
    assert excinfo.value.code == "club_leader_required"
    assert club_room(club, members_only=False, host=leader).club_id == club.pk


def test_a_member_removed_from_the_club_leaves_its_members_only_room(
    django_capture_on_commit_callbacks,
) -> None:
    club = ClubFactory()
    room = club_room(club, members_only=True)
    member = MembershipFactory(club=club).user
    services.room_join(user=member, room_id=room.pk)
    public_room = club_room(club, members_only=False)
    services.room_join(user=member, room_id=public_room.pk)

    with django_capture_on_commit_callbacks(execute=True):
        club_member_remove(club=club, actor=club.created_by, user=member)

    assert not RoomParticipant.objects.filter(room=room, user=member).exists()
    event = RoomEventLog.objects.filter(room=room, type="room.user_removed").get()
    assert event.data["user_id"] == member.pk
    assert event.data["reason"] == "club_access_lost"
    # Public club rooms stay open to them; nothing is a ban: rejoining the club lets them back.
    assert RoomParticipant.objects.filter(room=public_room, user=member).exists()
    MembershipFactory(club=club, user=member)
    assert join_code(member, room) is None


def test_a_moderator_who_loses_access_hands_the_room_to_the_next_speaker(
    django_capture_on_commit_callbacks,
) -> None:
    club = ClubFactory()
    room = club_room(club, members_only=True)
    moderator_member = MembershipFactory(club=club, role=Role.LEADER).user
    speaker_member = MembershipFactory(club=club).user
    participant(room, moderator_member, "moderator")
    participant(room, speaker_member, "speaker")
    services.room_leave(user=club.created_by, room_id=room.pk)

    with django_capture_on_commit_callbacks(execute=True):
        club_member_remove(club=club, actor=club.created_by, user=moderator_member)

    room.refresh_from_db()
    assert room.is_live
    assert RoomParticipant.objects.get(room=room, user=speaker_member).role == "moderator"


def test_the_hallway_hides_club_rooms_the_viewer_may_not_enter() -> None:
    club = ClubFactory()
    exclusive = ClubFactory(is_exclusive=True)
    members_only = club_room(club, members_only=True)
    public = club_room(club, members_only=False)
    premium_room = club_room(exclusive, members_only=True)
    member = MembershipFactory(club=club).user
    MembershipFactory(club=exclusive, user=member)
    stranger = MemberFactory()

    def visible(viewer) -> set[int]:
        return set(room_hallway_queryset(viewer=viewer).values_list("pk", flat=True))

    assert visible(stranger) >= {public.pk}
    assert members_only.pk not in visible(stranger)
    assert {members_only.pk, public.pk} <= visible(member)
    assert premium_room.pk not in visible(member)
    Block.objects.create(blocker=stranger, blocked=club.created_by)
    assert public.pk not in visible(stranger)


def test_rooms_without_a_club_are_untouched_by_club_rules() -> None:
    room = RoomFactory()
    assert join_code(MemberFactory(), room) is None


def test_a_co_host_who_is_not_a_leader_opens_a_club_events_room() -> None:
    from rooms import schedule_services
    from tests.rooms.factories import EventFactory

    club = ClubFactory()
    co_host = MembershipFactory(club=club).user
    event = EventFactory(created_by=club.created_by, club=club)
    event.hosts.add(club.created_by, co_host)
    room = schedule_services.event_start_room(user=co_host, event_id=event.pk)
    assert room.club_id == club.pk


def test_members_only_club_events_are_seen_and_joined_only_by_those_with_access() -> None:
    from datetime import timedelta

    from django.utils import timezone

    from rooms import schedule_selectors, schedule_services

    club = ClubFactory()
    member = MembershipFactory(club=club).user
    stranger = MemberFactory()
    event = schedule_services.event_create(
        user=club.created_by,
        title="Members' night",
        starts_at=timezone.now() + timedelta(days=2),
        club_id=club.pk,
        members_only=True,
    )

    def upcoming(viewer) -> list[int]:
        return list(
            schedule_selectors.event_list_upcoming(viewer=viewer).values_list("pk", flat=True)
        )

    assert event.pk in upcoming(member)
    assert event.pk not in upcoming(stranger)
    with pytest.raises(ApplicationError) as excinfo:
        schedule_services.event_rsvp_set(user=stranger, event_id=event.pk, going=True)
    assert excinfo.value.code == "event_not_found"
    assert schedule_services.event_rsvp_set(user=member, event_id=event.pk, going=True)
    room = schedule_services.event_start_room(user=club.created_by, event_id=event.pk)
    assert room.members_only
    assert join_code(stranger, room) == "club_members_only"


def test_a_club_event_needs_a_leader_and_members_only_needs_a_club() -> None:
    from datetime import timedelta

    from django.utils import timezone

    from rooms import schedule_services

    club = ClubFactory()
    member = MembershipFactory(club=club).user
    when = timezone.now() + timedelta(days=1)
    with pytest.raises(ApplicationError) as excinfo:
        schedule_services.event_create(user=member, title="Mine", starts_at=when, club_id=club.pk)
    assert excinfo.value.code == "club_leader_required"
    with pytest.raises(ApplicationError) as excinfo:
        schedule_services.event_create(user=member, title="Mine", starts_at=when, members_only=True)
    assert excinfo.value.fields == {"members_only": ["Only a club event can be members-only."]}


def test_the_club_calendar_lists_that_clubs_upcoming_events(api_client) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from rooms import schedule_services

    club, other = ClubFactory(), ClubFactory()
    when = timezone.now() + timedelta(days=3)
    mine = schedule_services.event_create(
        user=club.created_by, title="Ours", starts_at=when, club_id=club.pk
    )
    schedule_services.event_create(
        user=other.created_by, title="Theirs", starts_at=when, club_id=other.pk
    )
    api_client.force_authenticate(MemberFactory())
    response = api_client.get(f"/api/v1/events/?club={club.slug}")
    assert response.status_code == 200
    assert [item["id"] for item in response.json()["results"]] == [mine.pk]
    assert response.json()["results"][0]["club"]["slug"] == club.slug
