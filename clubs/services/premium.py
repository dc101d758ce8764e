"""Premium (paid or staff-granted) access to exclusive clubs."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from clubhouse.errors import InvalidInput
from clubs import conf, events
from clubs.errors import ClubConflict, ClubForbidden
from clubs.models import (
    Club,
    PremiumMembership,
)
from clubs.selectors import club_role
from clubs.services._common import (
    Role,
    _audit,
    _lock,
    _members_room_access,
    _premium_lapse_check,
)

if TYPE_CHECKING:
    from accounts.models import User

# --- premium (exclusive clubs) ------------------------------------------------------------


def _locked_premium(club: Club, user: User) -> PremiumMembership | None:
    return PremiumMembership.objects.select_for_update().filter(club=club, user=user).first()


def premium_membership_sync(
    *,
    club: Club,
    user: User,
    status: str,
    period_end: datetime | None,
    provider_subscription_id: str | None,
) -> PremiumMembership:
    """The payouts app's one door: mirror a subscription's current state onto the membership.

    Contract (see docs/clubs.md): pass the subscription's *current* state re-fetched from the
    provider, not an event's snapshot (last write wins). Idempotent: the same arguments twice
    change nothing and write no second audit entry. `past_due` starts a grace period of
    CLUBS_PREMIUM_GRACE_DAYS from the first past-due sync; later past-due syncs keep it.
    A subscription id already linked to another (club, user) is refused with
    `club_premium_subscription_mismatch`. If the user loses access to members-only rooms,
    `clubs.events.on_membership_lost` runs on commit.
    """
    if status not in PremiumMembership.Status.values:
        raise InvalidInput(fields={"status": [f"Unknown premium status {status!r}."]})
    with transaction.atomic():
        club = _lock(club)
        if (
            provider_subscription_id
            and PremiumMembership.objects.filter(provider_subscription_id=provider_subscription_id)
            .exclude(club=club, user=user)
            .exists()
        ):
            raise ClubConflict(
                "That subscription belongs to another membership.",
                code="club_premium_subscription_mismatch",
            )
        had_access = _members_room_access(club, user)
        premium = _locked_premium(club, user) or PremiumMembership(club=club, user=user)
        before = (
            premium.status,
            premium.source,
            premium.current_period_end,
            premium.grace_until,
            premium.provider_subscription_id,
        )
        grace_until = None
        if status == PremiumMembership.Status.PAST_DUE:
            if premium.pk and premium.status == status and premium.grace_until:
                grace_until = premium.grace_until
            else:
                grace_until = timezone.now() + conf.premium_grace()
        premium.status = status
        premium.source = PremiumMembership.Source.SUBSCRIPTION
        premium.current_period_end = period_end
        premium.grace_until = grace_until
        premium.provider_subscription_id = provider_subscription_id or None
        after = (status, premium.source, period_end, grace_until, premium.provider_subscription_id)
        if premium.pk and before == after:
            return premium
        premium.save()
        _audit(
            club,
            None,
            "premium_synced",
            user,
            status=status,
            period_end=period_end.isoformat() if period_end else None,
            subscription=provider_subscription_id,
        )
        _premium_lapse_check(club, user, had_access)
    return premium


def premium_membership_grant(
    *, club: Club, user: User, actor: User, until: datetime | None = None, reason: str = ""
) -> PremiumMembership:
    """Staff comp a premium membership (until a date, or open-ended). A running subscription is
    left alone: refused with `club_premium_is_subscription`."""
    if not actor.is_staff:
        raise ClubForbidden("Only staff can grant premium.", code="club_staff_required")
    with transaction.atomic():
        club = _lock(club)
        premium = _locked_premium(club, user) or PremiumMembership(club=club, user=user)
        if premium.source == PremiumMembership.Source.SUBSCRIPTION and premium.status in (
            PremiumMembership.Status.ACTIVE,
            PremiumMembership.Status.PAST_DUE,
        ):
            raise ClubConflict(
                "This premium membership is a running subscription.",
                code="club_premium_is_subscription",
            )
        premium.status = PremiumMembership.Status.ACTIVE
        premium.source = PremiumMembership.Source.STAFF_GRANT
        premium.current_period_end = until
        premium.grace_until = None
        premium.granted_by = actor
        premium.save()
        _audit(club, actor, "premium_granted", user, until=until.isoformat() if until else None,
               reason=reason)  # fmt: skip
    return premium


def premium_membership_revoke(
    *, premium: PremiumMembership, actor: User, reason: str = ""
) -> PremiumMembership:
    """Staff cancel a granted premium membership. Subscriptions are canceled with the provider
    (payouts), which then syncs here; revoking one is refused."""
    if not actor.is_staff:
        raise ClubForbidden("Only staff can revoke premium.", code="club_staff_required")
    with transaction.atomic():
        club = _lock(premium.club)
        premium = (
            PremiumMembership.objects.select_for_update().select_related("user").get(pk=premium.pk)
        )
        if premium.source == PremiumMembership.Source.SUBSCRIPTION:
            raise ClubConflict(
                "Cancel the subscription instead.", code="club_premium_is_subscription"
            )
        if premium.status == PremiumMembership.Status.CANCELED:
            return premium
        had_access = _members_room_access(club, premium.user)
        premium.status = PremiumMembership.Status.CANCELED
        premium.save(update_fields=["status", "updated"])
        _audit(club, actor, "premium_revoked", premium.user, reason=reason)
        _premium_lapse_check(club, premium.user, had_access)
    return premium


def premium_memberships_expire_due(*, now: datetime | None = None) -> int:
    """Mark memberships past their end (or their grace) expired, so rooms hear about the lapse
    (access itself is already computed from the dates). Run periodically; idempotent."""
    now = now or timezone.now()
    due = PremiumMembership.objects.filter(
        status=PremiumMembership.Status.ACTIVE, current_period_end__lte=now
    ) | PremiumMembership.objects.filter(
        status=PremiumMembership.Status.PAST_DUE, grace_until__lte=now
    )
    expired = 0
    for premium_id in list(due.values_list("pk", flat=True)):
        with transaction.atomic():
            premium = (
                PremiumMembership.objects.select_for_update()
                .select_related("club", "user")
                .get(pk=premium_id)
            )
            active_past_end = (
                premium.status == PremiumMembership.Status.ACTIVE
                and premium.current_period_end is not None
                and premium.current_period_end <= now
            )
            past_grace = (
                premium.status == PremiumMembership.Status.PAST_DUE
                and premium.grace_until is not None
                and premium.grace_until <= now
            )
            if not (active_past_end or past_grace):
                continue
            premium.status = PremiumMembership.Status.EXPIRED
            premium.save(update_fields=["status", "updated"])
            _audit(premium.club, None, "premium_expired", premium.user)
            if premium.club.is_exclusive and club_role(user=premium.user, club=premium.club) == (
                Role.MEMBER
            ):
                events.membership_lost_on_commit(premium.club_id, premium.user_id, "premium_lapsed")
            expired += 1
    return expired
