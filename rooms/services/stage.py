"""The stage: hands, speaker invitations, leaving the stage, mute, moderators."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from accounts.permissions import user_require_member
from accounts.services import NotificationKind, notification_create
from clubhouse.errors import Conflict, InvalidInput, PermissionDenied
from rooms import events
from rooms.models import Room, RoomParticipant
from rooms.selectors import user_card
from rooms.services.common import (
    Role,
    actor_get,
    hands_changed_send,
    hands_count,
    moderator_ids,
    require_moderator,
    room_lock_live,
    stage_event_send,
    target_get,
    to_audience,
    to_stage,
)

if TYPE_CHECKING:
    from accounts.models import User


# --- hands --------------------------------------------------------------------------------
def room_hand_raise(*, user: User, room_id: int) -> RoomParticipant:
    user_require_member(user)
    with transaction.atomic():
        room = room_lock_live(room_id)
        actor = actor_get(room, user)
        if actor.on_stage:
            raise Conflict("You are already on stage.", code="already_on_stage")
        if actor.hand_raised_at is not None:
            return actor
        policy = room.hand_raise_policy
        if policy == Room.HandRaisePolicy.OFF:
            raise PermissionDenied("Hand raising is off in this room.", code="hand_raise_disabled")
        if policy == Room.HandRaisePolicy.FOLLOWED_BY_SPEAKERS:
            stage_ids = RoomParticipant.objects.filter(
                room=room, role__in=RoomParticipant.STAGE_ROLES
            ).values("user_id")
            if not user.follower_set.filter(follower__in=stage_ids).exists():
                raise PermissionDenied(
                    "Only people followed by a speaker may raise their hand here.",
                    code="hand_raise_not_followed",
                )
        actor.hand_raised_at = timezone.now()
        actor.save(update_fields=["hand_raised_at"])
        hands_changed_send(room, actor, raised=True)
    return actor


def room_hand_lower(*, user: User, room_id: int, target_id: int | None = None) -> RoomParticipant:
    """Lower your own hand, or (moderators) someone else's. Idempotent."""
    user_require_member(user)
    with transaction.atomic():
        room = room_lock_live(room_id)
        actor = actor_get(room, user)
        participant = actor
        if target_id is not None and target_id != user.pk:
            require_moderator(actor)
            participant = target_get(room, target_id)
        if participant.hand_raised_at is None:
            return participant
        participant.hand_raised_at = None
        participant.save(update_fields=["hand_raised_at"])
        hands_changed_send(room, participant, raised=False)
        if participant.user_id != user.pk:  # a moderator lowered it: tell its owner
            events.user_event_send(
                user_id=participant.user_id,
                room_id=room.pk,
                type="room.hand_lowered",
                data={"user": user_card(participant.user), "by": user.pk},
            )
    return participant


def room_hand_policy_set(*, user: User, room_id: int, policy: str) -> Room:
    user_require_member(user)
    if policy not in Room.HandRaisePolicy.values:
        raise InvalidInput(
            fields={"policy": [f"One of: {', '.join(Room.HandRaisePolicy.values)}."]}
        )
    with transaction.atomic():
        room = room_lock_live(room_id)
        require_moderator(actor_get(room, user))
        if room.hand_raise_policy == policy:
            return room
        room.hand_raise_policy = policy
        room.save(update_fields=["hand_raise_policy"])
        lowered = 0
        if policy == Room.HandRaisePolicy.OFF:
            # Turning hands off clears the queue: nobody waits on a list no one will read.
            lowered = RoomParticipant.objects.filter(
                room=room, hand_raised_at__isnull=False
            ).update(hand_raised_at=None)
        stage_event_send(
            room,
            type="room.hand_policy_changed",
            data={"policy": policy, "by": user.pk},
        )
        if lowered:
            stage_event_send(room, type="room.hands_changed", data={"count": 0})
    return room


# --- the stage ----------------------------------------------------------------------------
def room_speaker_invite(*, user: User, room_id: int, target_id: int) -> RoomParticipant:
    """A moderator invites a listener up; they accept or decline (idempotent while pending)."""
    user_require_member(user)
    with transaction.atomic():
        room = room_lock_live(room_id)
        require_moderator(actor_get(room, user))
        target = target_get(room, target_id)
        if target.on_stage:
            raise Conflict("They are already on stage.", code="already_speaker")
        if target.speaker_invited_at is not None:
            return target
        target.speaker_invited_at = timezone.now()
        target.speaker_invited_by = user
        target.save(update_fields=["speaker_invited_at", "speaker_invited_by"])
        events.user_event_send(
            user_id=target.user_id,
            room_id=room.pk,
            type="room.speaker_invited",
            data={"by": user_card(user)},
        )
        notification_create(
            recipient=target.user,
            kind=NotificationKind.SPEAKER_INVITE,
            actor=user,
            data={"room_id": room.pk, "title": room.title},
        )
    return target


def room_speaker_invite_accept(*, user: User, room_id: int) -> RoomParticipant:
    user_require_member(user)
    with transaction.atomic():
        room = room_lock_live(room_id)
        actor = actor_get(room, user)
        if actor.on_stage:
            return actor
        if actor.speaker_invited_at is None:
            raise Conflict("Nobody invited you to speak.", code="no_speaker_invite")
        had_hand = actor.hand_raised_at is not None
        to_stage(actor, Role.SPEAKER, timezone.now())
        actor.muted = True
        actor.save()
        events.room_audience_changed(room_id=room.pk)
        stage_event_send(
            room,
            type="room.speaker_added",
            data={"user": user_card(user), "role": actor.role, "muted": actor.muted},
        )
        if had_hand:
            stage_event_send(
                room,
                type="room.hands_changed",
                data={"count": hands_count(room)},
            )
    return actor


def room_speaker_invite_decline(*, user: User, room_id: int) -> RoomParticipant:
    user_require_member(user)
    with transaction.atomic():
        room = room_lock_live(room_id)
        actor = actor_get(room, user)
        if actor.speaker_invited_at is None:
            return actor
        inviter_id = actor.speaker_invited_by_id
        actor.speaker_invited_at = None
        actor.speaker_invited_by = None
        actor.save(update_fields=["speaker_invited_at", "speaker_invited_by"])
        if inviter_id is not None:
            events.user_event_send(
                user_id=inviter_id,
                room_id=room.pk,
                type="room.speaker_invite_declined",
                data={"user": user_card(user)},
            )
    return actor


def _leave_stage(room: Room, participant: RoomParticipant, *, reason: str, by: Any) -> None:
    to_audience(participant)
    participant.save(update_fields=["role", "stage_since", "muted"])
    events.room_audience_changed(room_id=room.pk)
    stage_event_send(
        room,
        type="room.speaker_removed",
        data={"user_id": participant.user_id, "reason": reason, "by": by.pk if by else None},
    )


def room_speaker_move_to_audience(*, user: User, room_id: int, target_id: int) -> RoomParticipant:
    user_require_member(user)
    with transaction.atomic():
        room = room_lock_live(room_id)
        require_moderator(actor_get(room, user))
        target = target_get(room, target_id)
        if target.role == Role.LISTENER:
            return target
        if target.role == Role.MODERATOR:
            raise Conflict(
                "Make them a speaker first (remove their moderator role).",
                code="target_is_moderator",
            )
        _leave_stage(room, target, reason="moved_by_moderator", by=user)
    return target


def room_stage_leave(*, user: User, room_id: int) -> RoomParticipant:
    """Step down to the audience (idempotent). The last moderator must hand over first."""
    user_require_member(user)
    with transaction.atomic():
        room = room_lock_live(room_id)
        actor = actor_get(room, user)
        if not actor.on_stage:
            return actor
        if actor.role == Role.MODERATOR and moderator_ids(room) == [user.pk]:
            raise Conflict(
                "You are the last moderator: make someone else a moderator or end the room.",
                code="last_moderator",
            )
        _leave_stage(room, actor, reason="left_stage", by=user)
    return actor


# --- mute ---------------------------------------------------------------------------------
def _mute_set(room: Room, participant: RoomParticipant, *, muted: bool, by: User) -> None:
    participant.muted = muted
    participant.save(update_fields=["muted"])
    stage_event_send(
        room,
        type="room.speaker_muted" if muted else "room.speaker_unmuted",
        data={"user_id": participant.user_id, "muted": muted, "by": by.pk},
    )


def room_speaker_mute(*, user: User, room_id: int, target_id: int) -> RoomParticipant:
    """A moderator mutes someone on stage. Only the speaker can unmute themselves."""
    user_require_member(user)
    with transaction.atomic():
        room = room_lock_live(room_id)
        require_moderator(actor_get(room, user))
        target = target_get(room, target_id)
        if not target.on_stage:
            raise Conflict("They are not on stage.", code="not_on_stage")
        if not target.muted:
            _mute_set(room, target, muted=True, by=user)
    return target


def _self_mute_set(user: User, room_id: int, *, muted: bool) -> RoomParticipant:
    user_require_member(user)
    with transaction.atomic():
        room = room_lock_live(room_id)
        actor = actor_get(room, user)
        if not actor.on_stage:
            raise Conflict("Only people on stage have a microphone.", code="not_on_stage")
        if actor.muted != muted:
            _mute_set(room, actor, muted=muted, by=user)
    return actor


def room_self_mute(*, user: User, room_id: int) -> RoomParticipant:
    return _self_mute_set(user, room_id, muted=True)


def room_self_unmute(*, user: User, room_id: int) -> RoomParticipant:
    return _self_mute_set(user, room_id, muted=False)


# --- moderators ---------------------------------------------------------------------------
def room_moderator_add(*, user: User, room_id: int, target_id: int) -> RoomParticipant:
    user_require_member(user)
    with transaction.atomic():
        room = room_lock_live(room_id)
        require_moderator(actor_get(room, user))
        target = target_get(room, target_id)
        if target.role == Role.MODERATOR:
            return target
        if target.role != Role.SPEAKER:
            raise Conflict("Invite them to speak first.", code="not_on_stage")
        target.role = Role.MODERATOR
        target.save(update_fields=["role"])
        stage_event_send(
            room,
            type="room.moderator_added",
            data={"user": user_card(target.user), "by": user.pk, "reason": "made_moderator"},
        )
    return target


def room_moderator_remove(*, user: User, room_id: int, target_id: int) -> RoomParticipant:
    """A moderator becomes a plain speaker (themselves too, unless they are the last one)."""
    user_require_member(user)
    with transaction.atomic():
        room = room_lock_live(room_id)
        require_moderator(actor_get(room, user))
        target = target_get(room, target_id)
        if target.role != Role.MODERATOR:
            return target
        if moderator_ids(room) == [target.user_id]:
            raise Conflict(
                "A room needs a moderator: make someone else a moderator first.",
                code="last_moderator",
            )
        target.role = Role.SPEAKER
        target.save(update_fields=["role"])
        stage_event_send(
            room,
            type="room.moderator_removed",
            data={"user_id": target.user_id, "by": user.pk},
        )
    return target
