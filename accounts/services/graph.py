"""The social graph: follows, blocks, reports and bans."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts import events
from accounts.models import (
    AccountEvent,
    Block,
    Follow,
    Notification,
    Report,
    User,
    WaitlistVouch,
)
from accounts.selectors import user_is_blocked_between
from accounts.services.notifications import notification_create
from accounts.services.quota import invitation_quota_award_for_active_invitee
from clubhouse.errors import Conflict, InvalidInput, NotFound, PermissionDenied


def user_follow(*, follower: User, followee: User) -> Follow:
    """Idempotent: following someone you already follow returns the existing follow."""
    if follower.pk == followee.pk:
        raise InvalidInput("You cannot follow yourself.", code="cannot_follow_self")
    if not followee.is_member:
        raise NotFound("No such person.", code="user_not_found")
    with transaction.atomic():
        if user_is_blocked_between(follower, followee):
            raise PermissionDenied("You cannot follow this person.", code="blocked")
        follow, created = Follow.objects.get_or_create(follower=follower, followee=followee)
        if created:
            notification_create(recipient=followee, kind=Notification.Kind.FOLLOWED, actor=follower)
            invitation_quota_award_for_active_invitee(follower)
        return follow


def user_follow_seed(*, follower: User, followee: User) -> Follow:
    """Seed data's follow (`manage.py demo_data`): the follow exists afterwards, and nobody is
    notified or rewarded, because no person did it. Idempotent."""
    with transaction.atomic():
        return Follow.objects.get_or_create(follower=follower, followee=followee)[0]


def user_unfollow(*, follower: User, followee: User) -> None:
    """Idempotent: unfollowing someone you do not follow does nothing."""
    with transaction.atomic():
        Follow.objects.filter(follower=follower, followee=followee).delete()


def user_block(*, blocker: User, blocked: User) -> Block:
    """Idempotent. Blocking removes follows both ways and pending vouches between the two;
    after commit, other apps hear of a new block (`accounts.events.USER_BLOCKED_HOOKS`: rooms
    takes the blocked person out of the live rooms the blocker moderates)."""
    if blocker.pk == blocked.pk:
        raise InvalidInput("You cannot block yourself.", code="cannot_block_self")
    with transaction.atomic():
        block, created = Block.objects.get_or_create(blocker=blocker, blocked=blocked)
        if created:
            events.user_blocked_on_commit(blocker_id=blocker.pk, blocked_id=blocked.pk)
        Follow.objects.filter(follower=blocker, followee=blocked).delete()
        Follow.objects.filter(follower=blocked, followee=blocker).delete()
        WaitlistVouch.objects.filter(requester=blocked, member=blocker).delete()
        WaitlistVouch.objects.filter(requester=blocker, member=blocked).delete()
        return block


def user_unblock(*, blocker: User, blocked: User) -> None:
    with transaction.atomic():
        Block.objects.filter(blocker=blocker, blocked=blocked).delete()


def report_create(*, reporter: User, reported: User, reason: str, text: str = "") -> Report:
    if reporter.pk == reported.pk:
        raise InvalidInput("You cannot report yourself.", code="cannot_report_self")
    if reason not in Report.Reason.values:
        raise InvalidInput(fields={"reason": [f"“{reason}” is not a valid choice."]})
    with transaction.atomic():
        return Report.objects.create(
            reporter=reporter, reported=reported, reason=reason, text=text.strip()
        )


def report_resolve(*, report: Report, staff: User, resolution: str = "") -> Report:
    """OPEN → RESOLVED; resolving a resolved report changes nothing."""
    with transaction.atomic():
        report = Report.objects.select_for_update().get(pk=report.pk)
        if report.status == Report.Status.RESOLVED:
            return report
        report.status = Report.Status.RESOLVED
        report.resolved_by = staff
        report.resolved_at = timezone.now()
        report.resolution = resolution[:500]
        report.save(update_fields=["status", "resolved_by", "resolved_at", "resolution"])
        return report


def user_ban(*, user: User, staff: User, reason: str = "banned") -> User:
    """Disable the account and resolve every open report about it.

    It can no longer log in; sessions and app tokens stop working because authentication
    refuses inactive users. Sockets already open are closed after commit, on every web process,
    and the person leaves every room (`accounts.events.ACCOUNT_DISABLED_HOOKS`, rooms' hook).
    Banning a banned account changes nothing and tells nobody."""
    if user.is_staff:
        raise Conflict("Staff accounts cannot be banned here.", code="cannot_ban_staff")
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if user.is_active:
            user.is_active = False
            user.save(update_fields=["is_active"])
            AccountEvent.objects.create(
                user=user, kind=AccountEvent.Kind.BANNED, actor=staff, data={"reason": reason}
            )
            events.account_disabled_on_commit(user_id=user.pk)
        for report in Report.objects.filter(reported=user, status=Report.Status.OPEN):
            report_resolve(report=report, staff=staff, resolution=reason)
        return user
