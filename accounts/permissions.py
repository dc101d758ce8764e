"""Who may do what, for every app: waitlisted people are logged in but are not members yet."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission

from clubhouse.errors import NotAuthenticated, PermissionDenied


class Waitlisted(PermissionDenied):
    code = "waitlisted"
    default_message = "You are on the waitlist: a member needs to let you in first."


def user_require_member(user: Any) -> None:
    """Raise the right error unless `user` is an active member (use in services and consumers)."""
    if user is None or not user.is_authenticated:
        raise NotAuthenticated()
    if not user.is_active:
        raise PermissionDenied("This account is disabled.", code="account_disabled")
    if not user.is_member:
        raise Waitlisted()


class IsMember(BasePermission):
    """DRF permission for member-only endpoints; errors carry the stable codes above."""

    def has_permission(self, request: Any, view: Any) -> bool:
        user_require_member(request.user)
        return True
