"""Every read about clubs, including who may do what. Other apps call the seams below; keep the
names and signatures stable:

- `club_room_access(*, user, club, members_only)`  -> None or an error code
- `club_can_start_room(*, user, club)` / `club_can_schedule_event(*, user, club)` -> bool
- `club_ids_for_user(user)` -> ids of clubs the user is a member of or follows
- `club_premium_access(user, club)` -> bool (the one premium rule)
- `club_find(club_id)`, `club_search(query, limit=)`, `club_is_member(club_id=, user_id=)`,
  `club_is_admin(club=, user_id=)`, `premium_membership_exists(club=, user_id=)` -> the plain
  reads other apps need instead of querying clubs' models
- `club_ids_with_members_only_access(user)` / `club_ids_blocked_for(user)` -> the set forms of
  `club_room_access`, for lists (the hallway)
- `staff_actions(filter)`, `staff_action_names()`, `club_staff_history(club)` -> staff actions
  in clubs, for the staff audit list and a club's admin page (clubhouse.audit's shape); the
  history of one membership, nomination or request, premium membership or club report
  (`club_membership_staff_history`, `club_decision_staff_history`,
  `club_premium_staff_history`, `club_report_staff_history`) for their admin pages
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from accounts.selectors import user_blocked_ids, user_blocker_ids, user_is_blocked_with_any
from clubhouse.attention import Attention
from clubhouse.audit import StaffAction, StaffActionFilter, staff_window
from clubs.errors import ClubNotFound
from clubs.models import (
    Club,
    ClubAuditEntry,
    ClubFollow,
    ClubMembership,
    ClubMembershipRequest,
    ClubNomination,
    ClubReport,
    PremiumMembership,
)

if TYPE_CHECKING:
    from accounts.models import User

Role = ClubMembership.Role
MANAGERS = (Role.ADMIN, Role.LEADER)

# Error codes returned by `club_room_access` (also raised by the API as 403s).
ROOM_MEMBERS_ONLY = "club_members_only"
ROOM_PREMIUM_REQUIRED = "club_premium_required"
ROOM_BLOCKED = "club_blocked"


def _authenticated(user: Any) -> bool:
    return user is not None and getattr(user, "is_authenticated", False)


def club_get(*, slug: str) -> Club:
    club = Club.objects.filter(slug=slug).first()
    if club is None:
        raise ClubNotFound()
    return club


def club_find(club_id: int) -> Club | None:
    """The club with this id, or None (rooms and events check a `club_id` they were given)."""
    return Club.objects.filter(pk=club_id).first()


def club_search(query: str, *, limit: int) -> list[Club]:
    """Clubs whose name, slug or description contains `query` (the hallway's search)."""
    return list(
        Club.objects.filter(
            Q(name__icontains=query) | Q(slug__icontains=query) | Q(description__icontains=query)
        ).order_by("name")[:limit]
    )


def club_is_member(*, club_id: int, user_id: int) -> bool:
    return ClubMembership.objects.filter(club_id=club_id, user_id=user_id).exists()


def club_is_admin(*, club: Club, user_id: int) -> bool:
    return ClubMembership.objects.filter(club=club, user_id=user_id, role=Role.ADMIN).exists()


def club_role(*, user: Any, club: Club) -> str | None:
    """The user's role in the club ("admin", "leader", "member"), or None."""
    if not _authenticated(user):
        return None
    return (
        ClubMembership.objects.filter(club=club, user=user).values_list("role", flat=True).first()
    )


def club_is_following(*, user: Any, club: Club) -> bool:
    return _authenticated(user) and ClubFollow.objects.filter(club=club, user=user).exists()


def club_admin_ids(club: Club) -> QuerySet[ClubMembership, int]:
    return ClubMembership.objects.filter(club=club, role=Role.ADMIN).values_list(
        "user_id", flat=True
    )


def club_is_blocked_for(*, user: Any, club: Club) -> bool:
    """True when the user blocked, or is blocked by, any admin of the club."""
    if not _authenticated(user):
        return False
    admins = club_admin_ids(club)
    return user_is_blocked_with_any(user, other_ids=admins)


def club_premium_access(user: Any, club: Club, *, now: datetime | None = None) -> bool:
    """The one premium rule: an active membership not past its period end, or a past-due one
    still within its grace period. Canceled and expired memberships never grant access."""
    if not _authenticated(user):
        return False
    premium = PremiumMembership.objects.filter(club=club, user=user)
    return premium.filter(premium_access_q(now or timezone.now())).exists()


def premium_access_q(now: datetime) -> Q:
    """The premium rule as a filter on PremiumMembership (one definition for rows and lists)."""
    status = PremiumMembership.Status
    active = Q(status=status.ACTIVE) & (
        Q(current_period_end__isnull=True) | Q(current_period_end__gt=now)
    )
    return active | Q(status=status.PAST_DUE, grace_until__gt=now)


def club_room_access(*, user: Any, club: Club, members_only: bool) -> str | None:
    """None when the user may enter a room of this club, else the error code that says why.

    Public club rooms are open to everyone except people blocked by or blocking a club admin.
    Members-only rooms need a membership; in an exclusive club plain members also need premium
    access (admins and leaders run the club and are exempt).
    """
    if club_is_blocked_for(user=user, club=club):
        return ROOM_BLOCKED
    if not members_only:
        return None
    role = club_role(user=user, club=club)
    if role is None:
        return ROOM_MEMBERS_ONLY
    if club.is_exclusive and role == Role.MEMBER and not club_premium_access(user, club):
        return ROOM_PREMIUM_REQUIRED
    return None


def club_can_start_room(*, user: Any, club: Club) -> bool:
    return club_role(user=user, club=club) in MANAGERS


def club_can_schedule_event(*, user: Any, club: Club) -> bool:
    return club_role(user=user, club=club) in MANAGERS


def club_can_manage_members(*, user: Any, club: Club) -> bool:
    """Leaders and admins decide membership requests and remove plain members; staff too."""
    if _authenticated(user) and user.is_staff:
        return True
    return club_role(user=user, club=club) in MANAGERS


def club_ids_for_user(user: Any) -> set[int]:
    """Clubs whose rooms belong in the user's hallway: the ones they are a member of or follow."""
    return set(club_ids_for_user_query(user).values_list("pk", flat=True))


def club_ids_for_user_query(user: Any) -> QuerySet[Club, Any]:
    """The same as a lazy query, to embed as a subquery in lists (no extra round trip)."""
    if not _authenticated(user):
        return Club.objects.none()
    member = Q(pk__in=ClubMembership.objects.filter(user=user).values("club_id"))
    following = Q(pk__in=ClubFollow.objects.filter(user=user).values("club_id"))
    return Club.objects.filter(member | following).values("pk")


def club_ids_with_members_only_access(user: Any) -> QuerySet[ClubMembership, Any]:
    """Clubs whose members-only rooms the user may enter, as a lazy subquery of club ids (the
    list form of club_room_access, e.g. for the hallway): their memberships, less plain
    members of exclusive clubs without premium access, less clubs blocked for them."""
    if not _authenticated(user):
        return ClubMembership.objects.none().values("club_id")
    premium = PremiumMembership.objects.filter(premium_access_q(timezone.now()), user=user)
    return (
        ClubMembership.objects.filter(user=user)
        .filter(
            Q(club__is_exclusive=False)
            | ~Q(role=Role.MEMBER)
            | Q(club_id__in=premium.values("club_id"))
        )
        .exclude(club_id__in=club_ids_blocked_for(user))
        .values("club_id")
    )


def club_ids_blocked_for(user: Any) -> QuerySet[ClubMembership, Any]:
    """Clubs with an admin who blocked the user or whom the user blocked (lazy subquery)."""
    if not _authenticated(user):
        return ClubMembership.objects.none().values("club_id")
    blocked_with = user_blocked_ids(blocker=user)
    blocked_by = user_blocker_ids(blocked=user)
    admins = ClubMembership.objects.filter(role=Role.ADMIN).filter(
        Q(user__in=blocked_with) | Q(user__in=blocked_by)
    )
    return admins.values("club_id")


def club_can_see_members(*, user: Any, club: Club) -> bool:
    if not club.member_list_private:
        return True
    return club_role(user=user, club=club) is not None or getattr(user, "is_staff", False)


def club_list(*, viewer: User, q: str = "", topic: str = "") -> QuerySet[Club]:
    """Clubs annotated with what a list needs: member count, the viewer's role and follow."""
    clubs = Club.objects.all()
    if q:
        clubs = clubs.filter(
            Q(name__icontains=q) | Q(topics__name__iexact=q) | Q(topics__slug__iexact=q)
        )
    if topic:
        clubs = clubs.filter(topics__slug=topic)
    if q or topic:
        clubs = clubs.distinct()
    return _annotate_for_viewer(clubs, viewer)


def club_list_for_user(*, user: User) -> QuerySet[Club]:
    """ "My clubs": the ones the user is a member of or follows."""
    clubs = Club.objects.filter(Q(memberships__user=user) | Q(follows__user=user)).distinct()
    return _annotate_for_viewer(clubs, user)


def club_list_for_profile(*, user: Any) -> list[Club]:
    """Clubs the person belongs to, as their profile page lists them (never a club that keeps
    its member list private)."""
    return list(
        Club.objects.filter(memberships__user=user, member_list_private=False)
        .order_by("name")
        .only("slug", "name", "photo")[:24]
    )


def clubs_led_by(*, user: Any) -> list[Club]:
    """Clubs where `user` is an admin or a leader (staff's review of a creator applicant)."""
    roles = [ClubMembership.Role.ADMIN, ClubMembership.Role.LEADER]
    return list(
        Club.objects.filter(memberships__user=user, memberships__role__in=roles)
        .distinct()
        .order_by("name")
    )


def club_with_viewer(*, slug: str, viewer: User) -> Club:
    club = _annotate_for_viewer(Club.objects.filter(slug=slug), viewer).first()
    if club is None:
        raise ClubNotFound()
    return club


def _annotate_for_viewer(clubs: QuerySet[Club], viewer: User) -> QuerySet[Club]:
    members = (
        ClubMembership.objects.filter(club=OuterRef("pk"))
        .order_by()
        .values("club")
        .annotate(n=Count("id"))
        .values("n")
    )
    return (
        clubs.annotate(
            member_count=Subquery(members),
            viewer_role=Subquery(
                ClubMembership.objects.filter(club=OuterRef("pk"), user=viewer).values("role")[:1]
            ),
            viewer_following=Exists(ClubFollow.objects.filter(club=OuterRef("pk"), user=viewer)),
        )
        .prefetch_related("topics")
        .order_by("name", "id")
    )


def club_members(*, club: Club) -> QuerySet[ClubMembership]:
    return (
        ClubMembership.objects.filter(club=club).select_related("user").order_by("joined_at", "id")
    )


def club_requests_pending(*, club: Club) -> QuerySet[ClubMembershipRequest]:
    return ClubMembershipRequest.objects.filter(
        club=club, status=ClubMembershipRequest.Status.PENDING
    ).select_related("user")


def club_nominations_visible(*, club: Club, viewer: User) -> QuerySet[ClubNomination]:
    """Admins see every pending nomination; other members see the ones they made."""
    nominations = ClubNomination.objects.filter(club=club).select_related("nominee", "nominated_by")
    if club_role(user=viewer, club=club) == Role.ADMIN:
        return nominations.filter(status=ClubNomination.Status.PENDING)
    return nominations.filter(nominated_by=viewer)


def premium_membership_for(*, user: User, club: Club) -> PremiumMembership | None:
    return PremiumMembership.objects.filter(club=club, user=user).first()


def premium_membership_exists(*, club: Club, user_id: int) -> bool:
    """Whether premium was ever granted (any status) to this member of the club."""
    return PremiumMembership.objects.filter(club=club, user_id=user_id).exists()


def club_account_export(*, user: User) -> dict[str, Any]:
    """The data export's clubs section: memberships and roles, follows, requests, nominations
    of the person, premium access."""

    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "memberships": [
            {"club": m.club.slug, "role": m.role, "joined_at": when(m.joined_at)}
            for m in ClubMembership.objects.filter(user=user).select_related("club")
        ],
        "follows": [
            {"club": f.club.slug, "since": when(f.created)}
            for f in ClubFollow.objects.filter(user=user).select_related("club")
        ],
        "membership_requests": [
            {
                "club": r.club.slug,
                "status": r.status,
                "message": r.message,
                "created": when(r.created),
            }
            for r in ClubMembershipRequest.objects.filter(user=user).select_related("club")
        ],
        "nominations_received": [
            {"club": n.club.slug, "status": n.status, "created": when(n.created)}
            for n in ClubNomination.objects.filter(nominee=user).select_related("club")
        ],
        "premium": [
            {
                "club": p.club.slug,
                "status": p.status,
                "source": p.source,
                "current_period_end": when(p.current_period_end),
            }
            for p in PremiumMembership.objects.filter(user=user).select_related("club")
        ],
    }


# --- the staff home (clubhouse/admin/) ---------------------------------------------------------


def club_reports_waiting() -> Attention:
    """Reports of clubs staff have not reviewed yet (neither actioned nor dismissed)."""
    status = ClubReport.Status.OPEN
    return Attention(
        count=ClubReport.objects.filter(status=status).count(), filters={"status__exact": status}
    )


# --- staff actions (the staff audit list, a club's history) --------------------------------


def _club_action(entry: ClubAuditEntry) -> StaffAction:
    data = entry.data or {}
    target = f"@{entry.target}" if entry.target_id else ""
    extra = ", ".join(f"{k}: {v}" for k, v in data.items() if k != "reason")
    # A report's review links to the report; everything else to the club.
    report_id = data.get("report_id")
    model, object_id = ("clubreport", str(report_id)) if report_id else ("club", str(entry.club_id))
    return StaffAction(
        when=entry.created,
        actor=entry.actor,
        action=entry.action,
        source="clubs",
        app_label="clubs",
        model=model,
        object_id=object_id,
        subject=f"Club {entry.club}" + (f", report #{report_id}" if report_id else ""),
        reason=str(data.get("reason", "")),
        detail="; ".join(part for part in (target, extra) if part),
    )


def staff_actions(wanted: StaffActionFilter) -> list[StaffAction]:
    """What staff did in clubs (badges, roles, removals, decisions, premium grants)."""
    entries = ClubAuditEntry.objects.filter(actor__is_staff=True).select_related(
        "actor", "club", "target"
    )
    return [
        _club_action(e)
        for e in staff_window(entries, wanted, actor="actor", when="created", action="action")
    ]


def staff_action_names() -> list[str]:
    entries = ClubAuditEntry.objects.filter(actor__is_staff=True)
    return sorted(set(entries.values_list("action", flat=True).distinct()))


def club_staff_history(club: Any) -> list[StaffAction]:
    """Every audit entry of a club (its admins' and staff's), newest first."""
    entries = ClubAuditEntry.objects.filter(club=club).select_related("actor", "club", "target")
    return [_club_action(e) for e in entries[:100]]


def _entries(**filters: Any) -> list[StaffAction]:
    entries = ClubAuditEntry.objects.filter(**filters).select_related("actor", "club", "target")
    return [_club_action(e) for e in entries[:100]]


def club_membership_staff_history(membership: Any) -> list[StaffAction]:
    """What happened to one person in one club: added, roles, premium, removals."""
    return _entries(club_id=membership.club_id, target_id=membership.user_id)


def club_decision_staff_history(club: Any, person: Any, label: str) -> list[StaffAction]:
    """A nomination's (`label` "nomination") or a request's ("request") decisions about
    `person` in `club`."""
    return _entries(club=club, target=person, action__startswith=f"{label}_")


def club_premium_staff_history(premium: Any) -> list[StaffAction]:
    return _entries(club_id=premium.club_id, target_id=premium.user_id,
                    action__startswith="premium_")  # fmt: skip


def club_report_staff_history(report: Any) -> list[StaffAction]:
    return _entries(club_id=report.club_id, data__report_id=report.pk)
