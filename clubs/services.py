"""Every write about clubs. Services own their transactions and lock what they change; events
leave through `clubs.events` on commit; every decision writes a `ClubAuditEntry`.

Membership-changing services lock the club row first, so "is this the last admin?" and "is
there already a pending nomination?" are answered without races.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import Notification, Topic, User
from accounts.permissions import user_require_member
from accounts.selectors import user_is_blocked_between
from accounts.services import notification_create
from clubhouse.errors import InvalidInput, NotFound
from clubs import conf, errors, events
from clubs.errors import ClubConflict, ClubForbidden
from clubs.models import (
    DECISION_TRANSITIONS,
    Club,
    ClubAuditEntry,
    ClubFollow,
    ClubMembership,
    ClubMembershipRequest,
    ClubNomination,
    ClubReport,
    DecisionStatus,
    PremiumMembership,
    validate_club_photo,
)
from clubs.selectors import club_is_blocked_for, club_role, club_room_access

Role = ClubMembership.Role
MANAGERS = (Role.ADMIN, Role.LEADER)

# Paths under /api/v1/clubs/ that are not club addresses.
RESERVED_SLUGS = frozenset({"mine"})

EDITABLE_FIELDS = (
    "name",
    "description",
    "rules",
    "follow_policy",
    "join_policy",
    "member_list_private",
    "is_exclusive",
)


# --- helpers ------------------------------------------------------------------------------


def _audit(
    club: Club, actor: User | None, action: str, target: User | None = None, **data: Any
) -> None:
    ClubAuditEntry.objects.create(club=club, actor=actor, action=action, target=target, data=data)


def _lock(club: Club) -> Club:
    return Club.objects.select_for_update().get(pk=club.pk)


def _require_role(club: Club, user: User, roles: Collection[str], error: ClubForbidden) -> str:
    """The actor's role if it is one of `roles`. Staff moderate every club (the back office
    calls these services) and count as its admin."""
    role = club_role(user=user, club=club)
    if user.is_staff and user.is_active:
        return Role.ADMIN
    if role is None or role not in roles:
        raise error
    return role


def _members_room_access(club: Club, user: User) -> bool:
    return club_room_access(user=user, club=club, members_only=True) is None


def _notify(user: User, club: Club, actor: User | None, event: str, **data: Any) -> None:
    notification_create(
        recipient=user,
        kind=Notification.Kind.CLUB,
        actor=actor,
        data={"club_id": club.pk, "club_slug": club.slug, "event": event, **data},
    )


def _clean_photo(photo: File | None) -> None:
    if photo is None:
        return
    try:
        validate_club_photo(photo)
    except ValidationError as exc:
        raise ValidationError({"photo": exc.messages}) from exc


def _topics(slugs: Iterable[str]) -> list[Topic]:
    slugs = list(dict.fromkeys(slugs))
    topics = list(Topic.objects.filter(slug__in=slugs))
    unknown = sorted(set(slugs) - {topic.slug for topic in topics})
    if unknown:
        raise InvalidInput("Unknown topics.", code="club_unknown_topic", fields={"topics": unknown})
    return topics


def _unique_slug(name: str) -> str:
    base = slugify(name)[:90] or "club"
    slug, n = base, 1
    while slug in RESERVED_SLUGS or Club.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _add_member(club: Club, user: User, actor: User | None, how: str) -> ClubMembership:
    """Caller holds the club lock. Idempotent: an existing membership is returned unchanged."""
    membership, created = ClubMembership.objects.get_or_create(
        club=club, user=user, defaults={"role": Role.MEMBER}
    )
    if created:
        _audit(club, actor, "member_added", user, how=how)
        if actor is not None and actor != user:
            _notify(user, club, actor, "joined", how=how)
    return membership


# --- clubs --------------------------------------------------------------------------------


def club_create(
    *,
    creator: User,
    name: str,
    slug: str = "",
    description: str = "",
    rules: str = "",
    topics: Iterable[str] = (),
    photo: File | None = None,
    follow_policy: str = Club.FollowPolicy.ANYONE,
    join_policy: str = Club.JoinPolicy.NOMINATION,
    member_list_private: bool = False,
    is_exclusive: bool = False,
) -> Club:
    """Create a club; the creator becomes its first admin."""
    user_require_member(creator)
    _clean_photo(photo)
    with transaction.atomic():
        if slug and (slug in RESERVED_SLUGS or Club.objects.filter(slug=slug).exists()):
            raise InvalidInput(
                "That address is taken.",
                code="club_slug_taken",
                fields={"slug": ["That address is taken."]},
            )
        club = Club.objects.create(
            name=name,
            slug=slug or _unique_slug(name),
            description=description,
            rules=rules,
            follow_policy=follow_policy,
            join_policy=join_policy,
            member_list_private=member_list_private,
            is_exclusive=is_exclusive,
            created_by=creator,
        )
        if photo is not None:
            club.photo.save(photo.name or "photo", photo, save=True)
        club.topics.set(_topics(topics))
        ClubMembership.objects.create(club=club, user=creator, role=Role.ADMIN)
        _audit(club, creator, "club_created", creator)
    return club


def club_update(
    *, club: Club, actor: User, topics: Iterable[str] | None = None, photo: File | None = None,
    **fields: Any,
) -> Club:  # fmt: skip
    """Admins edit the club. `fields` are among EDITABLE_FIELDS; `is_verified` is staff-only."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput(fields={name: ["This field cannot be changed."] for name in unknown})
    _clean_photo(photo)
    with transaction.atomic():
        club = _lock(club)
        _require_role(club, actor, [Role.ADMIN], errors.admin_required())
        becomes_exclusive = fields.get("is_exclusive") is True and not club.is_exclusive
        for name, value in fields.items():
            setattr(club, name, value)
        club.save()
        if becomes_exclusive:
            # Plain members without premium can no longer stay in members-only rooms.
            for user in User.objects.filter(
                club_memberships__club=club, club_memberships__role=Role.MEMBER
            ):
                if not _members_room_access(club, user):
                    events.membership_lost_on_commit(club.pk, user.pk, "premium_required")
        if photo is not None:
            club.photo.save(photo.name or "photo", photo, save=True)
        if topics is not None:
            club.topics.set(_topics(topics))
        changed = sorted(fields) + (["topics"] if topics is not None else [])
        _audit(club, actor, "club_updated", fields=changed + (["photo"] if photo else []))
    return club


def club_delete(*, club: Club, actor: User) -> None:
    with transaction.atomic():
        club = _lock(club)
        _require_role(club, actor, [Role.ADMIN], errors.admin_required())
        for user_id in ClubMembership.objects.filter(club=club).values_list("user_id", flat=True):
            events.membership_lost_on_commit(club.pk, user_id, "club_deleted")
        club.delete()


def club_verify(*, club: Club, actor: User, verified: bool = True) -> Club:
    """The verification badge: staff only (admin action)."""
    if not actor.is_staff:
        raise ClubForbidden("Only staff can verify clubs.", code="club_staff_required")
    with transaction.atomic():
        club = _lock(club)
        if club.is_verified != verified:
            club.is_verified = verified
            club.save(update_fields=["is_verified", "updated"])
            _audit(club, actor, "club_verified" if verified else "club_unverified")
    return club


# --- follows ------------------------------------------------------------------------------


def club_follow(*, club: Club, user: User) -> ClubFollow:
    """Idempotent. Refused when the club takes no followers or an admin block stands between."""
    user_require_member(user)
    if club_is_blocked_for(user=user, club=club):
        raise errors.blocked()
    if club.follow_policy == Club.FollowPolicy.NOBODY:
        raise ClubConflict("This club does not take followers.", code="club_follow_closed")
    follow, _ = ClubFollow.objects.get_or_create(club=club, user=user)
    return follow


def club_unfollow(*, club: Club, user: User) -> None:
    """Idempotent: unfollowing a club you do not follow is a no-op."""
    ClubFollow.objects.filter(club=club, user=user).delete()


# --- joining and leaving ------------------------------------------------------------------


def club_join(*, club: Club, user: User) -> ClubMembership:
    """Join an open club directly. Idempotent for existing members."""
    user_require_member(user)
    with transaction.atomic():
        club = _lock(club)
        existing = ClubMembership.objects.filter(club=club, user=user).first()
        if existing is not None:
            return existing
        if club_is_blocked_for(user=user, club=club):
            raise errors.blocked()
        if club.join_policy == Club.JoinPolicy.REQUEST:
            raise ClubConflict(
                "This club takes members by request: ask to join.", code="club_join_by_request"
            )
        if club.join_policy == Club.JoinPolicy.NOMINATION:
            raise ClubConflict(
                "This club takes members by nomination only.", code="club_join_by_nomination"
            )
        return _add_member(club, user, user, "joined")


def club_leave(*, club: Club, user: User) -> None:
    """Idempotent for non-members. The last admin cannot leave (hand the club over first)."""
    with transaction.atomic():
        club = _lock(club)
        membership = ClubMembership.objects.filter(club=club, user=user).first()
        if membership is None:
            return
        _refuse_losing_last_admin(club, membership)
        membership.delete()
        _audit(club, user, "member_left", user)
        events.membership_lost_on_commit(club.pk, user.pk, "left")


def _refuse_losing_last_admin(club: Club, membership: ClubMembership) -> None:
    if membership.role != Role.ADMIN:
        return
    if not ClubMembership.objects.filter(club=club, role=Role.ADMIN).exclude(pk=membership.pk):
        raise ClubConflict(
            "You are the club's last admin: make someone else an admin first.",
            code="club_last_admin",
        )


def club_member_set_role(*, club: Club, actor: User, user: User, role: str) -> ClubMembership:
    """Admins set roles. Idempotent; the last admin cannot demote themselves."""
    if role not in Role.values:
        raise InvalidInput(fields={"role": [f"Choose one of {', '.join(Role.values)}."]})
    with transaction.atomic():
        club = _lock(club)
        _require_role(club, actor, [Role.ADMIN], errors.admin_required())
        membership = ClubMembership.objects.filter(club=club, user=user).first()
        if membership is None:
            raise NotFound("That person is not a member of this club.", code="club_not_member")
        if membership.role == role:
            return membership
        if role != Role.ADMIN:
            _refuse_losing_last_admin(club, membership)
        previous = membership.role
        had_access = _members_room_access(club, user)
        membership.role = role
        membership.save(update_fields=["role"])
        # A leader of an exclusive club demoted to member needs premium from now on.
        _premium_lapse_check(club, user, had_access, "premium_required")
        _audit(club, actor, "role_changed", user, previous=previous, role=role)
        _notify(user, club, actor, "role_changed", role=role)
        events.role_changed_on_commit(club.pk, user.pk, role)
    return membership


def club_member_remove(*, club: Club, actor: User, user: User) -> None:
    """Admins remove anyone but themselves (that is leaving); leaders remove plain members."""
    if actor.pk == user.pk:
        club_leave(club=club, user=user)
        return
    with transaction.atomic():
        club = _lock(club)
        actor_role = _require_role(club, actor, MANAGERS, errors.leader_required())
        membership = ClubMembership.objects.filter(club=club, user=user).first()
        if membership is None:
            raise NotFound("That person is not a member of this club.", code="club_not_member")
        if actor_role == Role.LEADER and membership.role != Role.MEMBER:
            raise errors.admin_required()
        _refuse_losing_last_admin(club, membership)  # staff, who act without being admin
        membership.delete()
        _audit(club, actor, "member_removed", user, role=membership.role)
        events.membership_lost_on_commit(club.pk, user.pk, "removed")


# --- shared decision machinery (requests and nominations) ---------------------------------


def _decide(
    obj: ClubNomination | ClubMembershipRequest, target: str, actor: User, label: str
) -> bool:
    """Apply a pending→final transition to a locked row. Returns False when already there."""
    if obj.status == target:
        return False
    if target not in DECISION_TRANSITIONS[obj.status]:
        raise ClubConflict(f"This {label} was already {obj.status}.", code=f"club_{label}_decided")
    obj.status = target
    obj.decided_at = timezone.now()
    obj.decided_by = actor
    obj.save(update_fields=["status", "decided_at", "decided_by"])
    person = obj.nominee if isinstance(obj, ClubNomination) else obj.user
    _audit(obj.club, actor, f"{label}_{target}", person)
    return True


# --- membership requests ------------------------------------------------------------------


def club_request_create(*, club: Club, user: User, message: str = "") -> ClubMembershipRequest:
    """Ask to join a by-request club. Idempotent: a pending request is returned as is."""
    user_require_member(user)
    with transaction.atomic():
        club = _lock(club)
        if club_is_blocked_for(user=user, club=club):
            raise errors.blocked()
        if ClubMembership.objects.filter(club=club, user=user).exists():
            raise ClubConflict("You are already a member.", code="club_already_member")
        if club.join_policy != Club.JoinPolicy.REQUEST:
            raise ClubConflict(
                "This club does not take membership requests.", code="club_requests_closed"
            )
        pending = ClubMembershipRequest.objects.filter(
            club=club, user=user, status=DecisionStatus.PENDING
        ).first()
        if pending is not None:
            return pending
        request = ClubMembershipRequest.objects.create(club=club, user=user, message=message)
        _audit(club, user, "request_created", user)
    return request


def _locked_request(request: ClubMembershipRequest) -> ClubMembershipRequest:
    return (
        ClubMembershipRequest.objects.select_for_update()
        .select_related("club", "user")
        .get(pk=request.pk)
    )


def club_request_approve(*, request: ClubMembershipRequest, actor: User) -> ClubMembershipRequest:
    with transaction.atomic():
        club = _lock(request.club)
        _require_role(club, actor, MANAGERS, errors.leader_required())
        request = _locked_request(request)
        if request.status == DecisionStatus.PENDING and club_is_blocked_for(
            user=request.user, club=club
        ):
            raise errors.blocked()
        if _decide(request, DecisionStatus.APPROVED, actor, "request"):
            _add_member(club, request.user, actor, "request")
    return request


def club_request_reject(*, request: ClubMembershipRequest, actor: User) -> ClubMembershipRequest:
    with transaction.atomic():
        club = _lock(request.club)
        _require_role(club, actor, MANAGERS, errors.leader_required())
        request = _locked_request(request)
        _decide(request, DecisionStatus.REJECTED, actor, "request")
    return request


def club_request_withdraw(*, request: ClubMembershipRequest, user: User) -> ClubMembershipRequest:
    with transaction.atomic():
        request = _locked_request(request)
        if request.user_id != user.pk:
            raise ClubForbidden("This is not your request.", code="club_request_not_yours")
        _decide(request, DecisionStatus.WITHDRAWN, user, "request")
    return request


# --- nominations --------------------------------------------------------------------------


def club_nominate(*, club: Club, nominator: User, nominee: User, note: str = "") -> ClubNomination:
    """Members nominate people; idempotent while a nomination of that person is pending."""
    user_require_member(nominator)
    with transaction.atomic():
        club = _lock(club)
        _require_role(club, nominator, Role.values, errors.member_required())
        if not nominee.is_member:
            raise ClubConflict(
                "Only members of the network can be nominated.", code="club_nominee_unavailable"
            )
        if club_is_blocked_for(user=nominee, club=club) or user_is_blocked_between(
            nominator, nominee
        ):
            raise errors.blocked()
        if ClubMembership.objects.filter(club=club, user=nominee).exists():
            raise ClubConflict("They are already a member.", code="club_already_member")
        pending = ClubNomination.objects.filter(
            club=club, nominee=nominee, status=DecisionStatus.PENDING
        ).first()
        if pending is not None:
            return pending
        nomination = ClubNomination.objects.create(
            club=club, nominee=nominee, nominated_by=nominator, note=note
        )
        _audit(club, nominator, "nomination_created", nominee)
    return nomination


def _locked_nomination(nomination: ClubNomination) -> ClubNomination:
    return (
        ClubNomination.objects.select_for_update()
        .select_related("club", "nominee")
        .get(pk=nomination.pk)
    )


def club_nomination_approve(*, nomination: ClubNomination, actor: User) -> ClubNomination:
    with transaction.atomic():
        club = _lock(nomination.club)
        _require_role(club, actor, [Role.ADMIN], errors.admin_required())
        nomination = _locked_nomination(nomination)
        if nomination.status == DecisionStatus.PENDING and club_is_blocked_for(
            user=nomination.nominee, club=club
        ):
            raise errors.blocked()
        if _decide(nomination, DecisionStatus.APPROVED, actor, "nomination"):
            _add_member(club, nomination.nominee, actor, "nomination")
    return nomination


def club_nomination_reject(*, nomination: ClubNomination, actor: User) -> ClubNomination:
    with transaction.atomic():
        club = _lock(nomination.club)
        _require_role(club, actor, [Role.ADMIN], errors.admin_required())
        nomination = _locked_nomination(nomination)
        _decide(nomination, DecisionStatus.REJECTED, actor, "nomination")
    return nomination


def club_nomination_withdraw(*, nomination: ClubNomination, actor: User) -> ClubNomination:
    """Only the person who nominated can withdraw (admins reject instead)."""
    with transaction.atomic():
        nomination = _locked_nomination(nomination)
        if nomination.nominated_by_id != actor.pk:
            raise ClubForbidden(
                "Only the person who nominated can withdraw.", code="club_nomination_not_yours"
            )
        _decide(nomination, DecisionStatus.WITHDRAWN, actor, "nomination")
    return nomination


# --- premium (exclusive clubs) ------------------------------------------------------------


def _locked_premium(club: Club, user: User) -> PremiumMembership | None:
    return PremiumMembership.objects.select_for_update().filter(club=club, user=user).first()


def _premium_lapse_check(
    club: Club, user: User, had_access: bool, reason: str = "premium_lapsed"
) -> None:
    if had_access and not _members_room_access(club, user):
        events.membership_lost_on_commit(club.pk, user.pk, reason)


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
    *, club: Club, user: User, actor: User, until: datetime | None = None
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
        _audit(club, actor, "premium_granted", user, until=until.isoformat() if until else None)
    return premium


def premium_membership_revoke(*, premium: PremiumMembership, actor: User) -> PremiumMembership:
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
        _audit(club, actor, "premium_revoked", premium.user)
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


# --- reports ------------------------------------------------------------------------------


def club_report_create(*, club: Club, reporter: User, reason: str, text: str = "") -> ClubReport:
    user_require_member(reporter)
    if reason not in ClubReport.Reason.values:
        raise InvalidInput(
            fields={"reason": [f"Choose one of {', '.join(ClubReport.Reason.values)}."]}
        )
    with transaction.atomic():
        return ClubReport.objects.create(club=club, reporter=reporter, reason=reason, text=text)


def club_report_review(*, report: ClubReport, reviewer: User, status: str) -> ClubReport:
    """Staff close a report as actioned or dismissed. Idempotent; a closed report stays closed."""
    if not reviewer.is_staff:
        raise ClubForbidden("Only staff review reports.", code="club_staff_required")
    if status not in (ClubReport.Status.ACTIONED, ClubReport.Status.DISMISSED):
        raise InvalidInput(fields={"status": ["Choose actioned or dismissed."]})
    with transaction.atomic():
        report = ClubReport.objects.select_for_update().select_related("club").get(pk=report.pk)
        if report.status == status:
            return report
        if report.status != ClubReport.Status.OPEN:
            raise ClubConflict(
                f"This report was already {report.status}.", code="club_report_closed"
            )
        report.status = status
        report.reviewed_at = timezone.now()
        report.reviewed_by = reviewer
        report.save(update_fields=["status", "reviewed_at", "reviewed_by"])
        _audit(report.club, reviewer, f"report_{status}", report_id=report.pk)
    return report
