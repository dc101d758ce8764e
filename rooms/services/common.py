"""Helpers every room service shares. Each expects the caller to hold the room row lock
(`room_lock`), except the lock takers themselves."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from clubhouse.errors import Conflict, NotFound, PermissionDenied
from rooms import events, rules
from rooms.models import Room, RoomEventLog, RoomParticipant, RoomRemoval
from rooms.selectors import user_card

Role = RoomParticipant.Role


# --- helpers (caller holds the room lock) -------------------------------------------------
def room_lock(room_id: int) -> Room:
    try:
        return Room.objects.select_for_update().get(pk=room_id)
    except Room.DoesNotExist:
        raise NotFound("No such room.", code="room_not_found") from None


def room_lock_live(room_id: int) -> Room:
    room = room_lock(room_id)
    if not room.is_live:
        raise rules.room_ended_error()
    return room


def stage_event_send(
    room: Room, *, type: str, data: dict[str, Any], journal: dict[str, Any] | None = None
) -> int:
    """Record a stage event in the room's journal under the next `seq` and broadcast it on
    commit. Caller holds the room lock. Returns the event's `seq`.
    `journal` is recorded with the event but never broadcast (a staff member's reason is for
    staff, not for the room); the journal is never replayed to clients."""
    seq = seq_next(room)
    RoomEventLog.objects.create(room=room, seq=seq, type=type, data={**data, **(journal or {})})
    events.room_event_send(room_id=room.pk, seq=seq, type=type, data=data)
    return seq


def seq_next(room: Room) -> int:
    """The room's next sequence number. Caller holds the room lock, so no one else can bump it
    before this transaction commits; snapshots read `seq` under the same lock."""
    room.seq += 1
    room.save(update_fields=["seq"])
    return room.seq


def participant_get(room: Room, user: Any) -> RoomParticipant | None:
    return RoomParticipant.objects.select_related("user").filter(room=room, user_id=user.pk).first()


def actor_get(room: Room, user: Any) -> RoomParticipant:
    actor = participant_get(room, user)
    if actor is None:
        if RoomRemoval.objects.filter(room=room, user_id=user.pk).exists():
            raise rules.removed_error()
        raise PermissionDenied("Join the room first.", code="not_in_room")
    return actor


def require_moderator(actor: RoomParticipant) -> None:
    if actor.role != Role.MODERATOR:
        raise PermissionDenied("Only a moderator can do this.", code="not_moderator")


def target_get(room: Room, target_id: int) -> RoomParticipant:
    target = RoomParticipant.objects.select_related("user").filter(room=room, user_id=target_id)
    found = target.first()
    if found is None:
        raise Conflict("That person is not in this room.", code="target_not_in_room")
    return found


def hands_count(room: Room) -> int:
    return RoomParticipant.objects.filter(room=room, hand_raised_at__isnull=False).count()


def moderator_ids(room: Room) -> list[int]:
    return list(
        RoomParticipant.objects.filter(room=room, role=Role.MODERATOR).values_list(
            "user_id", flat=True
        )
    )


def hands_changed_send(room: Room, participant: RoomParticipant, *, raised: bool) -> None:
    """Everyone learns how many hands are up; only moderators learn whose (personal events)."""
    stage_event_send(
        room,
        type="room.hands_changed",
        data={"count": hands_count(room)},
    )
    data: dict[str, Any] = {"user": user_card(participant.user)}
    if raised and participant.hand_raised_at is not None:
        data["raised_at"] = participant.hand_raised_at.isoformat()
    for moderator_id in moderator_ids(room):
        events.user_event_send(
            user_id=moderator_id,
            room_id=room.pk,
            type="room.hand_raised" if raised else "room.hand_lowered",
            data=data,
        )


def to_stage(participant: RoomParticipant, role: str, now: Any) -> None:
    participant.role = role
    participant.stage_since = participant.stage_since or now
    participant.hand_raised_at = None
    participant.speaker_invited_at = None
    participant.speaker_invited_by = None


def to_audience(participant: RoomParticipant) -> None:
    participant.role = Role.LISTENER
    participant.stage_since = None
    participant.muted = True


def room_end_locked(room: Room, *, reason: str, by: Any = None, staff_reason: str = "") -> None:
    room.status = Room.Status.ENDED
    room.ended_at = timezone.now()
    room.end_reason = reason
    room.save(update_fields=["status", "ended_at", "end_reason"])
    RoomParticipant.objects.filter(room=room).delete()
    stage_event_send(
        room,
        type="room.ended",
        data={"reason": reason, "by": by.pk if by is not None else None},
        journal={"staff_reason": staff_reason} if staff_reason else None,
    )


def after_stage_departure(room: Room) -> None:
    """Someone left the stage or the room: keep the room moderated, or end it.

    The longest-serving speaker becomes moderator when no moderator is left. A room with nobody
    on stage ends: nobody can be heard and nobody could moderate it.
    """
    if RoomParticipant.objects.filter(room=room, role=Role.MODERATOR).exists():
        return
    successor = (
        RoomParticipant.objects.select_related("user")
        .filter(room=room, role=Role.SPEAKER)
        .order_by("stage_since", "id")
        .first()
    )
    if successor is None:
        reason = "empty" if not RoomParticipant.objects.filter(room=room).exists() else "no_stage"
        room_end_locked(room, reason=reason)
        return
    successor.role = Role.MODERATOR
    successor.save(update_fields=["role"])
    stage_event_send(
        room,
        type="room.moderator_added",
        data={"user": user_card(successor.user), "by": None, "reason": "last_moderator_left"},
    )


def participant_take_out(room: Room, participant: RoomParticipant, *, reason: str) -> None:
    """The system takes someone out of a live room (they lost access, their account was
    disabled): everyone sees `room.user_removed` with `reason` and no `by`, the transport ejects
    their sockets and the relay drops their audio. Unlike a moderator's removal nothing bars
    their way back. Caller holds the room lock; `participant.user` is loaded."""
    participant.delete()
    stage_event_send(
        room,
        type="room.user_removed",
        data={
            "user_id": participant.user_id,
            "by": None,
            "was_on_stage": participant.on_stage,
            "reason": reason,
        },
    )
    if participant.on_stage:
        after_stage_departure(room)
        return
    after_audience_departure(room, participant)


def after_audience_departure(room: Room, participant: RoomParticipant) -> None:
    """A listener (row already deleted, caller holds the room lock) is gone: the audience count,
    their hand if it was up, and the end of a room nobody is left in."""
    events.room_audience_changed(room_id=room.pk)
    if participant.hand_raised_at is not None:
        hands_changed_send(room, participant, raised=False)
    if not RoomParticipant.objects.filter(room=room).exists():
        room_end_locked(room, reason="empty")
