"""Removing people and inviting (pinging) them in."""

from __future__ import annotations

from django.db import transaction

from accounts.models import Block, Notification, User
from accounts.permissions import user_require_member
from accounts.services import notification_create
from clubhouse.errors import Conflict, NotFound, PermissionDenied
from rooms import events
from rooms.models import Room, RoomInvite, RoomRemoval
from rooms.selectors import user_card
from rooms.services.common import (
    Role,
    actor_get,
    hands_count,
    participant_get,
    require_moderator,
    room_lock_live,
    seq_next,
)


# --- removal, invites, pings --------------------------------------------------------------
def room_user_remove(*, user: User, room_id: int, target_id: int) -> RoomRemoval:
    """A moderator removes someone: they leave now and can never rejoin this room."""
    user_require_member(user)
    with transaction.atomic():
        room = room_lock_live(room_id)
        require_moderator(actor_get(room, user))
        if target_id == user.pk:
            raise Conflict("You cannot remove yourself; leave instead.", code="cannot_remove_self")
        existing = RoomRemoval.objects.filter(room=room, user_id=target_id).first()
        if existing is not None:
            return existing
        target_user = User.objects.filter(pk=target_id).first()
        if target_user is None:
            raise NotFound("No such person.", code="user_not_found")
        target = participant_get(room, target_user)
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
            seq=seq_next(room),
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
                seq=seq_next(room),
                type="room.hands_changed",
                data={"count": hands_count(room)},
            )
        events.user_event_send(user_id=target_id, room_id=room.pk, type="room.removed", data={})
    return removal


def room_ping(*, user: User, room_id: int, target_id: int) -> RoomInvite:
    """Invite a person into the room (a notification and a personal push). In a closed room only
    moderators may invite, and the invitation is what lets the person in."""
    user_require_member(user)
    with transaction.atomic():
        room = room_lock_live(room_id)
        actor = actor_get(room, user)
        if room.type == Room.Type.CLOSED:
            require_moderator(actor)
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
