"""Every write about rooms. Each service authenticates the actor as a member, takes the room row
lock (`select_for_update`), checks the move is legal, writes, allocates the room's next `seq` for
a stage event, and queues its events on commit through rooms.events.

Idempotent by design: repeating an action whose outcome already holds returns quietly and sends
nothing (raising a raised hand, muting a muted speaker, ending an ended room).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Block, Notification, Topic, User
from accounts.permissions import user_require_member
from accounts.services import notification_create
from clubhouse.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from clubs.models import Club
from rooms import events, rules
from rooms.conf import room_default_capacity, room_title_max_length
from rooms.models import Room, RoomInvite, RoomParticipant, RoomRemoval
from rooms.selectors import user_card

Role = RoomParticipant.Role


# --- helpers (caller holds the room lock) -------------------------------------------------
def _room_lock(room_id: int) -> Room:
    try:
        return Room.objects.select_for_update().get(pk=room_id)
    except Room.DoesNotExist:
        raise NotFound("No such room.", code="room_not_found") from None


def _room_lock_live(room_id: int) -> Room:
    room = _room_lock(room_id)
    if not room.is_live:
        raise rules.room_ended_error()
    return room


def _seq_next(room: Room) -> int:
    """The room's next sequence number. Caller holds the room lock, so no one else can bump it
    before this transaction commits; snapshots read `seq` under the same lock."""
    room.seq += 1
    room.save(update_fields=["seq"])
    return room.seq


def _participant(room: Room, user: Any) -> RoomParticipant | None:
    return RoomParticipant.objects.select_related("user").filter(room=room, user_id=user.pk).first()


def _actor(room: Room, user: Any) -> RoomParticipant:
    actor = _participant(room, user)
    if actor is None:
        if RoomRemoval.objects.filter(room=room, user_id=user.pk).exists():
            raise rules.removed_error()
        raise PermissionDenied("Join the room first.", code="not_in_room")
    return actor


def _require_moderator(actor: RoomParticipant) -> None:
    if actor.role != Role.MODERATOR:
        raise PermissionDenied("Only a moderator can do this.", code="not_moderator")


def _target(room: Room, target_id: int) -> RoomParticipant:
    target = RoomParticipant.objects.select_related("user").filter(room=room, user_id=target_id)
    found = target.first()
    if found is None:
        raise Conflict("That person is not in this room.", code="target_not_in_room")
    return found


def _hands_count(room: Room) -> int:
    return RoomParticipant.objects.filter(room=room, hand_raised_at__isnull=False).count()


def _moderator_ids(room: Room) -> list[int]:
    return list(
        RoomParticipant.objects.filter(room=room, role=Role.MODERATOR).values_list(
            "user_id", flat=True
        )
    )


def _hands_changed(room: Room, participant: RoomParticipant, *, raised: bool) -> None:
    """Everyone learns how many hands are up; only moderators learn whose (personal events)."""
    events.room_event_send(
        room_id=room.pk,
        seq=_seq_next(room),
        type="room.hands_changed",
        data={"count": _hands_count(room)},
    )
    data: dict[str, Any] = {"user": user_card(participant.user)}
    if raised and participant.hand_raised_at is not None:
        data["raised_at"] = participant.hand_raised_at.isoformat()
    for moderator_id in _moderator_ids(room):
        events.user_event_send(
            user_id=moderator_id,
            room_id=room.pk,
            type="room.hand_raised" if raised else "room.hand_lowered",
            data=data,
        )


def _to_stage(participant: RoomParticipant, role: str, now: Any) -> None:
    participant.role = role
    participant.stage_since = participant.stage_since or now
    participant.hand_raised_at = None
    participant.speaker_invited_at = None
    participant.speaker_invited_by = None


def _to_audience(participant: RoomParticipant) -> None:
    participant.role = Role.LISTENER
    participant.stage_since = None
    participant.muted = True


def _room_end_locked(room: Room, *, reason: str, by: Any = None) -> None:
    room.status = Room.Status.ENDED
    room.ended_at = timezone.now()
    room.end_reason = reason
    room.seq += 1
    room.save(update_fields=["status", "ended_at", "end_reason", "seq"])
    RoomParticipant.objects.filter(room=room).delete()
    events.room_event_send(
        room_id=room.pk,
        seq=room.seq,
        type="room.ended",
        data={"reason": reason, "by": by.pk if by is not None else None},
    )


def _after_stage_departure(room: Room) -> None:
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
        _room_end_locked(room, reason=reason)
        return
    successor.role = Role.MODERATOR
    successor.save(update_fields=["role"])
    events.room_event_send(
        room_id=room.pk,
        seq=_seq_next(room),
        type="room.moderator_added",
        data={"user": user_card(successor.user), "by": None, "reason": "last_moderator_left"},
    )


# --- create, join, leave, end -------------------------------------------------------------
def room_create(
    *,
    user: User,
    title: str = "",
    type: str = Room.Type.OPEN,
    topic_ids: Iterable[int] = (),
    club_id: int | None = None,
    members_only: bool = False,
    capacity: int | None = None,
    hand_raise_policy: str = Room.HandRaisePolicy.EVERYONE,
) -> Room:
    """Open a live room; its creator is the first moderator, on stage and unmuted."""
    user_require_member(user)
    errors: dict[str, list[str]] = {}
    title = (title or "").strip()
    if len(title) > room_title_max_length():
        errors["title"] = [f"At most {room_title_max_length()} characters."]
    if type not in Room.Type.values:
        errors["type"] = [f"One of: {', '.join(Room.Type.values)}."]
    if hand_raise_policy not in Room.HandRaisePolicy.values:
        errors["hand_raise_policy"] = [f"One of: {', '.join(Room.HandRaisePolicy.values)}."]
    default_capacity = room_default_capacity()
    if capacity is not None and not 1 <= capacity <= default_capacity:
        errors["capacity"] = [f"Between 1 and {default_capacity}."]
    topic_ids = list(topic_ids)
    topics = list(Topic.objects.filter(pk__in=topic_ids))
    if len(topics) != len(set(topic_ids)):
        errors["topic_ids"] = ["Unknown topic."]
    club = None
    if club_id is not None:
        club = Club.objects.filter(pk=club_id).first()
        if club is None:
            errors["club_id"] = ["Unknown club."]
    if members_only and club_id is None:
        errors["members_only"] = ["Only a club room can be members-only."]
    if errors:
        raise InvalidInput(fields=errors)
    with transaction.atomic():
        room = Room.objects.create(
            title=title,
            type=type,
            club=club,
            members_only=members_only,
            capacity=capacity or default_capacity,
            hand_raise_policy=hand_raise_policy,
            created_by=user,
        )
        room.topics.set(topics)
        RoomParticipant.objects.create(
            room=room, user=user, role=Role.MODERATOR, stage_since=timezone.now(), muted=False
        )
    return room


def room_join(*, user: User, room_id: int) -> RoomParticipant:
    """Enter a room as a listener (idempotent: someone already in keeps their place and role)."""
    user_require_member(user)
    with transaction.atomic():
        room = _room_lock_live(room_id)
        existing = _participant(room, user)
        if existing is not None:
            return existing
        denial = rules.room_entry_denial(room, user)
        if denial is not None:
            raise denial
        if RoomParticipant.objects.filter(room=room).count() >= room.capacity:
            raise Conflict("This room is full.", code="room_full")
        participant = RoomParticipant.objects.create(room=room, user=user, role=Role.LISTENER)
        events.room_audience_changed(room_id=room.pk)
    return participant


def room_leave(*, user: User, room_id: int) -> None:
    """Leave a room (idempotent). The transport calls this after its presence grace period."""
    with transaction.atomic():
        room = _room_lock(room_id)
        participant = _participant(room, user) if user.is_authenticated else None
        if participant is None or not room.is_live:
            return
        participant.delete()
        if participant.on_stage:
            events.room_event_send(
                room_id=room.pk,
                seq=_seq_next(room),
                type="room.speaker_removed",
                data={"user_id": user.pk, "reason": "left_room", "by": None},
            )
            _after_stage_departure(room)
            return
        events.room_audience_changed(room_id=room.pk)
        if participant.hand_raised_at is not None:
            _hands_changed(room, participant, raised=False)
        if not RoomParticipant.objects.filter(room=room).exists():
            _room_end_locked(room, reason="empty")


def room_end(*, user: User, room_id: int) -> Room:
    """A moderator ends the room for everyone (idempotent)."""
    user_require_member(user)
    with transaction.atomic():
        room = _room_lock(room_id)
        if not room.is_live:
            return room
        _require_moderator(_actor(room, user))
        _room_end_locked(room, reason="ended_by_moderator", by=user)
    return room


def room_end_by_staff(*, staff: User, room_id: int) -> Room:
    """Staff end a room from the back office (moderation), whoever is in it."""
    if not staff.is_staff:
        raise PermissionDenied("Staff only.")
    with transaction.atomic():
        room = _room_lock(room_id)
        if room.is_live:
            _room_end_locked(room, reason="ended_by_staff", by=staff)
    return room


# --- hands --------------------------------------------------------------------------------
def room_hand_raise(*, user: User, room_id: int) -> RoomParticipant:
    user_require_member(user)
    with transaction.atomic():
        room = _room_lock_live(room_id)
        actor = _actor(room, user)
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
        _hands_changed(room, actor, raised=True)
    return actor


def room_hand_lower(*, user: User, room_id: int, target_id: int | None = None) -> RoomParticipant:
    """Lower your own hand, or (moderators) someone else's. Idempotent."""
    user_require_member(user)
    with transaction.atomic():
        room = _room_lock_live(room_id)
        actor = _actor(room, user)
        participant = actor
        if target_id is not None and target_id != user.pk:
            _require_moderator(actor)
            participant = _target(room, target_id)
        if participant.hand_raised_at is None:
            return participant
        participant.hand_raised_at = None
        participant.save(update_fields=["hand_raised_at"])
        _hands_changed(room, participant, raised=False)
    return participant


def room_hand_policy_set(*, user: User, room_id: int, policy: str) -> Room:
    user_require_member(user)
    if policy not in Room.HandRaisePolicy.values:
        raise InvalidInput(
            fields={"policy": [f"One of: {', '.join(Room.HandRaisePolicy.values)}."]}
        )
    with transaction.atomic():
        room = _room_lock_live(room_id)
        _require_moderator(_actor(room, user))
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
        events.room_event_send(
            room_id=room.pk,
            seq=_seq_next(room),
            type="room.hand_policy_changed",
            data={"policy": policy, "by": user.pk},
        )
        if lowered:
            events.room_event_send(
                room_id=room.pk, seq=_seq_next(room), type="room.hands_changed", data={"count": 0}
            )
    return room


# --- the stage ----------------------------------------------------------------------------
def room_speaker_invite(*, user: User, room_id: int, target_id: int) -> RoomParticipant:
    """A moderator invites a listener up; they accept or decline (idempotent while pending)."""
    user_require_member(user)
    with transaction.atomic():
        room = _room_lock_live(room_id)
        _require_moderator(_actor(room, user))
        target = _target(room, target_id)
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
            kind=Notification.Kind.SPEAKER_INVITE,
            actor=user,
            data={"room_id": room.pk, "title": room.title},
        )
    return target


def room_speaker_invite_accept(*, user: User, room_id: int) -> RoomParticipant:
    user_require_member(user)
    with transaction.atomic():
        room = _room_lock_live(room_id)
        actor = _actor(room, user)
        if actor.on_stage:
            return actor
        if actor.speaker_invited_at is None:
            raise Conflict("Nobody invited you to speak.", code="no_speaker_invite")
        had_hand = actor.hand_raised_at is not None
        _to_stage(actor, Role.SPEAKER, timezone.now())
        actor.muted = True
        actor.save()
        events.room_audience_changed(room_id=room.pk)
        events.room_event_send(
            room_id=room.pk,
            seq=_seq_next(room),
            type="room.speaker_added",
            data={"user": user_card(user), "role": actor.role, "muted": actor.muted},
        )
        if had_hand:
            events.room_event_send(
                room_id=room.pk,
                seq=_seq_next(room),
                type="room.hands_changed",
                data={"count": _hands_count(room)},
            )
    return actor


def room_speaker_invite_decline(*, user: User, room_id: int) -> RoomParticipant:
    user_require_member(user)
    with transaction.atomic():
        room = _room_lock_live(room_id)
        actor = _actor(room, user)
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
    _to_audience(participant)
    participant.save(update_fields=["role", "stage_since", "muted"])
    events.room_audience_changed(room_id=room.pk)
    events.room_event_send(
        room_id=room.pk,
        seq=_seq_next(room),
        type="room.speaker_removed",
        data={"user_id": participant.user_id, "reason": reason, "by": by.pk if by else None},
    )


def room_speaker_move_to_audience(*, user: User, room_id: int, target_id: int) -> RoomParticipant:
    user_require_member(user)
    with transaction.atomic():
        room = _room_lock_live(room_id)
        _require_moderator(_actor(room, user))
        target = _target(room, target_id)
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
        room = _room_lock_live(room_id)
        actor = _actor(room, user)
        if not actor.on_stage:
            return actor
        if actor.role == Role.MODERATOR and _moderator_ids(room) == [user.pk]:
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
    events.room_event_send(
        room_id=room.pk,
        seq=_seq_next(room),
        type="room.speaker_muted" if muted else "room.speaker_unmuted",
        data={"user_id": participant.user_id, "muted": muted, "by": by.pk},
    )


def room_speaker_mute(*, user: User, room_id: int, target_id: int) -> RoomParticipant:
    """A moderator mutes someone on stage. Only the speaker can unmute themselves."""
    user_require_member(user)
    with transaction.atomic():
        room = _room_lock_live(room_id)
        _require_moderator(_actor(room, user))
        target = _target(room, target_id)
        if not target.on_stage:
            raise Conflict("They are not on stage.", code="not_on_stage")
        if not target.muted:
            _mute_set(room, target, muted=True, by=user)
    return target


def _self_mute_set(user: User, room_id: int, *, muted: bool) -> RoomParticipant:
    user_require_member(user)
    with transaction.atomic():
        room = _room_lock_live(room_id)
        actor = _actor(room, user)
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
        room = _room_lock_live(room_id)
        _require_moderator(_actor(room, user))
        target = _target(room, target_id)
        if target.role == Role.MODERATOR:
            return target
        if target.role != Role.SPEAKER:
            raise Conflict("Invite them to speak first.", code="not_on_stage")
        target.role = Role.MODERATOR
        target.save(update_fields=["role"])
        events.room_event_send(
            room_id=room.pk,
            seq=_seq_next(room),
            type="room.moderator_added",
            data={"user": user_card(target.user), "by": user.pk, "reason": "made_moderator"},
        )
    return target


def room_moderator_remove(*, user: User, room_id: int, target_id: int) -> RoomParticipant:
    """A moderator becomes a plain speaker (themselves too, unless they are the last one)."""
    user_require_member(user)
    with transaction.atomic():
        room = _room_lock_live(room_id)
        _require_moderator(_actor(room, user))
        target = _target(room, target_id)
        if target.role != Role.MODERATOR:
            return target
        if _moderator_ids(room) == [target.user_id]:
            raise Conflict(
                "A room needs a moderator: make someone else a moderator first.",
                code="last_moderator",
            )
        target.role = Role.SPEAKER
        target.save(update_fields=["role"])
        events.room_event_send(
            room_id=room.pk,
            seq=_seq_next(room),
            type="room.moderator_removed",
            data={"user_id": target.user_id, "by": user.pk},
        )
    return target


# --- removal, invites, pings --------------------------------------------------------------
def room_user_remove(*, user: User, room_id: int, target_id: int) -> RoomRemoval:
    """A moderator removes someone: they leave now and can never rejoin this room."""
    user_require_member(user)
    with transaction.atomic():
        room = _room_lock_live(room_id)
        _require_moderator(_actor(room, user))
        if target_id == user.pk:
            raise Conflict("You cannot remove yourself; leave instead.", code="cannot_remove_self")
        existing = RoomRemoval.objects.filter(room=room, user_id=target_id).first()
        if existing is not None:
            return existing
        target_user = User.objects.filter(pk=target_id).first()
        if target_user is None:
            raise NotFound("No such person.", code="user_not_found")
        target = _participant(room, target_user)
        if target is not None and target.role == Role.MODERATOR:
            raise Conflict("Remove their moderator role first.", code="cannot_remove_moderator")
        removal = RoomRemoval.objects.create(room=room, user=target_user, removed_by=user)
        RoomInvite.objects.filter(room=room, user=target_user).delete()
        if target is not None:
            target.delete()
            if target.on_stage:
                pass  # the room.user_removed event below tells clients they left the stage
            else:
                events.room_audience_changed(room_id=room.pk)
        events.room_event_send(
            room_id=room.pk,
            seq=_seq_next(room),
            type="room.user_removed",
            data={
                "user_id": target_id,
                "by": user.pk,
                "was_on_stage": bool(target and target.on_stage),
            },
        )
        if target is not None and target.hand_raised_at is not None:
            events.room_event_send(
                room_id=room.pk,
                seq=_seq_next(room),
                type="room.hands_changed",
                data={"count": _hands_count(room)},
            )
        events.user_event_send(user_id=target_id, room_id=room.pk, type="room.removed", data={})
    return removal


def room_ping(*, user: User, room_id: int, target_id: int) -> RoomInvite:
    """Invite a person into the room (a notification and a personal push). In a closed room only
    moderators may invite, and the invitation is what lets the person in."""
    user_require_member(user)
    with transaction.atomic():
        room = _room_lock_live(room_id)
        actor = _actor(room, user)
        if room.type == Room.Type.CLOSED:
            _require_moderator(actor)
        if target_id == user.pk:
            raise Conflict("You are already here.", code="cannot_ping_self")
        target = User.objects.filter(pk=target_id).first()
        if target is None or not target.is_member:
            raise NotFound("No such member.", code="user_not_found")
        if (
            Block.objects.filter(blocker=target, blocked=user).exists()
            or Block.objects.filter(blocker=user, blocked=target).exists()
        ):
            raise PermissionDenied("You cannot invite this person.", code="blocked")
        if RoomRemoval.objects.filter(room=room, user=target).exists():
            raise Conflict("They were removed from this room.", code="target_removed")
        kind = RoomInvite.Kind.INVITE if room.type == Room.Type.CLOSED else RoomInvite.Kind.PING
        invite, created = RoomInvite.objects.get_or_create(
            room=room, user=target, defaults={"invited_by": user, "kind": kind}
        )
        if created:
            notification_create(
                recipient=target,
                kind=Notification.Kind.ROOM_INVITE
                if kind == RoomInvite.Kind.INVITE
                else Notification.Kind.ROOM_PING,
                actor=user,
                data={"room_id": room.pk, "title": room.title, "share_token": room.share_token},
            )
            events.user_event_send(
                user_id=target.pk,
                room_id=room.pk,
                type="room.pinged",
                data={"by": user_card(user), "title": room.title, "kind": kind},
            )
    return invite
