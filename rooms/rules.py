"""Who may enter a room: the read-only rules shared by services (join) and selectors
(snapshot, hallway, search). Each returns the error to raise, or None when allowed."""

from __future__ import annotations

from typing import Any

from accounts.selectors import user_blocked_by_any, user_followed_by_any
from clubhouse.errors import ApplicationError, Conflict, PermissionDenied
from rooms import clubs_bridge
from rooms.models import Room, RoomInvite, RoomParticipant, RoomRemoval


def removed_error() -> ApplicationError:
    return PermissionDenied("You were removed from this room.", code="removed_from_room")


def room_ended_error() -> ApplicationError:
    return Conflict("This room has ended.", code="room_ended")


def room_entry_denial(room: Room, user: Any) -> ApplicationError | None:
    """Why `user` (a member, not yet in the room) may not enter `room`, ignoring capacity."""
    if not room.is_live:
        return room_ended_error()
    if RoomRemoval.objects.filter(room=room, user=user).exists():
        return removed_error()
    stage = RoomParticipant.objects.filter(room=room, role__in=RoomParticipant.STAGE_ROLES)
    moderator_ids = stage.filter(role=RoomParticipant.Role.MODERATOR).values("user_id")
    if user_blocked_by_any(user, blocker_ids=moderator_ids):
        return PermissionDenied(
            "A moderator of this room has blocked you.", code="blocked_by_moderator"
        )
    invited = (
        room.created_by_id == user.pk or RoomInvite.objects.filter(room=room, user=user).exists()
    )
    if room.type == Room.Type.CLOSED and not invited:
        return PermissionDenied(
            "This is a closed room: only invited people may join.", code="closed_room_invite_only"
        )
    if (
        room.type == Room.Type.SOCIAL
        and not invited
        and not user_followed_by_any(user, follower_ids=stage.values("user_id"))
    ):
        return PermissionDenied(
            "This social room is open to people followed by a speaker.",
            code="social_room_not_followed",
        )
    if room.club_id is not None and room.club is not None:
        return clubs_bridge.club_entry_denial(user, room.club, members_only=room.members_only)
    return None
