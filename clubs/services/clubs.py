"""Clubs themselves (create, edit, delete, verify), follows and reports."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from accounts.permissions import user_require_member
from clubhouse.errors import InvalidInput
from clubs import errors, events
from clubs.errors import ClubConflict, ClubForbidden
from clubs.models import (
    Club,
    ClubFollow,
    ClubMembership,
    ClubReport,
)
from clubs.selectors import club_is_blocked_for
from clubs.services._common import (
    EDITABLE_FIELDS,
    RESERVED_SLUGS,
    Role,
    _audit,
    _clean_photo,
    _lock,
    _members_room_access,
    _require_role,
    _topics,
    _unique_slug,
)

if TYPE_CHECKING:
    from accounts.models import User
else:
    User = get_user_model()

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
    photo = _clean_photo(photo)
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
    photo = _clean_photo(photo)
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


def club_verify(*, club: Club, actor: User, verified: bool = True, reason: str = "") -> Club:
    """The verification badge: staff only (admin action)."""
    if not actor.is_staff:
        raise ClubForbidden("Only staff can verify clubs.", code="club_staff_required")
    with transaction.atomic():
        club = _lock(club)
        if club.is_verified != verified:
            club.is_verified = verified
            club.save(update_fields=["is_verified", "updated"])
            _audit(club, actor, "club_verified" if verified else "club_unverified", reason=reason)
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


# --- reports ------------------------------------------------------------------------------


def club_report_create(*, club: Club, reporter: User, reason: str, text: str = "") -> ClubReport:
    user_require_member(reporter)
    if reason not in ClubReport.Reason.values:
        raise InvalidInput(
            fields={"reason": [f"Choose one of {', '.join(ClubReport.Reason.values)}."]}
        )
    with transaction.atomic():
        return ClubReport.objects.create(club=club, reporter=reporter, reason=reason, text=text)


def club_report_review(
    *, report: ClubReport, reviewer: User, status: str, reason: str = ""
) -> ClubReport:
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
        _audit(report.club, reviewer, f"report_{status}", report_id=report.pk, reason=reason)
    return report
