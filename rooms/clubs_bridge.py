"""The one place rooms asks the clubs app who may do what in a club's rooms."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet

from clubhouse.errors import ApplicationError, PermissionDenied
from clubs import selectors as club_selectors

if TYPE_CHECKING:
    from clubs.models import Club

_DENIALS = {
    "club_blocked": "A club admin has blocked you, or you blocked them.",
    "club_members_only": "This room is for club members only.",
    "club_premium_required": "This room is for the club's premium members.",
}


def club_entry_denial(user: Any, club: Club, *, members_only: bool) -> ApplicationError | None:
    """Why `user` may not enter a room of `club`, or None."""
    code = club_selectors.club_room_access(user=user, club=club, members_only=members_only)
    if code is None:
        return None
    return PermissionDenied(_DENIALS.get(code, "You may not enter this club's rooms."), code=code)


def club_require_manager(user: Any, club: Club, *, for_what: str) -> None:
    """Only a club's leaders and admins start its rooms and schedule its events."""
    allowed = (
        club_selectors.club_can_start_room(user=user, club=club)
        if for_what == "room"
        else club_selectors.club_can_schedule_event(user=user, club=club)
    )
    if not allowed:
        raise PermissionDenied(
            "Only the club's leaders and admins can do this.", code="club_leader_required"
        )


# The three below are lazy subqueries of club ids: lists filter with them in one SQL query.
def user_club_ids(user: Any) -> QuerySet[Any]:
    """Clubs the user is a member of or follows (their hallway and "upcoming" rank these)."""
    return club_selectors.club_ids_for_user_query(user)


def user_members_only_club_ids(user: Any) -> QuerySet[Any]:
    """Clubs whose members-only rooms the user may enter."""
    return club_selectors.club_ids_with_members_only_access(user)


def user_blocked_club_ids(user: Any) -> QuerySet[Any]:
    """Clubs whose rooms the user may not enter at all (blocks with a club admin)."""
    return club_selectors.club_ids_blocked_for(user)
