"""Joining, leaving, roles, membership requests and nominations.

Every membership change locks the club row first, so "is this the last admin?" and "is
there already a pending nomination?" are answered without races.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from accounts.permissions import user_require_member
from accounts.selectors import user_is_blocked_between
from clubhouse.errors import InvalidInput, NotFound
from clubs import errors, events
from clubs.errors import ClubConflict, ClubForbidden
from clubs.models import (
    DECISION_TRANSITIONS,
    Club,
    ClubFollow,
    ClubMembership,
    ClubMembershipRequest,
    ClubNomination,
    DecisionStatus,
)
from clubs.selectors import club_is_blocked_for
from clubs.services._common import (
    MANAGERS,
    Role,
    _add_member,
    _audit,
    _lock,
    _members_room_access,
    _notify,
    _premium_lapse_check,
    _require_role,
)

if TYPE_CHECKING:
    from accounts.models import User

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


def club_account_deleting(*, user: User) -> None:
    """accounts' deleting hook (inside the deletion's transaction; the caller holds the user's
    lock). The person leaves every club, unfollows every club, and their pending requests and
    nominations are withdrawn. A club whose last admin they were is handed to its
    longest-standing leader, else its longest-standing member (never refused: a person can always
    delete their account); a club with nobody left stays for staff to decide. Each club's
    membership-lost hooks run after commit (members-only rooms, paid subscriptions)."""
    club_ids = list(ClubMembership.objects.filter(user=user).values_list("club_id", flat=True))
    for club in Club.objects.select_for_update().filter(pk__in=club_ids).order_by("pk"):
        membership = ClubMembership.objects.filter(club=club, user=user).first()
        if membership is None:
            continue
        if membership.role == Role.ADMIN and not (
            ClubMembership.objects.filter(club=club, role=Role.ADMIN).exclude(pk=membership.pk)
        ):
            heir = _heir(club, membership)
            if heir is not None:
                heir.role = Role.ADMIN
                heir.save(update_fields=["role"])
                _audit(club, None, "admin_handed_over", heir.user, reason="account_deleted")
                events.role_changed_on_commit(club.pk, heir.user_id, Role.ADMIN)
        membership.delete()
        _audit(club, None, "member_deleted_account", None, role=membership.role)
        events.membership_lost_on_commit(club.pk, user.pk, "account_deleted")
    ClubFollow.objects.filter(user=user).delete()
    now = timezone.now()
    for model, field in ((ClubNomination, "nominee"), (ClubMembershipRequest, "user")):
        model.objects.filter(**{field: user, "status": DecisionStatus.PENDING}).update(
            status=DecisionStatus.WITHDRAWN, decided_at=now
        )


def _heir(club: Club, leaving: ClubMembership) -> ClubMembership | None:
    others = ClubMembership.objects.filter(club=club).exclude(pk=leaving.pk)
    return (
        others.filter(role=Role.LEADER).order_by("joined_at", "id").first()
        or others.order_by("joined_at", "id").first()
    )


def _refuse_losing_last_admin(club: Club, membership: ClubMembership) -> None:
    if membership.role != Role.ADMIN:
        return
    if not ClubMembership.objects.filter(club=club, role=Role.ADMIN).exclude(pk=membership.pk):
        raise ClubConflict(
            "You are the club's last admin: make someone else an admin first.",
            code="club_last_admin",
        )


def club_member_set_role(
    *, club: Club, actor: User, user: User, role: str, reason: str = ""
) -> ClubMembership:
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
        _audit(club, actor, "role_changed", user, previous=previous, role=role, reason=reason)
        _notify(user, club, actor, "role_changed", role=role)
        events.role_changed_on_commit(club.pk, user.pk, role)
    return membership


def club_member_remove(*, club: Club, actor: User, user: User, reason: str = "") -> None:
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
        _audit(club, actor, "member_removed", user, role=membership.role, reason=reason)
        events.membership_lost_on_commit(club.pk, user.pk, "removed")


# --- shared decision machinery (requests and nominations) ---------------------------------


def _decide(
    obj: ClubNomination | ClubMembershipRequest,
    target: str,
    actor: User,
    label: str,
    reason: str = "",
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
    _audit(obj.club, actor, f"{label}_{target}", person, reason=reason)
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


def club_request_approve(
    *, request: ClubMembershipRequest, actor: User, reason: str = ""
) -> ClubMembershipRequest:
    with transaction.atomic():
        club = _lock(request.club)
        _require_role(club, actor, MANAGERS, errors.leader_required())
        request = _locked_request(request)
        if request.status == DecisionStatus.PENDING and club_is_blocked_for(
            user=request.user, club=club
        ):
            raise errors.blocked()
        if _decide(request, DecisionStatus.APPROVED, actor, "request", reason):
            _add_member(club, request.user, actor, "request")
    return request


def club_request_reject(
    *, request: ClubMembershipRequest, actor: User, reason: str = ""
) -> ClubMembershipRequest:
    with transaction.atomic():
        club = _lock(request.club)
        _require_role(club, actor, MANAGERS, errors.leader_required())
        request = _locked_request(request)
        _decide(request, DecisionStatus.REJECTED, actor, "request", reason)
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


def club_nomination_approve(
    *, nomination: ClubNomination, actor: User, reason: str = ""
) -> ClubNomination:
    with transaction.atomic():
        club = _lock(nomination.club)
        _require_role(club, actor, [Role.ADMIN], errors.admin_required())
        nomination = _locked_nomination(nomination)
        if nomination.status == DecisionStatus.PENDING and club_is_blocked_for(
            user=nomination.nominee, club=club
        ):
            raise errors.blocked()
        if _decide(nomination, DecisionStatus.APPROVED, actor, "nomination", reason):
            _add_member(club, nomination.nominee, actor, "nomination")
    return nomination


def club_nomination_reject(
    *, nomination: ClubNomination, actor: User, reason: str = ""
) -> ClubNomination:
    with transaction.atomic():
        club = _lock(nomination.club)
        _require_role(club, actor, [Role.ADMIN], errors.admin_required())
        nomination = _locked_nomination(nomination)
        _decide(nomination, DecisionStatus.REJECTED, actor, "nomination", reason)
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
