"""Invitations: single-use, expiring links (PENDING → ACCEPTED | REVOKED)."""

from __future__ import annotations

import secrets

from django.db import transaction
from django.utils import timezone

from accounts import conf
from accounts.models import (
    AccountEvent,
    Invitation,
    Notification,
    User,
)
from accounts.permissions import user_require_verified_email, user_require_verified_member
from accounts.selectors import invitation_token_hash
from accounts.services.membership import user_membership_start
from accounts.services.notifications import notification_create
from accounts.services.quota import invitation_quota_refund, invitation_quota_spend
from accounts.tasks import invitation_email_send
from clubhouse.errors import ApplicationError, Conflict, InvalidInput, NotFound
from clubhouse.ratelimit import rate_limit_hit


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
    token (shown once, mailed on commit; only its hash is stored). The same for any address,
    a member's included; counted against `INVITATION_DAILY_LIMIT` per inviter per day."""
    user_require_verified_member(inviter)
    email, phone = email.strip().lower(), phone.strip()
    if not email and not phone:
        raise InvalidInput(
            "Give an e-mail address or a phone number.",
            fields={"email": ["Give an e-mail address or a phone number."]},
        )
    # Whether the address is a member's is never answered (the same 201 either way); the mail
    # task skips addresses that cannot use the link or are hidden by a block.
    rate_limit_hit(
        "invitation-create",
        inviter.pk,
        limit=conf.invitation_daily_limit(),
        period_seconds=24 * 3600,
        what="invitations today",
    )
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
            invitation_id = invitation.pk
            transaction.on_commit(lambda: invitation_email_send.delay(invitation_id, token))
    return invitation, token


def invitation_accept(*, token: str, user: User) -> Invitation:
    """PENDING → ACCEPTED: `user` (waitlisted, address confirmed) becomes a member invited by
    the inviter. An unconfirmed address is `email_unverified` and leaves the link usable."""
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
        # Membership follows a confirmed address: the link may have reached someone who signed
        # up with a friend's address before the friend did.
        user_require_verified_email(user)
        invitation.status = Invitation.Status.ACCEPTED
        invitation.accepted_by = user
        invitation.accepted_at = timezone.now()
        invitation.save(update_fields=["status", "accepted_by", "accepted_at"])
        user_membership_start(
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
        invitation_quota_refund(user=invitation.inviter)
        return invitation
