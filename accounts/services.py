"""Every write about people. Services own their transactions; side effects leave on commit."""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts import conf
from accounts.models import (
    AccountEvent,
    Block,
    Follow,
    Invitation,
    InvitationQuotaAward,
    Notification,
    Report,
    Topic,
    User,
    WaitlistVouch,
)
from accounts.selectors import invitation_token_hash, user_is_blocked_between
from accounts.validators import validate_avatar, validate_links
from clubhouse.errors import ApplicationError, Conflict, InvalidInput, NotFound, PermissionDenied

logger = logging.getLogger(__name__)


# --- notifications -----------------------------------------------------------------------
def notification_create(
    *, recipient: User, kind: str, actor: User | None = None, data: dict[str, Any] | None = None
) -> Notification:
    """Other apps notify people through this (room invites, pings, reminders, money)."""
    with transaction.atomic():
        return Notification.objects.create(
            recipient=recipient, kind=kind, actor=actor, data=data or {}
        )


def notification_mark_read(*, user: User, notification_id: int) -> Notification:
    """Idempotent: marking a read notification again keeps its first read time."""
    with transaction.atomic():
        notification = Notification.objects.filter(pk=notification_id, recipient=user).first()
        if notification is None:
            raise NotFound("No such notification.", code="notification_not_found")
        if notification.read_at is None:
            notification.read_at = timezone.now()
            notification.save(update_fields=["read_at"])
        return notification


def notification_mark_all_read(*, user: User) -> int:
    with transaction.atomic():
        return Notification.objects.filter(recipient=user, read_at__isnull=True).update(
            read_at=timezone.now()
        )


# --- profiles ----------------------------------------------------------------------------
PROFILE_FIELDS = ("display_name", "bio", "links", "topics", "avatar")


def user_profile_update(*, user: User, data: dict[str, Any]) -> User:
    """Update the given profile fields (any subset of PROFILE_FIELDS). `topics` is a list of
    topic slugs; `avatar` a file (validated again here) or None to remove it."""
    errors: dict[str, list[str]] = {}
    unknown = set(data) - set(PROFILE_FIELDS)
    if unknown:
        raise InvalidInput(fields={name: ["Not a profile field."] for name in sorted(unknown)})
    topics: list[Topic] | None = None
    if "links" in data:
        try:
            data["links"] = validate_links(data["links"])
        except ValidationError as exc:
            errors["links"] = exc.messages
    if data.get("avatar"):
        try:
            validate_avatar(data["avatar"])
        except ValidationError as exc:
            errors["avatar"] = exc.messages
    if "topics" in data:
        slugs = list(dict.fromkeys(data["topics"]))
        topics = list(Topic.objects.filter(slug__in=slugs))
        missing = sorted(set(slugs) - {t.slug for t in topics})
        if missing:
            errors["topics"] = [f"Unknown topic: {slug}." for slug in missing]
    if errors:
        raise InvalidInput(fields=errors)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        changed: list[str] = []
        for name in ("display_name", "bio", "links"):
            if name in data:
                setattr(user, name, data[name])
                changed.append(name)
        if "avatar" in data:
            old = user.avatar.name if user.avatar else ""
            if data["avatar"]:
                user.avatar.save(data["avatar"].name, data["avatar"], save=False)
            else:
                user.avatar = None
            changed.append("avatar")
            if old:
                storage = user.avatar.storage
                transaction.on_commit(lambda: storage.delete(old))
        if changed:
            user.save(update_fields=changed)
        if topics is not None:
            user.topics.set(topics)
        return user


# --- social graph ------------------------------------------------------------------------
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
            _invitation_award_for_active_invitee(follower)
        return follow


def user_unfollow(*, follower: User, followee: User) -> None:
    """Idempotent: unfollowing someone you do not follow does nothing."""
    with transaction.atomic():
        Follow.objects.filter(follower=follower, followee=followee).delete()


def user_block(*, blocker: User, blocked: User) -> Block:
    """Idempotent. Blocking removes follows both ways and pending vouches between the two."""
    if blocker.pk == blocked.pk:
        raise InvalidInput("You cannot block yourself.", code="cannot_block_self")
    with transaction.atomic():
        block, _ = Block.objects.get_or_create(blocker=blocker, blocked=blocked)
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
        report.resolution = resolution[:255]
        report.save(update_fields=["status", "resolved_by", "resolved_at", "resolution"])
        return report


def user_ban(*, user: User, staff: User, reason: str = "banned") -> User:
    """Disable the account (it can no longer log in; sessions and app tokens stop working
    because authentication refuses inactive users) and resolve every open report about it."""
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
        for report in Report.objects.filter(reported=user, status=Report.Status.OPEN):
            report_resolve(report=report, staff=staff, resolution=reason)
        return user


# --- invitation quota ----------------------------------------------------------------------
class NoInvitationsLeft(Conflict):
    code = "no_invitations_left"
    default_message = "You have no invitations left."


def invitation_quota_spend(*, user: User) -> None:
    """Take one invitation from `user`'s quota or raise `no_invitations_left`.

    One conditional UPDATE, so two concurrent spends can never overdraw: the second waits for
    the first's row lock and then re-checks `quota > 0` against the committed value (and the
    CHECK constraint `invitation_quota >= 0` backs this up). Call inside the caller's
    transaction so a later failure gives the invitation back.
    """
    spent = User.objects.filter(pk=user.pk, invitation_quota__gt=0).update(
        invitation_quota=F("invitation_quota") - 1
    )
    if not spent:
        raise NoInvitationsLeft()


def _quota_refund(*, user: User) -> None:
    User.objects.filter(pk=user.pk).update(invitation_quota=F("invitation_quota") + 1)


def invitation_quota_award(
    *, user: User, reason_key: str, amount: int, granted_by: User | None = None
) -> bool:
    """Add `amount` invitations to `user`'s quota once per `(user, reason_key)`.

    The contract for other apps: pick a reason key that names what is being rewarded
    (e.g. ``"club_founded:42"``) and call this as often as you like; only the first call pays.
    Returns True when it paid.
    """
    if amount <= 0:
        raise InvalidInput(fields={"amount": ["Must be a positive number."]})
    with transaction.atomic():
        try:
            with transaction.atomic():
                InvitationQuotaAward.objects.create(
                    user=user, reason_key=reason_key, amount=amount, granted_by=granted_by
                )
        except IntegrityError:
            return False  # already awarded for this reason
        User.objects.filter(pk=user.pk).update(invitation_quota=F("invitation_quota") + amount)
        return True


def invitation_quota_grant(*, user: User, amount: int, staff: User) -> InvitationQuotaAward:
    """Staff hand out extra invitations (each grant is its own ledger entry)."""
    key = f"staff_grant:{uuid.uuid4().hex}"
    invitation_quota_award(user=user, reason_key=key, amount=amount, granted_by=staff)
    return InvitationQuotaAward.objects.get(user=user, reason_key=key)


def _invitation_award_for_active_invitee(invitee: User) -> None:
    """The activity rule (docs/accounts.md): once someone you brought in follows
    `INVITATION_ACTIVITY_FOLLOWS` people, you earn `INVITATION_ACTIVITY_AWARD` invitation(s),
    once per invitee."""
    if not invitee.invited_by_id:
        return
    if Follow.objects.filter(follower=invitee).count() < conf.invitation_activity_follows():
        return
    inviter = User.objects.filter(pk=invitee.invited_by_id, is_active=True).first()
    if inviter is not None:
        invitation_quota_award(
            user=inviter,
            reason_key=f"invitee_active:{invitee.pk}",
            amount=conf.invitation_activity_award(),
        )


# --- invitations -----------------------------------------------------------------------------
class InvitationInvalid(NotFound):
    code = "invitation_invalid"
    default_message = "This invitation link is not valid. Check that you copied all of it."


class InvitationExpired(ApplicationError):
    code = "invitation_expired"
    status = 410
    default_message = "This invitation has expired. Ask for a new one."


class InvitationUsed(Conflict):
    code = "invitation_used"
    default_message = "This invitation has already been used."


class InvitationRevoked(ApplicationError):
    code = "invitation_revoked"
    status = 410
    default_message = "This invitation was withdrawn by the person who sent it."


def invitation_check(invitation: Invitation | None) -> Invitation:
    """Raise the error that says why `invitation` cannot be accepted (None = forged)."""
    if invitation is None:
        raise InvitationInvalid()
    if invitation.status == Invitation.Status.REVOKED:
        raise InvitationRevoked()
    if invitation.status == Invitation.Status.ACCEPTED:
        raise InvitationUsed()
    if invitation.is_expired:
        raise InvitationExpired()
    return invitation


def invitation_create(*, inviter: User, email: str = "", phone: str = "") -> tuple[Invitation, str]:
    """Spend one invitation and create a single-use link. Returns the invitation and the raw
    token (shown once, mailed on commit; only its hash is stored)."""
    from accounts.permissions import user_require_member

    user_require_member(inviter)
    email, phone = email.strip().lower(), phone.strip()
    if not email and not phone:
        raise InvalidInput(
            "Give an e-mail address or a phone number.",
            fields={"email": ["Give an e-mail address or a phone number."]},
        )
    if email and User.objects.filter(email__iexact=email, status=User.Status.MEMBER).exists():
        raise Conflict("That person is already a member.", code="already_member")
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        pending = Invitation.objects.filter(
            inviter=inviter, status=Invitation.Status.PENDING, expires_at__gt=timezone.now()
        )
        if (email and pending.filter(email=email).exists()) or (
            phone and pending.filter(phone=phone).exists()
        ):
            raise Conflict("You already invited this person.", code="already_invited")
        invitation_quota_spend(user=inviter)
        invitation = Invitation.objects.create(
            inviter=inviter,
            email=email,
            phone=phone,
            token_hash=invitation_token_hash(token),
            expires_at=timezone.now() + conf.invitation_lifetime(),
        )
        if email:
            from accounts.tasks import invitation_email_send

            invitation_id = invitation.pk
            transaction.on_commit(lambda: invitation_email_send.delay(invitation_id, token))
    return invitation, token


def invitation_accept(*, token: str, user: User) -> Invitation:
    """PENDING → ACCEPTED: `user` (waitlisted) becomes a member invited by the inviter."""
    with transaction.atomic():
        hashed = invitation_token_hash(token) if token else ""
        invitation = (
            Invitation.objects.select_for_update().filter(token_hash=hashed).first()
            if hashed and len(token) <= 200
            else None
        )
        invitation_check(invitation)
        assert invitation is not None
        user = User.objects.select_for_update().get(pk=user.pk)
        if user.status == User.Status.MEMBER:
            raise Conflict(
                "You are already a member; pass the invitation on to someone else.",
                code="already_member",
            )
        if user.pk == invitation.inviter_id:
            raise Conflict("You cannot accept your own invitation.", code="invitation_own")
        invitation.status = Invitation.Status.ACCEPTED
        invitation.accepted_by = user
        invitation.accepted_at = timezone.now()
        invitation.save(update_fields=["status", "accepted_by", "accepted_at"])
        _user_make_member(
            user=user,
            invited_by=invitation.inviter,
            how=AccountEvent.Kind.JOINED_BY_INVITATION,
            actor=invitation.inviter,
            data={"invitation_id": invitation.pk},
        )
        notification_create(
            recipient=invitation.inviter,
            kind=Notification.Kind.INVITATION_ACCEPTED,
            actor=user,
            data={"invitation_id": invitation.pk},
        )
        return invitation


def invitation_revoke(*, invitation: Invitation, by: User) -> Invitation:
    """PENDING (expired or not) → REVOKED, giving the invitation back to the inviter.
    Revoking a revoked invitation changes nothing; an accepted one cannot be revoked."""
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if invitation.inviter_id != by.pk and not by.is_staff:
            raise NotFound("No such invitation.", code="invitation_not_found")
        if invitation.status == Invitation.Status.REVOKED:
            return invitation
        if invitation.status == Invitation.Status.ACCEPTED:
            raise InvitationUsed("This invitation was already accepted.")
        invitation.status = Invitation.Status.REVOKED
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["status", "revoked_at"])
        _quota_refund(user=invitation.inviter)
        return invitation


# --- waitlist --------------------------------------------------------------------------------
def _user_make_member(
    *,
    user: User,
    invited_by: User | None,
    how: str,
    actor: User | None,
    data: dict[str, Any] | None = None,
) -> None:
    """Caller holds the lock on `user` and has checked they are waitlisted."""
    AccountEvent.objects.create(user=user, kind=how, actor=actor, data=data or {})
    user.status = User.Status.MEMBER
    user.joined_at = timezone.now()
    if invited_by is not None:
        user.invited_by = invited_by
    user.save(update_fields=["status", "joined_at", "invited_by"])
    WaitlistVouch.objects.filter(requester=user).delete()


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
        _user_make_member(
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
            _user_make_member(
                user=target, invited_by=None, how=AccountEvent.Kind.LET_IN_BY_STAFF, actor=staff
            )
            notification_create(
                recipient=target, kind=Notification.Kind.LET_IN, data={"by": "staff"}
            )
            joined += 1
    logger.info("staff %s let in %d people from the waitlist", staff.pk, joined)
    return joined
