"""Helpers shared by the clubs services: audit, locks, role checks, notifications."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.core.files import File
from django.utils.text import slugify

from accounts.selectors import topic_list
from accounts.services import NotificationKind, notification_create
from clubhouse.errors import InvalidInput
from clubs import events
from clubs.errors import ClubForbidden
from clubs.models import (
    Club,
    ClubAuditEntry,
    ClubMembership,
    club_photo_clean,
)
from clubs.selectors import club_role, club_room_access

if TYPE_CHECKING:
    from accounts.models import Topic, User

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
    """`reason=` is the staff member's why (the back office asks for it); left out when none
    was given, so members' own entries carry none."""
    if not data.get("reason", True):
        data.pop("reason")
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
        kind=NotificationKind.CLUB,
        actor=actor,
        data={"club_id": club.pk, "club_slug": club.slug, "event": event, **data},
    )


def _clean_photo(photo: File | None) -> File | None:
    """The re-encoded, renamed copy of an uploaded photo (None stays None)."""
    if photo is None:
        return None
    try:
        return club_photo_clean(photo)
    except ValidationError as exc:
        raise ValidationError({"photo": exc.messages}) from exc


def _topics(slugs: Iterable[str]) -> list[Topic]:
    slugs = list(dict.fromkeys(slugs))
    topics = list(topic_list(slugs=slugs))
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


def _premium_lapse_check(
    club: Club, user: User, had_access: bool, reason: str = "premium_lapsed"
) -> None:
    if had_access and not _members_room_access(club, user):
        events.membership_lost_on_commit(club.pk, user.pk, reason)
