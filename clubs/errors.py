"""The clubs' error codes: stable strings clients can switch on (see docs/clubs.md)."""

from __future__ import annotations

from clubhouse.errors import Conflict, NotFound, PermissionDenied


class ClubNotFound(NotFound):
    code = "club_not_found"
    default_message = "No such club."


class ClubForbidden(PermissionDenied):
    """Raised with one of the codes below; the message says which role is missing."""

    code = "club_forbidden"


class ClubConflict(Conflict):
    code = "club_conflict"


def admin_required() -> ClubForbidden:
    return ClubForbidden("Only a club admin can do this.", code="club_admin_required")


def leader_required() -> ClubForbidden:
    return ClubForbidden("Only a club leader or admin can do this.", code="club_leader_required")


def member_required() -> ClubForbidden:
    return ClubForbidden("Only members of this club can do this.", code="club_member_required")


def blocked() -> ClubForbidden:
    return ClubForbidden("You cannot interact with this club.", code="club_blocked")
