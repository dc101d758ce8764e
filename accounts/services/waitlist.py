"""The waitlist: naming members you know, and the let-in paths."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction

from accounts import conf
from accounts.models import (
    AccountEvent,
    Notification,
    User,
    WaitlistVouch,
)
from accounts.permissions import user_require_verified_email, user_require_verified_member
from accounts.selectors import (
    user_email_verified,
    user_is_blocked_between,
    user_waitlisted_find,
)
from accounts.services.membership import user_membership_start
from accounts.services.notifications import notification_create
from accounts.services.quota import NoInvitationsLeft, invitation_quota_spend
from clubhouse.errors import Conflict, InvalidInput, NotFound
from clubhouse.ratelimit import rate_limit_hit

DAY_SECONDS = 24 * 3600


class InviteeEmailUnverified(Conflict):
    code = "invitee_email_unverified"
    default_message = (
        "They have not confirmed their e-mail address yet; you can let them in once they have."
    )


logger = logging.getLogger(__name__)


def waitlist_vouch_request(*, requester: User, member: User) -> WaitlistVouch:
    """A waitlisted person names a member they know; the member is notified once. Only with a
    confirmed address: the member would be letting in whoever holds it."""
    if requester.status != User.Status.WAITLISTED:
        raise Conflict("You are already a member.", code="already_member")
    if requester.pk == member.pk:
        raise InvalidInput("Name someone else.", code="cannot_vouch_self")
    user_require_verified_email(requester)
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
    Returns True when `target` became a member now. Both addresses must be confirmed: the
    member's (`email_unverified`) and the target's (`invitee_email_unverified`).
    """
    user_require_verified_member(member)
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
        if not user_email_verified(target):
            raise InviteeEmailUnverified()
        invitation_quota_spend(user=member)
        user_membership_start(
            user=target, invited_by=member, how=AccountEvent.Kind.LET_IN_BY_MEMBER, actor=member
        )
        notification_create(
            recipient=target, kind=Notification.Kind.LET_IN, actor=member, data={"by": "member"}
        )
        return True


def waitlist_let_in_named(*, member: User, username: str = "", email: str = "") -> bool:
    """A member lets in the waitlisted person they name by username or e-mail, spending one
    invitation; True when someone was let in now.

    Never an oracle: nobody by that name or address, a member (yourself included), a disabled
    account, anyone blocked either way and someone whose address is unconfirmed all answer
    False alike, with no profile data; and every
    try counts against `WAITLIST_LET_IN_DAILY_LIMIT` per member per day (`rate_limited`).
    """
    user_require_verified_member(member)
    rate_limit_hit(
        "waitlist-let-in",
        member.pk,
        limit=conf.waitlist_let_in_daily_limit(),
        period_seconds=DAY_SECONDS,
        what="let-in tries today",
    )
    # Before the lookup: a refusal that depended on who was named would tell who is waiting.
    if not User.objects.filter(pk=member.pk, invitation_quota__gt=0).exists():
        raise NoInvitationsLeft()
    target = user_waitlisted_find(viewer=member, username=username, email=email)
    if target is None:
        return False
    try:
        return waitlist_let_in(member=member, target=target)
    except (NotFound, InviteeEmailUnverified):
        # Disabled or blocked since the lookup, or an unconfirmed address (which may be
        # squatted): the same answer as nobody found.
        return False


def waitlist_let_in_by_staff(*, staff: User, users: Iterable[User], reason: str = "") -> int:
    """Staff let people in from admin, in bulk; no quota is spent; `reason` is kept on each
    one's account event (the staff audit). Returns how many joined (people whose address is
    not confirmed yet are skipped)."""
    joined = 0
    with transaction.atomic():
        ids = [user.pk for user in users]
        for target in User.objects.select_for_update().filter(pk__in=ids).order_by("pk"):
            if target.status == User.Status.MEMBER or not target.is_active:
                continue
            if not user_email_verified(target):  # an unconfirmed address may be squatted
                continue
            user_membership_start(
                user=target,
                invited_by=None,
                how=AccountEvent.Kind.LET_IN_BY_STAFF,
                actor=staff,
                data={"reason": reason} if reason else None,
            )
            notification_create(
                recipient=target, kind=Notification.Kind.LET_IN, data={"by": "staff"}
            )
            joined += 1
    logger.info("staff %s let in %d people from the waitlist", staff.pk, joined)
    return joined
