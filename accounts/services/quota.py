"""Invitation quotas: the atomic spend, refunds, and the idempotent award ledger."""

from __future__ import annotations

import uuid

from django.db import IntegrityError, transaction
from django.db.models import F

from accounts import conf
from accounts.models import (
    Follow,
    InvitationQuotaAward,
    User,
)
from clubhouse.errors import Conflict, InvalidInput


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


def invitation_quota_refund(*, user: User) -> None:
    User.objects.filter(pk=user.pk).update(invitation_quota=F("invitation_quota") + 1)


def invitation_quota_award(
    *, user: User, reason_key: str, amount: int, granted_by: User | None = None, note: str = ""
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
                    user=user,
                    reason_key=reason_key,
                    amount=amount,
                    granted_by=granted_by,
                    note=note[:500],
                )
        except IntegrityError:
            return False  # already awarded for this reason
        User.objects.filter(pk=user.pk).update(invitation_quota=F("invitation_quota") + amount)
        return True


def invitation_quota_grant(
    *, user: User, amount: int, staff: User, reason: str = ""
) -> InvitationQuotaAward:
    """Staff hand out extra invitations (each grant is its own ledger entry, with their
    reason for the staff audit)."""
    key = f"staff_grant:{uuid.uuid4().hex}"
    invitation_quota_award(user=user, reason_key=key, amount=amount, granted_by=staff, note=reason)
    return InvitationQuotaAward.objects.get(user=user, reason_key=key)


def invitation_quota_award_for_active_invitee(invitee: User) -> None:
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
