from __future__ import annotations

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

    objects = MemberManager()  # type: ignore[misc]

    class Meta:
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
        CLUB = "club", "Club activity"
        MONEY = "money", "Money"

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
