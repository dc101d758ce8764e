"""Who may do what, for every app: waitlisted people are logged in but are not members yet."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission

from accounts.models import User
from accounts.selectors import user_email_verified
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


def user_require_member_now(user: Any) -> None:
    """`user_require_member` against the database rather than the object, for connections that
    outlive a request (the room socket), whose user was loaded when they opened: a ban commits
    while they stay open. One primary-key query; refreshes the object's `is_active` and
    `status`. A deleted account counts as disabled."""
    if user is None or not user.is_authenticated:
        raise NotAuthenticated()
    fresh = User.objects.filter(pk=user.pk).values_list("is_active", "status").first()
    user.is_active, user.status = fresh if fresh is not None else (False, user.status)
    user_require_member(user)


class EmailUnverified(PermissionDenied):
    code = "email_unverified"
    default_message = (
        "Confirm your e-mail address first: open the link we mailed you "
        "(your account page can send it again)."
    )


def user_require_verified_email(user: Any) -> None:
    """Raise `email_unverified` unless `user` confirmed their account's address."""
    if not user_email_verified(user):
        raise EmailUnverified()


def user_require_verified_member(user: Any) -> None:
    """A member whose address is confirmed: who may invite, let in and send money."""
    user_require_member(user)
    user_require_verified_email(user)


class IsMember(BasePermission):
    """DRF permission for member-only endpoints; errors carry the stable codes above."""

    def has_permission(self, request: Any, view: Any) -> bool:
        user_require_member(request.user)
        return True


class IsVerifiedMember(BasePermission):
    """`IsMember`, and the member's e-mail address is confirmed (`email_unverified`)."""

    def has_permission(self, request: Any, view: Any) -> bool:
        user_require_verified_member(request.user)
        return True
