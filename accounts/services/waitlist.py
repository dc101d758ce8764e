"""The waitlist: naming members you know, and the let-in paths."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction

from accounts.models import (
    AccountEvent,
    Notification,
    User,
    WaitlistVouch,
)
from accounts.selectors import user_is_blocked_between
from accounts.services.membership import user_membership_start
from accounts.services.notifications import notification_create
from accounts.services.quota import invitation_quota_spend
from clubhouse.errors import Conflict, InvalidInput, NotFound

logger = logging.getLogger(__name__)


def waitlist_vouch_request(*, requester: User, member: User) -> WaitlistVouch:
    """A waitlisted person names a member they know; the member is notified once."""
    if requester.status != User.Status.WAITLISTED:
        raise Conflict("You are already a member.", code="already_member")
    if requester.pk == member.pk:
        raise InvalidInput("Name someone else.", code="cannot_vouch_self")
    if not member.is_member or user_is_blocked_between(requester, member):
        raise NotFound("No member with that username.", code="user_not_found")
    with transaction.atomic():
        vouch, created = WaitlistVouch.objects.get_or_create(requester=requester, member=member)
        if created:
            notification_create(
                recipient=member,
                kind=Notification.Kind.WAITLIST_VOUCH,
                actor=requester,
                data={"username": requester.username, "vouch_id": vouch.pk},
            )
        return vouch


def waitlist_let_in(*, member: User, target: User) -> bool:
    """A member lets a waitlisted person in, spending one invitation.

    Idempotent: letting in someone who is already a member spends nothing and returns False.
    Returns True when `target` became a member now.
    """
    from accounts.permissions import user_require_member

    user_require_member(member)
    if member.pk == target.pk:
        raise Conflict("You are already a member.", code="already_member")
    with transaction.atomic():
        target = User.objects.select_for_update().get(pk=target.pk)
        if target.status == User.Status.MEMBER:
            return False
        if not target.is_active:
            raise NotFound("Nobody with that username or e-mail.", code="user_not_found")
        if user_is_blocked_between(member, target):
            raise NotFound("Nobody with that username or e-mail.", code="user_not_found")
        invitation_quota_spend(user=member)
        user_membership_start(
            user=target, invited_by=member, how=AccountEvent.Kind.LET_IN_BY_MEMBER, actor=member
        )
        notification_create(
            recipient=target, kind=Notification.Kind.LET_IN, actor=member, data={"by": "member"}
        )
        return True


def waitlist_let_in_by_staff(*, staff: User, users: Iterable[User]) -> int:
    """Staff let people in from admin, in bulk; no quota is spent. Returns how many joined."""
    joined = 0
    with transaction.atomic():
        ids = [user.pk for user in users]
        for target in User.objects.select_for_update().filter(pk__in=ids).order_by("pk"):
            if target.status == User.Status.MEMBER or not target.is_active:
                continue
            user_membership_start(
                user=target, invited_by=None, how=AccountEvent.Kind.LET_IN_BY_STAFF, actor=staff
            )
            notification_create(
                recipient=target, kind=Notification.Kind.LET_IN, data={"by": "staff"}
            )
            joined += 1
    logger.info("staff %s let in %d people from the waitlist", staff.pk, joined)
    return joined
