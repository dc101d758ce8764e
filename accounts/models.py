from __future__ import annotations

from typing import ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import F, Q

from accounts.conf import invitation_default_quota


class Topic(models.Model):
    """An interest, shared by users, rooms and clubs; the hallway ranks by it."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=64)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MemberManager(UserManager["User"]):
    def create_superuser(self, username, email=None, password=None, **extra_fields):
        extra_fields.setdefault("status", User.Status.MEMBER)
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    class Status(models.TextChoices):
        # Signing up without an invitation lands on the waitlist: logged in, but only the
        # waitlist screen until a member lets them in.
        WAITLISTED = "waitlisted", "On the waitlist"
        MEMBER = "member", "Member"

    email = models.EmailField("email address", unique=True)
    display_name = models.CharField(max_length=64, blank=True)
    bio = models.TextField(max_length=1000, blank=True)
    avatar = models.ImageField(upload_to="avatars/", blank=True)
    links = models.JSONField(default=list, blank=True)
    topics = models.ManyToManyField(Topic, blank=True, related_name="users")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.WAITLISTED)
    invited_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="invitees"
    )
    invitation_quota = models.PositiveIntegerField(default=invitation_default_quota)
    joined_at = models.DateTimeField(null=True, blank=True, help_text="When they became a member.")
    # Set by `account_delete`: the row stays (money records point at it), anonymised.
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Notification settings (docs/accounts.md, "Notifications"): each kind of e-mail has its own switch,
    # turned off by the settings page, the API or the mail's one-click unsubscribe link.
    email_event_reminders = models.BooleanField(
        default=True, help_text="E-mail me when an event I RSVP'd or follow is about to start."
    )
    email_weekly_digest = models.BooleanField(
        default=True, help_text="E-mail me a weekly digest of what I missed."
    )
    # The last weekly digest sent: the next run skips anyone mailed within the week, so a
    # re-run (or two beats) never sends twice.
    digest_sent_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = MemberManager()  # type: ignore[misc]

    class Meta:
        # What a plain model permission cannot say (accounts.roles gives it to a role).
        permissions = [("ban_user", "Can ban a member (disable the account)")]
        constraints = [
            # The database-level guard: no race can spend an invitation that is not there.
            models.CheckConstraint(
                condition=Q(invitation_quota__gte=0), name="user_invitation_quota_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.username

    @property
    def is_member(self) -> bool:
        return self.is_active and self.status == self.Status.MEMBER

    @property
    def name(self) -> str:
        return self.display_name or self.username


class Follow(models.Model):
    follower = models.ForeignKey(User, on_delete=models.CASCADE, related_name="following_set")
    followee = models.ForeignKey(User, on_delete=models.CASCADE, related_name="follower_set")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["follower", "followee"], name="follow_once"),
            models.CheckConstraint(condition=~Q(follower=F("followee")), name="follow_not_self"),
        ]
        indexes = [models.Index(fields=["followee", "created"])]

    def __str__(self) -> str:
        return f"{self.follower} → {self.followee}"


class Block(models.Model):
    """A block hides each from the other and prevents follows, both ways."""

    blocker = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocking_set")
    blocked = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocked_by_set")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["blocker", "blocked"], name="block_once"),
            models.CheckConstraint(condition=~Q(blocker=F("blocked")), name="block_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.blocker} ⊘ {self.blocked}"


class Notification(models.Model):
    """Something that happened to a person: followed you, invitation accepted, room invite, ping."""

    class Kind(models.TextChoices):
        FOLLOWED = "followed", "Followed you"
        INVITATION_ACCEPTED = "invitation_accepted", "Accepted your invitation"
        WAITLIST_VOUCH = "waitlist_vouch", "Someone on the waitlist knows you"
        LET_IN = "let_in", "You were let in"
        ROOM_INVITE = "room_invite", "Invited you to a room"
        ROOM_PING = "room_ping", "Pinged you into a room"
        SPEAKER_INVITE = "speaker_invite", "Invited you to speak"
        EVENT_REMINDER = "event_reminder", "An event is starting"
        EVENT_COHOST = "event_cohost", "Co-hosting an event"
        ROOM_STARTED = "room_started", "Someone you follow started a room"
        CLUB = "club", "Club activity"
        MONEY = "money", "Money"
        FEEDBACK_REPLY = "feedback_reply", "Staff answered your feedback"

    recipient = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["recipient", "read_at", "-created"])]

    def __str__(self) -> str:
        return f"{self.kind} → {self.recipient}"


class PushSubscription(models.Model):
    """One browser (device) of a member that accepted Web Push: where to POST, and the keys to
    encrypt for it (RFC 8291). The endpoint is the push service's address for that browser, so
    it is unique; a browser that subscribes again replaces its row. Removed when the push
    service answers 404 or 410 (the subscription expired or was revoked)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="push_subscriptions")
    endpoint = models.URLField(max_length=2048, unique=True)
    p256dh = models.CharField(max_length=128)
    auth = models.CharField(max_length=64)
    user_agent = models.CharField(max_length=256, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    last_success_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"push → {self.user}"


class Invitation(models.Model):
    """A single-use, expiring invitation link. Only a hash of the token is stored, so a leaked
    database cannot be turned into working links.

    Transitions (one service each, all locking the row): PENDING → ACCEPTED
    (`invitation_accept`), PENDING → REVOKED (`invitation_revoke`, refunds the quota).
    Expiry is a deadline, not a stored state: a pending invitation past `expires_at` can no
    longer be accepted, but its inviter can still revoke it to get the invitation back.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        REVOKED = "revoked", "Revoked"

    inviter = models.ForeignKey(User, on_delete=models.CASCADE, related_name="invitations_sent")
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=32, blank=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_by = models.OneToOneField(
        User,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="invitation_accepted",
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(email="", phone=""), name="invitation_has_email_or_phone"
            ),
        ]
        indexes = [models.Index(fields=["inviter", "status"])]

    def __str__(self) -> str:
        return f"{self.inviter} → {self.email or self.phone} ({self.status})"

    @property
    def is_expired(self) -> bool:
        from django.utils import timezone

        return self.status == self.Status.PENDING and self.expires_at <= timezone.now()


class InvitationQuotaAward(models.Model):
    """The ledger of invitations added to a quota: staff grants and activity awards.

    `(user, reason_key)` is unique, which is what makes `invitation_quota_award` idempotent:
    the same reason can never pay twice (see docs/accounts.md for the rules).
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="quota_awards")
    reason_key = models.CharField(max_length=128)
    amount = models.PositiveIntegerField()
    granted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)  # a staff grant's reason
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "reason_key"], name="quota_award_once"),
        ]

    def __str__(self) -> str:
        return f"+{self.amount} {self.user} ({self.reason_key})"


class WaitlistVouch(models.Model):
    """A waitlisted person names a member they know; the member can let them in."""

    requester = models.ForeignKey(User, on_delete=models.CASCADE, related_name="vouches_asked")
    member = models.ForeignKey(User, on_delete=models.CASCADE, related_name="vouches_received")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["requester", "member"], name="vouch_once"),
            models.CheckConstraint(condition=~Q(requester=F("member")), name="vouch_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.requester} asks {self.member}"


class Report(models.Model):
    """A member reports another; staff review in admin (resolve, or ban the reported user).

    Transitions: OPEN → RESOLVED (`report_resolve`, or `user_ban` for every open report
    about the banned person).
    """

    class Reason(models.TextChoices):
        SPAM = "spam", "Spam"
        HARASSMENT = "harassment", "Harassment or bullying"
        HATE = "hate", "Hate speech"
        IMPERSONATION = "impersonation", "Impersonation"
        INAPPROPRIATE = "inappropriate", "Inappropriate content"
        OTHER = "other", "Something else"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    reporter = models.ForeignKey(User, on_delete=models.CASCADE, related_name="reports_made")
    reported = models.ForeignKey(User, on_delete=models.CASCADE, related_name="reports_received")
    reason = models.CharField(max_length=32, choices=Reason.choices)
    text = models.TextField(max_length=2000, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created = models.DateTimeField(auto_now_add=True)
    resolved_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Why staff resolved it (the reason they gave, or the ban's reason), in their words.
    resolution = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(reporter=F("reported")), name="report_not_self"),
        ]
        indexes = [models.Index(fields=["status", "created"])]

    def __str__(self) -> str:
        return f"{self.reporter} reported {self.reported} ({self.reason})"


class AccountEvent(models.Model):
    """Append-only audit of membership transitions: who joined how and by whose hand, who was
    banned. Written by the services in the same transaction as the change."""

    class Kind(models.TextChoices):
        JOINED_BY_INVITATION = "joined_by_invitation", "Joined with an invitation"
        LET_IN_BY_MEMBER = "let_in_by_member", "Let in by a member"
        LET_IN_BY_STAFF = "let_in_by_staff", "Let in by staff"
        BANNED = "banned", "Banned"
        DELETED = "deleted", "Account deleted"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="account_events")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created", "-id"]
        # The staff audit list (clubhouse.staff_audit) merges every app's staff actions.
        permissions = [("view_staff_audit", "Can see the staff audit list")]

    def __str__(self) -> str:
        return f"{self.user} {self.kind}"


# --------------------------------------------------------------------------------------------
# Feature flags and beta cohorts (accounts/services/flags.py writes them; any app reads them
# through accounts.selectors.feature_access)
# --------------------------------------------------------------------------------------------


class FeatureFlag(models.Model):
    """A feature that can be switched off, limited to a beta cohort, or open to everyone."""

    key = models.SlugField(max_length=64, unique=True, help_text="The name the code asks for.")
    name = models.CharField(max_length=100)
    enabled = models.BooleanField(
        default=True, help_text="The on/off switch: off, nobody has the feature."
    )
    everyone = models.BooleanField(
        default=False,
        help_text="On: every member has the feature (the beta is over). Off: only the cohort.",
    )
    cohort_cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="The most people the cohort may hold; empty = no cap."
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name or self.key


class FeatureCohortMember(models.Model):
    class Source(models.TextChoices):
        MANUAL = "manual", "Added by staff"
        CSV = "csv", "CSV upload"
        RULE = "rule", "Rule"

    flag = models.ForeignKey(FeatureFlag, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="feature_cohorts")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    note = models.CharField(max_length=200, blank=True, help_text="Which rule or file.")
    added_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["flag", "user"], name="feature_cohort_member_once")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.flag}"


class FeatureFeedback(models.Model):
    """What a cohort member says about a beta feature, with the context the client attached."""

    class Status(models.TextChoices):
        NEW = "new", "New"
        READ = "read", "Read"
        ANSWERED = "answered", "Answered"

    TRANSITIONS: ClassVar[dict[str, set[str]]] = {
        Status.NEW: {Status.READ, Status.ANSWERED},
        Status.READ: {Status.ANSWERED},
        Status.ANSWERED: {Status.ANSWERED},  # a second answer is another reply
    }

    class Channel(models.TextChoices):
        EMAIL = "email", "E-mail"
        NOTIFICATION = "notification", "Notification"

    flag = models.ForeignKey(FeatureFlag, on_delete=models.PROTECT, related_name="feedback")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="feature_feedback")
    rating = models.PositiveSmallIntegerField()
    text = models.TextField(blank=True)
    context = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    reply = models.TextField(blank=True)
    reply_channel = models.CharField(max_length=16, choices=Channel.choices, blank=True)
    replied_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    replied_at = models.DateTimeField(null=True, blank=True)
    read_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name_plural = "feature feedback"
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__gte=1, rating__lte=5), name="feature_feedback_rating_1_5"
            )
        ]

    def __str__(self) -> str:
        return f"{self.flag.key} feedback from {self.user} ({self.rating}/5)"
