"""Reads about people and their graph. Other apps call these; keep the names stable.

This module is accounts' public seam for reads (with `accounts.services` for writes and
`accounts.events` for hooks): other apps never import `accounts.models` (`.importlinter`). The
graph's id sets come back as lazy single-column QuerySets, so a caller filtering by them
(`user__in=user_followee_ids(follower=viewer)`) still runs one query with a subquery.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncWeek
from django.utils import timezone

from accounts import events
from accounts.models import (
    AccountEvent,
    Block,
    FeatureCohortMember,
    FeatureFeedback,
    FeatureFlag,
    Follow,
    Invitation,
    InvitationQuotaAward,
    Notification,
    PushSubscription,
    Report,
    Topic,
    User,
    WaitlistVouch,
)
from clubhouse.attention import Attention
from clubhouse.audit import StaffAction, StaffActionFilter, staff_window
from clubhouse.errors import NotFound


def user_follows(follower: User, followee: User) -> bool:
    return Follow.objects.filter(follower=follower, followee=followee).exists()


def user_is_blocked_between(a: User, b: User) -> bool:
    """True when either has blocked the other."""
    return Block.objects.filter(Q(blocker=a, blocked=b) | Q(blocker=b, blocked=a)).exists()


def user_followee_ids(*, follower: Any) -> QuerySet[Follow, int]:
    """Ids of the people `follower` follows (a lazy subquery)."""
    return Follow.objects.filter(follower=follower).values_list("followee_id", flat=True)


def user_follower_ids(*, followee: Any) -> QuerySet[Follow, int]:
    """Ids of the people who follow `followee` (a lazy subquery)."""
    return Follow.objects.filter(followee=followee).values_list("follower_id", flat=True)


def users_follower_ids(*, followee_ids: Iterable[int]) -> QuerySet[Follow, int]:
    """Ids of the people who follow any of `followee_ids` (a lazy subquery; may repeat an id)."""
    return Follow.objects.filter(followee_id__in=followee_ids).values_list("follower_id", flat=True)


def user_followed_by_any(user: Any, *, follower_ids: Any) -> bool:
    """Whether anyone of `follower_ids` (ids or a subquery of ids) follows `user`."""
    return Follow.objects.filter(follower__in=follower_ids, followee=user).exists()


def user_blocked_ids(*, blocker: Any) -> QuerySet[Block, int]:
    """Ids of the people `blocker` blocked (a lazy subquery)."""
    return Block.objects.filter(blocker=blocker).values_list("blocked_id", flat=True)


def user_blocker_ids(*, blocked: Any) -> QuerySet[Block, int]:
    """Ids of the people who blocked `blocked` (a lazy subquery)."""
    return Block.objects.filter(blocked=blocked).values_list("blocker_id", flat=True)


def user_blocked_by_any(user: Any, *, blocker_ids: Any) -> bool:
    """Whether anyone of `blocker_ids` (ids or a subquery of ids) blocked `user`."""
    return Block.objects.filter(blocker__in=blocker_ids, blocked=user).exists()


def user_is_blocked_with_any(user: Any, *, other_ids: Any) -> bool:
    """True when `user` blocked, or was blocked by, anyone of `other_ids` (ids or a subquery)."""
    return Block.objects.filter(
        Q(blocker=user, blocked_id__in=other_ids) | Q(blocked=user, blocker_id__in=other_ids)
    ).exists()


def topic_list(
    *, ids: Iterable[int] | None = None, slugs: Iterable[str] | None = None
) -> QuerySet[Topic]:
    """Topics, all of them or those with the given ids or slugs (unknown ones are simply not
    there: the caller compares counts to say which were unknown)."""
    topics = Topic.objects.all()
    if ids is not None:
        topics = topics.filter(pk__in=ids)
    if slugs is not None:
        topics = topics.filter(slug__in=slugs)
    return topics


def user_email_verified(user: User) -> bool:
    """Whether the person proved they read mail at their account's address (allauth's
    confirmation). Inviting, letting in, tipping and becoming a member wait for it, so an
    address squatted before its owner signed up gains nothing (docs/accounts.md)."""
    return EmailAddress.objects.filter(
        user_id=user.pk, email__iexact=user.email, verified=True
    ).exists()


def user_hidden_ids(viewer: User) -> QuerySet[Block, int]:
    """Ids the viewer must not see: people they blocked and people who blocked them."""
    blocked = Block.objects.filter(blocker=viewer).values_list("blocked_id", flat=True)
    blockers = Block.objects.filter(blocked=viewer).values_list("blocker_id", flat=True)
    return blocked.union(blockers)


def user_visible_q(viewer: User) -> Q:
    """A filter on User for "not blocked either way with `viewer`" (usable in any query,
    unlike the union in `user_hidden_ids`)."""
    they_blocked_me = Block.objects.filter(blocker=OuterRef("pk"), blocked=viewer)
    i_blocked_them = Block.objects.filter(blocker=viewer, blocked=OuterRef("pk"))
    return ~Q(Exists(they_blocked_me)) & ~Q(Exists(i_blocked_them))


def _members() -> QuerySet[User]:
    return User.objects.filter(is_active=True, status=User.Status.MEMBER)


def user_get_visible(*, viewer: User, username: str) -> User:
    """The member `username` as `viewer` may see them: 404 when missing, not a member,
    disabled, or blocked either way (a block hides each from the other)."""
    if username == viewer.username:
        return viewer
    user = (
        _members()
        .filter(user_visible_q(viewer), username=username)
        .select_related("invited_by")
        .first()
    )
    if user is None:
        raise NotFound("No such person.", code="user_not_found")
    return user


def user_profile_counts(user: User) -> dict[str, int]:
    counts = User.objects.filter(pk=user.pk).aggregate(
        followers=Count("follower_set", distinct=True),
        following=Count("following_set", distinct=True),
    )
    return {"followers": counts["followers"], "following": counts["following"]}


def user_reports_received_counts(user: Any) -> dict[str, int]:
    """Reports members filed about `user`: all of them and those still open (staff's review of
    a creator applicant)."""
    counts = Report.objects.filter(reported=user).aggregate(
        total=Count("id"), open=Count("id", filter=Q(status=Report.Status.OPEN))
    )
    return {"total": int(counts["total"]), "open": int(counts["open"])}


def user_blocked_by_count(user: Any) -> int:
    """How many members blocked `user`."""
    return Block.objects.filter(blocked=user).count()


def user_relationship(*, viewer: User, other: User) -> dict[str, bool]:
    if viewer.pk == other.pk:
        return {"follows": False, "followed_by": False, "mutual": False}
    pairs = set(
        Follow.objects.filter(
            Q(follower=viewer, followee=other) | Q(follower=other, followee=viewer)
        ).values_list("follower_id", flat=True)
    )
    follows, followed_by = viewer.pk in pairs, other.pk in pairs
    return {"follows": follows, "followed_by": followed_by, "mutual": follows and followed_by}


def user_followers(*, viewer: User, user: User) -> QuerySet[User]:
    """People who follow `user`, newest first, without anyone hidden from `viewer`."""
    return (
        _members()
        .filter(user_visible_q(viewer), following_set__followee=user)
        .order_by("-following_set__created", "-id")
    )


def user_following(*, viewer: User, user: User) -> QuerySet[User]:
    return (
        _members()
        .filter(user_visible_q(viewer), follower_set__follower=user)
        .order_by("-follower_set__created", "-id")
    )


def user_mutuals(*, user: User) -> QuerySet[User]:
    """People `user` follows who follow them back."""
    follows_back = Follow.objects.filter(follower=OuterRef("pk"), followee=user)
    return (
        _members()
        .filter(user_visible_q(user), follower_set__follower=user)
        .filter(Exists(follows_back))
        .order_by("username")
    )


def notification_list(*, user: User, unread: bool | None = None) -> QuerySet[Notification]:
    qs = Notification.objects.filter(recipient=user).select_related("actor")
    if unread is True:
        qs = qs.filter(read_at__isnull=True)
    elif unread is False:
        qs = qs.filter(read_at__isnull=False)
    return qs


def notification_unread_count(*, user: User) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def push_subscription_list(*, user: User) -> QuerySet[PushSubscription]:
    return PushSubscription.objects.filter(user=user).order_by("-created", "-id")


def invitation_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_find(token: str) -> Invitation | None:
    """The invitation for a raw token, in any state (None for a forged or mistyped token)."""
    if not token or len(token) > 200:
        return None
    return (
        Invitation.objects.select_related("inviter")
        .filter(token_hash=invitation_token_hash(token))
        .first()
    )


def invitation_list_sent(*, user: User) -> QuerySet[Invitation]:
    return Invitation.objects.filter(inviter=user).select_related("accepted_by")


def waitlist_vouches_received(*, member: User) -> QuerySet[WaitlistVouch]:
    """Waitlisted people who named `member` and are still waiting."""
    return (
        WaitlistVouch.objects.filter(
            member=member,
            requester__status=User.Status.WAITLISTED,
            requester__is_active=True,
        )
        .exclude(Exists(Block.objects.filter(blocker=member, blocked=OuterRef("requester_id"))))
        .exclude(Exists(Block.objects.filter(blocker=OuterRef("requester_id"), blocked=member)))
        .select_related("requester", "member")
    )


def waitlist_vouches_asked(*, user: User) -> QuerySet[WaitlistVouch]:
    return WaitlistVouch.objects.filter(requester=user).select_related("requester", "member")


def user_waitlisted_find(*, viewer: User, username: str = "", email: str = "") -> User | None:
    """The active, waitlisted person `viewer` names by username or e-mail (case-insensitive),
    unless a block stands between them either way. None for everyone else alike (nobody by
    that name, a member, a disabled account, a block), so a caller cannot tell them apart."""
    query: dict[str, Any] = {}
    if username.strip():
        query["username__iexact"] = username.strip()
    elif email.strip():
        query["email__iexact"] = email.strip()
    else:
        return None
    return (
        User.objects.filter(
            user_visible_q(viewer), is_active=True, status=User.Status.WAITLISTED, **query
        )
        .exclude(pk=viewer.pk)
        .first()
    )


def invitation_mail_wanted(invitation: Invitation) -> bool:
    """Whether the invitation mail goes to its address: not when the address belongs to an
    account that cannot use the link (a member, the inviter included, or a disabled account),
    nor to someone blocked either way with the inviter. The inviter is never told: the API
    answers the same either way (docs/accounts.md)."""
    holder = User.objects.filter(email__iexact=invitation.email).first()
    if holder is None:
        return True
    if holder.status == User.Status.MEMBER or not holder.is_active:
        return False
    return not user_is_blocked_between(holder, invitation.inviter)


# --- the data export ----------------------------------------------------------------------------


def person_ref(user: User | None) -> dict[str, Any] | None:
    """How an export names another person: only what their public profile shows."""
    if user is None:
        return None
    return {"id": user.pk, "username": user.username, "display_name": user.display_name}


def _when(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def account_export(user: User) -> dict[str, Any]:
    """Everything kept about the person, as JSON-ready data: their account and graph here, and
    each other app's section (`accounts.events.ACCOUNT_EXPORT_SECTIONS`). Other people appear
    only as `person_ref`: never their e-mail or anything else their profile does not show."""
    data: dict[str, Any] = {
        "exported_at": timezone.now().isoformat(),
        "profile": {
            "id": user.pk,
            "username": user.username,
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "display_name": user.display_name,
            "bio": user.bio,
            "avatar": user.avatar.name if user.avatar else None,
            "links": list(user.links or []),
            "topics": list(user.topics.order_by("slug").values_list("slug", flat=True)),
            "status": user.status,
            "invited_by": person_ref(user.invited_by),
            "invitation_quota": user.invitation_quota,
            "date_joined": _when(user.date_joined),
            "joined_at": _when(user.joined_at),
            "last_login": _when(user.last_login),
        },
        "email_addresses": _email_addresses(user),
        "two_factor": _two_factor(user),
        "notification_settings": {
            "email_event_reminders": user.email_event_reminders,
            "email_weekly_digest": user.email_weekly_digest,
        },
        # The push service address and user agent of each device; the keys stay out (they are
        # the device's, and a file of them could be used to write to it).
        "push_subscriptions": [
            {"endpoint": p.endpoint, "user_agent": p.user_agent, "created": _when(p.created)}
            for p in PushSubscription.objects.filter(user=user).order_by("pk")
        ],
        "following": [
            {"user": person_ref(f.followee), "since": _when(f.created)}
            for f in Follow.objects.filter(follower=user).select_related("followee")
        ],
        "followers": [
            {"user": person_ref(f.follower), "since": _when(f.created)}
            for f in Follow.objects.filter(followee=user).select_related("follower")
        ],
        "blocked": [
            {"user": person_ref(b.blocked), "since": _when(b.created)}
            for b in Block.objects.filter(blocker=user).select_related("blocked")
        ],
        "invitations_sent": [
            _invitation(i) for i in user.invitations_sent.select_related("accepted_by")
        ],
        "waitlist_vouches": [
            {"member": person_ref(v.member), "created": _when(v.created)}
            for v in WaitlistVouch.objects.filter(requester=user).select_related("member")
        ],
        "notifications": [
            {
                "kind": n.kind,
                "actor": person_ref(n.actor),
                "data": n.data,
                "created": _when(n.created),
                "read_at": _when(n.read_at),
            }
            for n in Notification.objects.filter(recipient=user).select_related("actor")
        ],
        "reports_made": [
            {
                "reported": person_ref(r.reported),
                "reason": r.reason,
                "text": r.text,
                "status": r.status,
                "created": _when(r.created),
            }
            for r in user.reports_made.select_related("reported")
        ],
        "beta_features": list(
            FeatureCohortMember.objects.filter(user=user).values_list("flag__key", flat=True)
        ),
        "feature_feedback": [
            {
                "feature": f.flag.key,
                "rating": f.rating,
                "text": f.text,
                "context": f.context,
                "status": f.status,
                "reply": f.reply,
                "created": _when(f.created),
            }
            for f in FeatureFeedback.objects.filter(user=user).select_related("flag")
        ],
    }
    for name, section in sorted(events.ACCOUNT_EXPORT_SECTIONS.items()):
        data[name] = section(user=user)
    return data


def _invitation(invitation: Invitation) -> dict[str, Any]:
    """An accepted invitation names the member it admitted, never their address (it is theirs
    now); a pending or revoked one shows the address the person typed."""
    accepted = invitation.status == Invitation.Status.ACCEPTED
    return {
        "status": invitation.status,
        "email": "" if accepted else invitation.email,
        "phone": "" if accepted else invitation.phone,
        "accepted_by": person_ref(invitation.accepted_by),
        "created": _when(invitation.created),
        "expires_at": _when(invitation.expires_at),
    }


def _email_addresses(user: User) -> list[dict[str, Any]]:
    return [
        {"email": a.email, "verified": a.verified, "primary": a.primary}
        for a in EmailAddress.objects.filter(user=user).order_by("-primary", "email")
    ]


def _two_factor(user: User) -> list[dict[str, Any]]:
    """Which second factors are on, never their secrets."""
    return [
        {"type": a.type, "created": _when(a.created_at), "last_used": _when(a.last_used_at)}
        for a in Authenticator.objects.filter(user=user).order_by("type")
    ]


def user_two_factor_enabled(user: User) -> bool:
    """TOTP is on (recovery codes alone do not count: they back TOTP up)."""
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


# --- the staff home (clubhouse/admin/) ---------------------------------------------------------


def reports_waiting() -> Attention:
    """Reports of members no one has handled yet: open until resolved, or until the reported
    person is banned (which resolves every open report of theirs)."""
    status = Report.Status.OPEN
    return Attention(
        count=Report.objects.filter(status=status).count(), filters={"status__exact": status}
    )


# --- feature flags ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureAccess:
    """Whether someone has a feature; when not, a stable `reason` (`feature_off`,
    `not_in_beta`, `login_required`). `beta` is true for a cohort member of a feature still in
    beta (the page shows a "Beta" label, the feature asks for feedback)."""

    allowed: bool
    reason: str | None = None
    beta: bool = False


def feature_access(key: str, user: Any) -> FeatureAccess:
    """A flag nobody created is open to everyone (the feature is not gated yet)."""
    flag = FeatureFlag.objects.filter(key=key).first()
    if flag is None:
        return FeatureAccess(allowed=True)
    if not flag.enabled:
        return FeatureAccess(allowed=False, reason="feature_off")
    if flag.everyone:
        return FeatureAccess(allowed=True)
    if user is None or not user.is_authenticated:
        return FeatureAccess(allowed=False, reason="login_required")
    if FeatureCohortMember.objects.filter(flag=flag, user_id=user.pk).exists():
        return FeatureAccess(allowed=True, beta=True)
    return FeatureAccess(allowed=False, reason="not_in_beta")


def members_joined_before(on: date | None) -> QuerySet[User, int]:
    """The members who joined before `on` (a beta cohort rule, registered at ready())."""
    assert on is not None  # the rule says it needs a date; the service checks
    return User.objects.filter(status=User.Status.MEMBER, joined_at__date__lt=on).values_list(
        "pk", flat=True
    )


def feature_cohort_size(flag: FeatureFlag) -> int:
    return flag.members.count()


def feature_feedback_weekly_counts(*, weeks: int = 8) -> list[dict[str, Any]]:
    """Feedback per ISO week (newest first) and feature: how many, how many still new, and the
    average rating; for staff (the feedback changelist's summary)."""
    since = timezone.now() - timedelta(weeks=weeks)
    rows = (
        FeatureFeedback.objects.filter(created__gte=since)
        .annotate(week=TruncWeek("created"))
        .values("week", "flag__key")
        .annotate(
            total=Count("id"),
            new=Count("id", filter=Q(status=FeatureFeedback.Status.NEW)),
            answered=Count("id", filter=Q(status=FeatureFeedback.Status.ANSWERED)),
            rating_sum=Sum("rating"),
        )
        .order_by("-week", "flag__key")
    )
    out = []
    for row in rows:
        week: date = row["week"].date() if hasattr(row["week"], "date") else row["week"]
        out.append({
            "week": week,
            "feature": row["flag__key"],
            "total": row["total"],
            "new": row["new"],
            "answered": row["answered"],
            "average_rating": round(row["rating_sum"] / row["total"], 1) if row["total"] else None,
        })  # fmt: skip
    return out


def profile_viewer_sections(*, user: User, viewer: Any) -> dict[str, Any]:
    """Other apps' parts of a profile that depend on who looks (`PROFILE_VIEWER_SECTIONS`),
    each under its name; the page and the REST profile both show them."""
    return {
        name: section(user=user, viewer=viewer)
        for name, section in events.PROFILE_VIEWER_SECTIONS.items()
    }


# --- staff actions (the staff audit list, an object's history) -----------------------------

_ADMIN_LOG_ACTIONS = {ADDITION: "admin_add", CHANGE: "admin_change", DELETION: "admin_delete"}
STAFF_ACTION_NAMES = sorted(
    {
        *AccountEvent.Kind.values,
        "report_resolved",
        "invitations_granted",
        "cohort_added",
        "feedback_answered",
        *_ADMIN_LOG_ACTIONS.values(),
    }
)


def _event_action(event: AccountEvent) -> StaffAction:
    data = event.data or {}
    return StaffAction(
        when=event.created,
        actor=event.actor,
        action=event.kind,
        source="accounts",
        app_label="accounts",
        model="user",
        object_id=str(event.user_id),
        subject=f"@{event.user}",
        reason=str(data.get("reason", "")),
        detail=event.get_kind_display(),
    )


def _report_action(report: Report) -> StaffAction:
    return StaffAction(
        when=report.resolved_at or report.created,
        actor=report.resolved_by,
        action="report_resolved",
        source="accounts",
        app_label="accounts",
        model="report",
        object_id=str(report.pk),
        subject=f"Report #{report.pk} about @{report.reported}",
        reason=report.resolution,
        detail=f"{report.get_reason_display()}: {report.text[:120]}".strip(": "),
    )


def _award_action(award: InvitationQuotaAward) -> StaffAction:
    return StaffAction(
        when=award.created,
        actor=award.granted_by,
        action="invitations_granted",
        source="accounts",
        app_label="accounts",
        model="user",
        object_id=str(award.user_id),
        subject=f"@{award.user}",
        reason=award.note,
        detail=f"+{award.amount} invitations ({award.reason_key})",
    )


def _log_action(entry: LogEntry) -> StaffAction:
    content_type = entry.content_type
    return StaffAction(
        when=entry.action_time,
        actor=entry.user,
        action=_ADMIN_LOG_ACTIONS.get(entry.action_flag, "admin_change"),
        source="admin",
        app_label=content_type.app_label if content_type else "",
        model=content_type.model if content_type else "",
        object_id=entry.object_id or "",
        subject=f"{content_type.name if content_type else 'object'} {entry.object_repr}",
        detail=entry.get_change_message(),
    )


def _cohort_batches(rows: Iterable[FeatureCohortMember]) -> list[StaffAction]:
    """People added to a beta cohort, one action per addition (a typed list, a CSV file, a
    rule adds many rows in one go: they share who, how and the second they were added)."""
    batches: dict[tuple[Any, ...], list[FeatureCohortMember]] = {}
    for row in rows:
        key = (row.flag_id, row.added_by_id, row.source, row.note,
               row.created.replace(microsecond=0))  # fmt: skip
        batches.setdefault(key, []).append(row)
    actions = []
    for batch in batches.values():
        batch.sort(key=lambda row: row.pk)  # in the order they were added
        first = batch[0]
        names = ", ".join(f"@{row.user}" for row in batch[:10])
        more = f" and {len(batch) - 10} more" if len(batch) > 10 else ""
        how = first.get_source_display() + (f" ({first.note})" if first.note else "")
        actions.append(StaffAction(
            when=first.created, actor=first.added_by, action="cohort_added", source="accounts",
            app_label="accounts", model="featureflag", object_id=str(first.flag_id),
            subject=f"Feature {first.flag}", detail=f"+{len(batch)}: {names}{more}; {how}",
        ))  # fmt: skip
    return actions


def _feedback_action(feedback: FeatureFeedback) -> StaffAction:
    return StaffAction(
        when=feedback.replied_at or feedback.created,
        actor=feedback.replied_by,
        action="feedback_answered",
        source="accounts",
        app_label="accounts",
        model="featurefeedback",
        object_id=str(feedback.pk),
        subject=f"Feedback #{feedback.pk} from @{feedback.user} on {feedback.flag}",
        detail=f"by {feedback.get_reply_channel_display().lower()}: {feedback.reply[:200]}",
    )


def feature_flag_staff_history(flag: Any) -> list[StaffAction]:
    rows = FeatureCohortMember.objects.filter(flag=flag, added_by__isnull=False)
    return _cohort_batches(rows.select_related("added_by", "user", "flag")[:1000])


def feature_feedback_staff_history(feedback: Any) -> list[StaffAction]:
    return [_feedback_action(feedback)] if feedback.replied_by_id else []


def staff_actions(wanted: StaffActionFilter) -> list[StaffAction]:
    """What staff did to people (bans, let-ins, deletions, invitations granted, reports
    resolved), to the betas (people added to a cohort, feedback answered) and every add,
    change and delete made through the admin's own forms."""
    found: list[StaffAction] = []
    if not wanted.action or wanted.action in AccountEvent.Kind.values:
        events = AccountEvent.objects.filter(actor__is_staff=True).select_related("actor", "user")
        found += map(_event_action, staff_window(events, wanted, actor="actor", when="created",
                                                 action="kind"))  # fmt: skip
    if wanted.action in {"", "report_resolved"}:
        reports = Report.objects.filter(resolved_by__isnull=False).select_related(
            "resolved_by", "reported"
        )
        found += map(_report_action, staff_window(reports, wanted, actor="resolved_by",
                                                  when="resolved_at"))  # fmt: skip
    if wanted.action in {"", "invitations_granted"}:
        awards = InvitationQuotaAward.objects.filter(granted_by__isnull=False).select_related(
            "granted_by", "user"
        )
        found += map(_award_action, staff_window(awards, wanted, actor="granted_by",
                                                 when="created"))  # fmt: skip
    if wanted.action in {"", "cohort_added"}:
        cohort = FeatureCohortMember.objects.filter(added_by__isnull=False).select_related(
            "added_by", "user", "flag"
        )
        found += _cohort_batches(staff_window(cohort, replace(wanted, limit=wanted.limit * 10),
                                              actor="added_by", when="created"))  # fmt: skip
    if wanted.action in {"", "feedback_answered"}:
        answered = FeatureFeedback.objects.filter(replied_by__isnull=False).select_related(
            "replied_by", "user", "flag"
        )
        found += map(_feedback_action, staff_window(answered, wanted, actor="replied_by",
                                                    when="replied_at"))  # fmt: skip
    flags = {flag for flag, name in _ADMIN_LOG_ACTIONS.items() if name == wanted.action}
    if not wanted.action or flags:
        log = LogEntry.objects.select_related("user", "content_type")
        if flags:
            log = log.filter(action_flag__in=flags)
        found += map(_log_action, staff_window(log, wanted, actor="user", when="action_time"))
    return found


def admin_log_for(obj: Any) -> list[StaffAction]:
    """Changes made to `obj` through the admin's own forms (Django's LogEntry)."""
    content_type = ContentType.objects.get_for_model(type(obj))
    entries = LogEntry.objects.filter(content_type=content_type, object_id=str(obj.pk))
    return [_log_action(e) for e in entries.select_related("user", "content_type")[:100]]


def user_staff_history(user: Any) -> list[StaffAction]:
    """A person's membership history (joined, let in, banned, deleted) and staff grants."""
    events = AccountEvent.objects.filter(user=user).select_related("actor", "user")[:100]
    awards = InvitationQuotaAward.objects.filter(user=user, granted_by__isnull=False)
    return [
        *map(_event_action, events),
        *map(_award_action, awards.select_related("granted_by", "user")[:100]),
    ]


def report_staff_history(report: Any) -> list[StaffAction]:
    return [_report_action(report)] if report.resolved_by_id else []


def staff_members() -> QuerySet[User]:
    """Everyone who is or was staff, for the staff audit list's "who" filter."""
    return User.objects.filter(is_staff=True).order_by("username")


def users_by_id(ids: Iterable[int]) -> dict[int, User]:
    """People by id, in one query (for rows that name someone by id, not by a foreign key)."""
    return User.objects.in_bulk(list(ids))
