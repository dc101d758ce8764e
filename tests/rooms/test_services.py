"""Room services: each stage transition, its errors, and its idempotency."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from clubhouse.errors import ApplicationError
from rooms import services
from rooms.models import Room, RoomInvite, RoomParticipant, RoomRemoval
from tests.rooms.conftest import Stage
from tests.rooms.factories import (
    MemberFactory,
    RoomFactory,
    TopicFactory,
    WaitlistedFactory,
    block,
    follow,
    participant,
)

pytestmark = pytest.mark.django_db


def role_of(room: Room, user) -> str | None:
    row = RoomParticipant.objects.filter(room=room, user=user).first()
    return row.role if row else None


def error_code(excinfo: pytest.ExceptionInfo[ApplicationError]) -> str:
    return excinfo.value.code


# --- create -------------------------------------------------------------------------------
def test_room_create_makes_the_creator_an_unmuted_moderator_on_stage() -> None:
    creator = MemberFactory()
    topic = TopicFactory()
    room = services.room_create(user=creator, title="Hi", type="social", topic_ids=[topic.pk])
    assert room.status == Room.Status.LIVE
    assert room.capacity == 5000
    assert list(room.topics.all()) == [topic]
    row = RoomParticipant.objects.get(room=room, user=creator)
    assert row.role == "moderator"
    assert row.stage_since is not None
    assert row.muted is False


def test_room_create_takes_default_capacity_from_settings(settings) -> None:
    settings.ROOM_DEFAULT_CAPACITY = 10
    room = services.room_create(user=MemberFactory(), title="small")
    assert room.capacity == 10


def test_room_create_rejects_bad_fields_with_field_errors() -> None:
    with pytest.raises(ApplicationError) as excinfo:
        services.room_create(user=MemberFactory(), title="x" * 200, type="secret", topic_ids=[999])
    assert excinfo.value.code == "invalid"
    assert set(excinfo.value.fields) == {"title", "type", "topic_ids"}


def test_room_create_refuses_waitlisted_people() -> None:
    with pytest.raises(ApplicationError) as excinfo:
        services.room_create(user=WaitlistedFactory(), title="x")
    assert excinfo.value.code == "waitlisted"


# --- join ---------------------------------------------------------------------------------
def test_joining_puts_a_member_in_the_audience(stage: Stage) -> None:
    newcomer = MemberFactory()
    row = services.room_join(user=newcomer, room_id=stage.room.pk)
    assert row.role == "listener"
    assert row.stage_since is None


def test_joining_twice_keeps_the_role(stage: Stage) -> None:
    row = services.room_join(user=stage.speaker, room_id=stage.room.pk)
    assert row.role == "speaker"
    assert RoomParticipant.objects.filter(room=stage.room, user=stage.speaker).count() == 1


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ("ended", "room_ended"),
        ("removed", "removed_from_room"),
        ("blocked", "blocked_by_moderator"),
        ("closed", "closed_room_invite_only"),
        ("social", "social_room_not_followed"),
        ("full", "room_full"),
        ("anonymous", "not_authenticated"),
        ("waitlisted", "waitlisted"),
    ],
)
def test_join_refusals_have_stable_codes(stage: Stage, setup: str, code: str) -> None:
    room, user = stage.room, MemberFactory()
    if setup == "ended":
        services.room_end(user=stage.moderator, room_id=room.pk)
    elif setup == "removed":
        RoomRemoval.objects.create(room=room, user=user)
    elif setup == "blocked":
        block(stage.moderator, user)
    elif setup in ("closed", "social"):
        Room.objects.filter(pk=room.pk).update(type=setup)
    elif setup == "full":
        Room.objects.filter(pk=room.pk).update(capacity=3)
    elif setup == "anonymous":
        user = AnonymousUser()
    elif setup == "waitlisted":
        user = WaitlistedFactory()
    with pytest.raises(ApplicationError) as excinfo:
        services.room_join(user=user, room_id=room.pk)
    assert excinfo.value.code == code


def test_a_closed_room_admits_invited_people(stage: Stage) -> None:
    Room.objects.filter(pk=stage.room.pk).update(type="closed")
    guest = MemberFactory()
    services.room_ping(user=stage.moderator, room_id=stage.room.pk, target_id=guest.pk)
    assert services.room_join(user=guest, room_id=stage.room.pk).role == "listener"
    assert RoomInvite.objects.get(room=stage.room, user=guest).kind == "invite"


def test_a_social_room_admits_people_followed_by_a_speaker(stage: Stage) -> None:
    Room.objects.filter(pk=stage.room.pk).update(type="social")
    friend = MemberFactory()
    follow(stage.speaker, friend)
    assert services.room_join(user=friend, room_id=stage.room.pk).role == "listener"


def test_blocking_someone_on_stage_does_not_keep_you_out(stage: Stage) -> None:
    viewer = MemberFactory()
    block(viewer, stage.speaker)
    assert services.room_join(user=viewer, room_id=stage.room.pk).role == "listener"


# --- leave --------------------------------------------------------------------------------
def test_leaving_is_idempotent(stage: Stage) -> None:
    services.room_leave(user=stage.listener, room_id=stage.room.pk)
    services.room_leave(user=stage.listener, room_id=stage.room.pk)
    assert role_of(stage.room, stage.listener) is None


def test_when_the_last_moderator_leaves_the_longest_serving_speaker_takes_over(
    stage: Stage,
) -> None:
    later = MemberFactory()
    participant(stage.room, later, "speaker")
    services.room_leave(user=stage.moderator, room_id=stage.room.pk)
    assert role_of(stage.room, stage.speaker) == "moderator"
    assert role_of(stage.room, later) == "speaker"


def test_when_nobody_is_left_the_room_ends() -> None:
    room = RoomFactory()
    services.room_leave(user=room.created_by, room_id=room.pk)
    room.refresh_from_db()
    assert room.status == "ended"
    assert room.ended_at is not None
    assert room.end_reason == "empty"


def test_when_nobody_is_left_on_stage_the_room_ends(stage: Stage) -> None:
    services.room_leave(user=stage.speaker, room_id=stage.room.pk)
    services.room_leave(user=stage.moderator, room_id=stage.room.pk)
    stage.room.refresh_from_db()
    assert stage.room.status == "ended"
    assert stage.room.end_reason == "no_stage"
    assert not RoomParticipant.objects.filter(room=stage.room).exists()


# --- end ----------------------------------------------------------------------------------
def test_ending_is_moderator_only_and_idempotent(stage: Stage) -> None:
    with pytest.raises(ApplicationError) as excinfo:
        services.room_end(user=stage.speaker, room_id=stage.room.pk)
    assert excinfo.value.code == "not_moderator"
    services.room_end(user=stage.moderator, room_id=stage.room.pk)
    seq = Room.objects.get(pk=stage.room.pk).seq
    services.room_end(user=stage.moderator, room_id=stage.room.pk)
    room = Room.objects.get(pk=stage.room.pk)
    assert room.status == "ended"
    assert room.seq == seq


def test_actions_in_an_ended_room_are_refused(stage: Stage) -> None:
    services.room_end(user=stage.moderator, room_id=stage.room.pk)
    with pytest.raises(ApplicationError) as excinfo:
        services.room_hand_raise(user=stage.listener, room_id=stage.room.pk)
    assert excinfo.value.code == "room_ended"


# --- hands --------------------------------------------------------------------------------
def test_raising_a_hand_twice_is_one_raise(stage: Stage) -> None:
    first = services.room_hand_raise(user=stage.listener, room_id=stage.room.pk)
    seq = Room.objects.get(pk=stage.room.pk).seq
    second = services.room_hand_raise(user=stage.listener, room_id=stage.room.pk)
    assert first.hand_raised_at == second.hand_raised_at
    assert Room.objects.get(pk=stage.room.pk).seq == seq


def test_hand_raise_policy_off_refuses_and_clears_hands(stage: Stage) -> None:
    services.room_hand_raise(user=stage.listener, room_id=stage.room.pk)
    services.room_hand_policy_set(user=stage.moderator, room_id=stage.room.pk, policy="off")
    assert RoomParticipant.objects.get(user=stage.listener).hand_raised_at is None
    with pytest.raises(ApplicationError) as excinfo:
        services.room_hand_raise(user=stage.listener, room_id=stage.room.pk)
    assert excinfo.value.code == "hand_raise_disabled"


def test_hand_raise_followed_by_speakers_policy(stage: Stage) -> None:
    services.room_hand_policy_set(
        user=stage.moderator, room_id=stage.room.pk, policy="followed_by_speakers"
    )
    with pytest.raises(ApplicationError) as excinfo:
        services.room_hand_raise(user=stage.listener, room_id=stage.room.pk)
    assert excinfo.value.code == "hand_raise_not_followed"
    follow(stage.speaker, stage.listener)
    assert services.room_hand_raise(user=stage.listener, room_id=stage.room.pk).hand_raised_at


def test_people_on_stage_cannot_raise_a_hand(stage: Stage) -> None:
    with pytest.raises(ApplicationError) as excinfo:
        services.room_hand_raise(user=stage.speaker, room_id=stage.room.pk)
    assert excinfo.value.code == "already_on_stage"


def test_a_moderator_can_lower_someone_elses_hand_but_a_listener_cannot(stage: Stage) -> None:
    other = MemberFactory()
    participant(stage.room, other)
    services.room_hand_raise(user=other, room_id=stage.room.pk)
    with pytest.raises(ApplicationError) as excinfo:
        services.room_hand_lower(user=stage.listener, room_id=stage.room.pk, target_id=other.pk)
    assert excinfo.value.code == "not_moderator"
    services.room_hand_lower(user=stage.moderator, room_id=stage.room.pk, target_id=other.pk)
    assert RoomParticipant.objects.get(user=other).hand_raised_at is None


# --- speaker invites ----------------------------------------------------------------------
def test_invite_accept_brings_a_listener_on_stage_muted(stage: Stage) -> None:
    services.room_hand_raise(user=stage.listener, room_id=stage.room.pk)
    services.room_speaker_invite(
        user=stage.moderator, room_id=stage.room.pk, target_id=stage.listener.pk
    )
    row = services.room_speaker_invite_accept(user=stage.listener, room_id=stage.room.pk)
    assert row.role == "speaker"
    assert row.muted is True
    assert row.stage_since is not None
    assert row.hand_raised_at is None
    assert row.speaker_invited_at is None


def test_accepting_without_an_invite_is_refused(stage: Stage) -> None:
    with pytest.raises(ApplicationError) as excinfo:
        services.room_speaker_invite_accept(user=stage.listener, room_id=stage.room.pk)
    assert excinfo.value.code == "no_speaker_invite"


def test_declining_clears_the_invite(stage: Stage) -> None:
    services.room_speaker_invite(
        user=stage.moderator, room_id=stage.room.pk, target_id=stage.listener.pk
    )
    row = services.room_speaker_invite_decline(user=stage.listener, room_id=stage.room.pk)
    assert row.role == "listener"
    assert row.speaker_invited_at is None


def test_inviting_someone_already_on_stage_is_refused(stage: Stage) -> None:
    with pytest.raises(ApplicationError) as excinfo:
        services.room_speaker_invite(
            user=stage.moderator, room_id=stage.room.pk, target_id=stage.speaker.pk
        )
    assert excinfo.value.code == "already_speaker"


def test_inviting_someone_not_in_the_room_is_refused(stage: Stage) -> None:
    with pytest.raises(ApplicationError) as excinfo:
        services.room_speaker_invite(
            user=stage.moderator, room_id=stage.room.pk, target_id=MemberFactory().pk
        )
    assert excinfo.value.code == "target_not_in_room"


# --- leaving the stage --------------------------------------------------------------------
def test_a_moderator_moves_a_speaker_to_the_audience(stage: Stage) -> None:
    services.room_speaker_move_to_audience(
        user=stage.moderator, room_id=stage.room.pk, target_id=stage.speaker.pk
    )
    assert role_of(stage.room, stage.speaker) == "listener"


def test_moving_a_moderator_to_the_audience_is_refused(stage: Stage) -> None:
    other = MemberFactory()
    participant(stage.room, other, "moderator")
    with pytest.raises(ApplicationError) as excinfo:
        services.room_speaker_move_to_audience(
            user=stage.moderator, room_id=stage.room.pk, target_id=other.pk
        )
    assert excinfo.value.code == "target_is_moderator"


def test_a_speaker_leaves_the_stage(stage: Stage) -> None:
    services.room_stage_leave(user=stage.speaker, room_id=stage.room.pk)
    services.room_stage_leave(user=stage.speaker, room_id=stage.room.pk)
    assert role_of(stage.room, stage.speaker) == "listener"


def test_the_last_moderator_cannot_step_off_the_stage(stage: Stage) -> None:
    with pytest.raises(ApplicationError) as excinfo:
        services.room_stage_leave(user=stage.moderator, room_id=stage.room.pk)
    assert excinfo.value.code == "last_moderator"


# --- mute ---------------------------------------------------------------------------------
def test_moderator_mutes_a_speaker_who_may_unmute_themselves(stage: Stage) -> None:
    services.room_self_unmute(user=stage.speaker, room_id=stage.room.pk)
    services.room_speaker_mute(
        user=stage.moderator, room_id=stage.room.pk, target_id=stage.speaker.pk
    )
    assert RoomParticipant.objects.get(user=stage.speaker).muted is True
    services.room_self_unmute(user=stage.speaker, room_id=stage.room.pk)
    assert RoomParticipant.objects.get(user=stage.speaker).muted is False


def test_muting_a_listener_is_refused(stage: Stage) -> None:
    with pytest.raises(ApplicationError) as excinfo:
        services.room_speaker_mute(
            user=stage.moderator, room_id=stage.room.pk, target_id=stage.listener.pk
        )
    assert excinfo.value.code == "not_on_stage"


def test_listeners_have_no_microphone(stage: Stage) -> None:
    with pytest.raises(ApplicationError) as excinfo:
        services.room_self_unmute(user=stage.listener, room_id=stage.room.pk)
    assert excinfo.value.code == "not_on_stage"


# --- moderators ---------------------------------------------------------------------------
def test_make_and_unmake_moderator(stage: Stage) -> None:
    services.room_moderator_add(
        user=stage.moderator, room_id=stage.room.pk, target_id=stage.speaker.pk
    )
    assert role_of(stage.room, stage.speaker) == "moderator"
    services.room_moderator_remove(
        user=stage.speaker, room_id=stage.room.pk, target_id=stage.moderator.pk
    )
    assert role_of(stage.room, stage.moderator) == "speaker"


def test_listeners_cannot_be_made_moderators(stage: Stage) -> None:
    with pytest.raises(ApplicationError) as excinfo:
        services.room_moderator_add(
            user=stage.moderator, room_id=stage.room.pk, target_id=stage.listener.pk
        )
    assert excinfo.value.code == "not_on_stage"


def test_the_last_moderator_cannot_unmake_themselves(stage: Stage) -> None:
    with pytest.raises(ApplicationError) as excinfo:
        services.room_moderator_remove(
            user=stage.moderator, room_id=stage.room.pk, target_id=stage.moderator.pk
        )
    assert excinfo.value.code == "last_moderator"


# --- a disabled account -------------------------------------------------------------------
def disable(user) -> None:
    """What accounts' ban commits before its hooks run (tests/accounts covers the ban itself)."""
    type(user).objects.filter(pk=user.pk).update(is_active=False)


def test_a_disabled_account_leaves_every_live_room_it_is_in(stage: Stage) -> None:
    from rooms.models import RoomEventLog

    elsewhere = RoomFactory()
    participant(elsewhere, stage.listener, "listener", hand_raised_at=timezone.now())
    over = RoomFactory()
    participant(over, stage.listener, "speaker")
    services.room_end(user=over.created_by, room_id=over.pk)
    assert services.room_account_disabled(user_id=stage.listener.pk) == []  # not disabled
    disable(stage.listener)

    left = services.room_account_disabled(user_id=stage.listener.pk)

    assert sorted(left) == sorted([stage.room.pk, elsewhere.pk])
    assert not RoomParticipant.objects.filter(user=stage.listener).exists()
    for room in (stage.room, elsewhere):
        removed = RoomEventLog.objects.get(room=room, type="room.user_removed")
        assert removed.data == {
            "user_id": stage.listener.pk,
            "by": None,
            "was_on_stage": False,
            "reason": "account_disabled",
        }
    # their raised hand went with them
    assert RoomEventLog.objects.get(room=elsewhere, type="room.hands_changed").data == {"count": 0}
    # not a removal by a moderator: nothing keeps them out of these rooms should staff lift it
    assert not RoomRemoval.objects.filter(user=stage.listener).exists()
    assert services.room_account_disabled(user_id=stage.listener.pk) == []  # idempotent


def test_a_disabled_moderator_hands_the_room_to_the_longest_serving_speaker(
    stage: Stage,
) -> None:
    disable(stage.moderator)
    services.room_account_disabled(user_id=stage.moderator.pk)
    assert role_of(stage.room, stage.moderator) is None
    assert role_of(stage.room, stage.speaker) == "moderator"
    stage.room.refresh_from_db()
    assert stage.room.status == "live"


def test_a_room_whose_only_person_on_stage_is_disabled_ends(stage: Stage) -> None:
    services.room_leave(user=stage.speaker, room_id=stage.room.pk)
    disable(stage.moderator)
    services.room_account_disabled(user_id=stage.moderator.pk)
    stage.room.refresh_from_db()
    assert stage.room.status == "ended"
    assert stage.room.end_reason == "no_stage"


# --- removal ------------------------------------------------------------------------------
def test_a_removed_person_cannot_rejoin(stage: Stage) -> None:
    services.room_user_remove(
        user=stage.moderator, room_id=stage.room.pk, target_id=stage.listener.pk
    )
    assert role_of(stage.room, stage.listener) is None
    with pytest.raises(ApplicationError) as excinfo:
        services.room_join(user=stage.listener, room_id=stage.room.pk)
    assert excinfo.value.code == "removed_from_room"
    # and removing again changes nothing
    services.room_user_remove(
        user=stage.moderator, room_id=stage.room.pk, target_id=stage.listener.pk
    )
    assert RoomRemoval.objects.filter(room=stage.room, user=stage.listener).count() == 1


def test_moderators_cannot_remove_themselves_or_other_moderators(stage: Stage) -> None:
    other = MemberFactory()
    participant(stage.room, other, "moderator")
    with pytest.raises(ApplicationError) as excinfo:
        services.room_user_remove(
            user=stage.moderator, room_id=stage.room.pk, target_id=stage.moderator.pk
        )
    assert excinfo.value.code == "cannot_remove_self"
    with pytest.raises(ApplicationError) as excinfo:
        services.room_user_remove(user=stage.moderator, room_id=stage.room.pk, target_id=other.pk)
    assert excinfo.value.code == "cannot_remove_moderator"


# --- ping / invite ------------------------------------------------------------------------
def test_ping_notifies_once(stage: Stage) -> None:
    friend = MemberFactory()
    services.room_ping(user=stage.listener, room_id=stage.room.pk, target_id=friend.pk)
    services.room_ping(user=stage.listener, room_id=stage.room.pk, target_id=friend.pk)
    notes = list(friend.notifications.all())
    assert [n.kind for n in notes] == ["room_ping"]
    assert notes[0].data["room_id"] == stage.room.pk


def test_in_a_closed_room_only_moderators_invite(stage: Stage) -> None:
    Room.objects.filter(pk=stage.room.pk).update(type="closed")
    with pytest.raises(ApplicationError) as excinfo:
        services.room_ping(user=stage.listener, room_id=stage.room.pk, target_id=MemberFactory().pk)
    assert excinfo.value.code == "not_moderator"


def test_in_a_social_room_only_people_on_stage_invite(stage: Stage) -> None:
    Room.objects.filter(pk=stage.room.pk).update(type="social")
    with pytest.raises(ApplicationError) as excinfo:
        services.room_ping(user=stage.listener, room_id=stage.room.pk, target_id=MemberFactory().pk)
    assert excinfo.value.code == "not_on_stage"
    guest = MemberFactory()
    services.room_ping(user=stage.speaker, room_id=stage.room.pk, target_id=guest.pk)
    assert services.room_join(user=guest, room_id=stage.room.pk).role == "listener"


def test_pinging_someone_who_blocked_you_is_refused(stage: Stage) -> None:
    other = MemberFactory()
    block(other, stage.listener)
    with pytest.raises(ApplicationError) as excinfo:
        services.room_ping(user=stage.listener, room_id=stage.room.pk, target_id=other.pk)
    assert excinfo.value.code == "blocked"


# --- sequence numbers ---------------------------------------------------------------------
def test_every_stage_event_bumps_seq_and_audience_joins_do_not(stage: Stage) -> None:
    room_id = stage.room.pk
    services.room_join(user=MemberFactory(), room_id=room_id)
    assert Room.objects.get(pk=room_id).seq == 0
    # the speaker arrived muted: muting again is a no-op and allocates nothing
    services.room_speaker_mute(user=stage.moderator, room_id=room_id, target_id=stage.speaker.pk)
    assert Room.objects.get(pk=room_id).seq == 0
    services.room_self_unmute(user=stage.speaker, room_id=room_id)
    services.room_speaker_mute(user=stage.moderator, room_id=room_id, target_id=stage.speaker.pk)
    assert Room.objects.get(pk=room_id).seq == 2


def test_every_stage_event_is_journaled_with_its_seq(stage: Stage) -> None:
    from rooms.models import RoomEventLog

    room_id = stage.room.pk
    services.room_self_unmute(user=stage.speaker, room_id=room_id)
    services.room_user_remove(user=stage.moderator, room_id=room_id, target_id=stage.listener.pk)
    services.room_end(user=stage.moderator, room_id=room_id)
    log = list(RoomEventLog.objects.filter(room_id=room_id).values_list("seq", "type"))
    assert log == [(1, "room.speaker_unmuted"), (2, "room.user_removed"), (3, "room.ended")]
    ended = RoomEventLog.objects.get(room_id=room_id, seq=3)
    assert ended.data == {"reason": "ended_by_moderator", "by": stage.moderator.pk}


def test_a_room_seq_can_never_repeat(stage: Stage) -> None:
    from django.db import IntegrityError, transaction

    from rooms.models import RoomEventLog

    RoomEventLog.objects.create(room=stage.room, seq=1, type="room.ended")
    with pytest.raises(IntegrityError), transaction.atomic():
        RoomEventLog.objects.create(room=stage.room, seq=1, type="room.ended")
