"""Clubs: communities with roles, nominations, requests, follows and premium (paid) access.

The transitions of every stateful model here live in `clubs.services`; the read-side rules
(who may do what, who may enter a club room) live in `clubs.selectors`.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import models
from django.db.models import Q

from clubhouse.images import image_sanitize
from clubs import conf


def club_photo_clean(photo: File) -> ContentFile:
    """A club photo is a real JPEG, PNG or WebP image of at most CLUBS_PHOTO_MAX_BYTES; the
    stored copy is re-encoded without metadata under a random name (clubhouse/images.py)."""
    return image_sanitize(
        photo, max_bytes=conf.photo_max_bytes(), code_prefix="photo", noun="photo"
    )


def validate_club_photo(photo: File) -> None:
    club_photo_clean(photo)


class Club(models.Model):
    """A community. Rooms point here (a club room is started "within" a club)."""

    class FollowPolicy(models.TextChoices):
        ANYONE = "anyone", "Anyone can follow"
        NOBODY = "nobody", "Nobody can follow (members only)"

    class JoinPolicy(models.TextChoices):
        OPEN = "open", "Anyone can join"
        REQUEST = "request", "By request (approved by an admin or leader)"
        NOMINATION = "nomination", "By nomination (members nominate, admins approve)"

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    rules = models.TextField(blank=True)
    topics = models.ManyToManyField("accounts.Topic", blank=True, related_name="clubs")
    photo = models.ImageField(upload_to="clubs/", blank=True, validators=[validate_club_photo])
    follow_policy = models.CharField(
        max_length=16, choices=FollowPolicy.choices, default=FollowPolicy.ANYONE
    )
    join_policy = models.CharField(
        max_length=16, choices=JoinPolicy.choices, default=JoinPolicy.NOMINATION
    )
    member_list_private = models.BooleanField(default=False)
    is_exclusive = models.BooleanField(
        default=False,
        help_text="Members-only rooms and events also require an active premium membership.",
    )
    is_verified = models.BooleanField(default=False, help_text="Verification badge (staff only).")
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class ClubMembership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        LEADER = "leader", "Leader"
        MEMBER = "member", "Member"

    club = models.ForeignKey(Club, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="club_memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["joined_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["club", "user"], name="club_membership_once"),
        ]
        indexes = [models.Index(fields=["club", "role"])]

    def __str__(self) -> str:
        return f"{self.user} in {self.club} ({self.role})"


class ClubFollow(models.Model):
    club = models.ForeignKey(Club, on_delete=models.CASCADE, related_name="follows")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="club_follows"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["club", "user"], name="club_follow_once")]

    def __str__(self) -> str:
        return f"{self.user} follows {self.club}"


class DecisionStatus(models.TextChoices):
    """Nominations and membership requests share one small state machine."""

    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"


# pending → approved | rejected | withdrawn; the three end states are final.
DECISION_TRANSITIONS: dict[str, set[str]] = {
    DecisionStatus.PENDING: {
        DecisionStatus.APPROVED,
        DecisionStatus.REJECTED,
        DecisionStatus.WITHDRAWN,
    },
    DecisionStatus.APPROVED: set(),
    DecisionStatus.REJECTED: set(),
    DecisionStatus.WITHDRAWN: set(),
}


class Decision(models.Model):
    """What nominations and membership requests share: the decision state machine above."""

    Status = DecisionStatus

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        abstract = True
        ordering = ["-created", "-id"]


class ClubNomination(Decision):
    """A member proposes someone; a club admin approves (they become a member) or rejects."""

    club = models.ForeignKey(Club, on_delete=models.CASCADE, related_name="nominations")
    nominee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="club_nominations"
    )
    nominated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)

    class Meta(Decision.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["club", "nominee"],
                condition=Q(status="pending"),
                name="club_nomination_one_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.nominee} for {self.club} ({self.status})"


class ClubMembershipRequest(Decision):
    """Someone asks to join a club whose join policy is "request"."""

    club = models.ForeignKey(Club, on_delete=models.CASCADE, related_name="membership_requests")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="club_membership_requests"
    )
    message = models.CharField(max_length=500, blank=True)

    class Meta(Decision.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["club", "user"],
                condition=Q(status="pending"),
                name="club_request_one_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} asks to join {self.club} ({self.status})"


class PremiumMembership(models.Model):
    """Paid (or staff-granted) access to an exclusive club's members-only rooms and events.

    The access rule is `clubs.selectors.club_premium_access`; the payouts app drives
    subscription rows through `clubs.services.premium_membership_sync` only.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAST_DUE = "past_due", "Past due (in grace)"
        CANCELED = "canceled", "Canceled"
        EXPIRED = "expired", "Expired"

    class Source(models.TextChoices):
        STAFF_GRANT = "staff_grant", "Granted by staff"
        SUBSCRIPTION = "subscription", "Subscription"

    club = models.ForeignKey(Club, on_delete=models.CASCADE, related_name="premium_memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="club_premium_memberships"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    source = models.CharField(max_length=16, choices=Source.choices)
    current_period_end = models.DateTimeField(
        null=True, blank=True, help_text="Access ends here (empty: no end, e.g. a staff grant)."
    )
    grace_until = models.DateTimeField(
        null=True, blank=True, help_text="While past due, access continues until this moment."
    )
    provider_subscription_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["club", "user"], name="club_premium_once"),
        ]
        indexes = [models.Index(fields=["status", "current_period_end"])]

    def __str__(self) -> str:
        return f"{self.user} premium in {self.club} ({self.status})"


class ClubReport(models.Model):
    class Reason(models.TextChoices):
        SPAM = "spam", "Spam or scam"
        HARASSMENT = "harassment", "Harassment or hate"
        IMPERSONATION = "impersonation", "Impersonation"
        INAPPROPRIATE = "inappropriate", "Inappropriate content"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACTIONED = "actioned", "Actioned"
        DISMISSED = "dismissed", "Dismissed"

    club = models.ForeignKey(Club, on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=32, choices=Reason.choices)
    text = models.TextField(max_length=2000, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created = models.DateTimeField(auto_now_add=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["status", "-created"])]

    def __str__(self) -> str:
        return f"report on {self.club} ({self.status})"


class ClubAuditEntry(models.Model):
    """Append-only: who changed what in a club (roles, decisions, premium, verification)."""

    club = models.ForeignKey(Club, on_delete=models.CASCADE, related_name="audit_entries")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=64)
    target = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name_plural = "club audit entries"

    def __str__(self) -> str:
        return f"{self.action} in {self.club}"
