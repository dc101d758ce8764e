"""Rooms: the live stage, who is in it, who may not come back, and scheduled events.

State machines:
- Room.status: live → ended, nothing else (a room is never paused; nothing is recorded).
- RoomParticipant.role: listener ⇄ speaker ⇄ moderator (stage = speaker or moderator); a pending
  speaker invite and a raised hand only exist for listeners.
Every transition is a service in rooms/services.py holding the room row lock.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from rooms.conf import room_default_capacity

PINNED_URL_MAX_LENGTH = 500
PINNED_TITLE_MAX_LENGTH = 80


def share_token_new() -> str:
    return secrets.token_urlsafe(12)


class Room(models.Model):
    class Type(models.TextChoices):
        OPEN = "open", "Open: anyone"
        SOCIAL = "social", "Social: people followed by a speaker"
        CLOSED = "closed", "Closed: invited people only"

    class Status(models.TextChoices):
        LIVE = "live", "Live"
        ENDED = "ended", "Ended"

    # The only legal moves; services refuse anything else.
    TRANSITIONS: dict[str, set[str]] = {Status.LIVE: {Status.ENDED}, Status.ENDED: set()}

    class HandRaisePolicy(models.TextChoices):
        OFF = "off", "Off"
        EVERYONE = "everyone", "Everyone"
        FOLLOWED_BY_SPEAKERS = "followed_by_speakers", "Only people followed by a speaker"

    title = models.CharField(max_length=120, blank=True)
    topics = models.ManyToManyField("accounts.Topic", blank=True, related_name="rooms")
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.OPEN)
    club = models.ForeignKey(
        "clubs.Club", null=True, blank=True, on_delete=models.SET_NULL, related_name="rooms"
    )
    members_only = models.BooleanField(
        default=False, help_text="Club rooms only: only the club's members may join."
    )
    capacity = models.PositiveIntegerField(default=room_default_capacity)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.LIVE)
    hand_raise_policy = models.CharField(
        max_length=24, choices=HandRaisePolicy.choices, default=HandRaisePolicy.EVERYONE
    )
    # Per-room sequence number of stage events; bumped under the room row lock.
    seq = models.BigIntegerField(default=0)
    share_token = models.CharField(max_length=32, unique=True, default=share_token_new)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="rooms_created"
    )
    created = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=32, blank=True)
    # The link a moderator pinned for everyone in the room (empty: none); set and cleared only
    # by `room_pinned_link_set` / `room_pinned_link_clear`, which validate it (http/https).
    pinned_url = models.CharField(max_length=PINNED_URL_MAX_LENGTH, blank=True)
    pinned_title = models.CharField(max_length=PINNED_TITLE_MAX_LENGTH, blank=True)
    pinned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    pinned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["status", "-created"])]
        constraints = [
            models.CheckConstraint(
                condition=(Q(status="live", ended_at__isnull=True))
                | (Q(status="ended", ended_at__isnull=False)),
                name="room_ended_at_iff_ended",
            ),
            models.CheckConstraint(condition=Q(capacity__gte=1), name="room_capacity_positive"),
            models.CheckConstraint(condition=Q(seq__gte=0), name="room_seq_non_negative"),
            models.CheckConstraint(
                condition=~Q(pinned_url="") | Q(pinned_title="", pinned_at__isnull=True),
                name="room_pinned_title_only_with_url",
            ),
        ]

    def __str__(self) -> str:
        return self.title or f"Room {self.pk}"

    @property
    def is_live(self) -> bool:
        return self.status == self.Status.LIVE


class RoomReport(models.Model):
    """A member reports a room; staff review it in admin, next to user and club reports.

    OPEN → ACTIONED | DISMISSED (`room_report_review`); a closed report stays closed. One report
    per member and room: reporting again is refused (`room_already_reported`).
    """

    class Reason(models.TextChoices):
        SPAM = "spam", "Spam or scam"
        HARASSMENT = "harassment", "Harassment or bullying"
        HATE = "hate", "Hate speech"
        MISINFORMATION = "misinformation", "Harmful misinformation"
        INAPPROPRIATE = "inappropriate", "Inappropriate content"
        OTHER = "other", "Something else"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACTIONED = "actioned", "Actioned"
        DISMISSED = "dismissed", "Dismissed"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="reports")
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
    resolution = models.CharField(max_length=500, blank=True)  # why, in the reviewer's words

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["status", "-created"])]
        constraints = [
            models.UniqueConstraint(fields=["room", "reporter"], name="room_report_once"),
        ]

    def __str__(self) -> str:
        return f"report on {self.room} ({self.status})"


class RoomParticipant(models.Model):
    """A person currently in a room. Leaving deletes the row (nothing is kept about who listened)."""

    class Role(models.TextChoices):
        MODERATOR = "moderator", "Moderator"
        SPEAKER = "speaker", "Speaker"
        LISTENER = "listener", "Listener"

    STAGE_ROLES = (Role.MODERATOR, Role.SPEAKER)

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="room_participations"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.LISTENER)
    joined_at = models.DateTimeField(auto_now_add=True)
    stage_since = models.DateTimeField(null=True, blank=True)
    hand_raised_at = models.DateTimeField(null=True, blank=True)
    muted = models.BooleanField(default=True)
    speaker_invited_at = models.DateTimeField(null=True, blank=True)
    speaker_invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="room_participant_once"),
            models.CheckConstraint(
                condition=(Q(role="listener", stage_since__isnull=True))
                | (Q(role__in=["moderator", "speaker"], stage_since__isnull=False)),
                name="room_participant_stage_since_iff_on_stage",
            ),
            models.CheckConstraint(
                condition=Q(role="listener")
                | Q(hand_raised_at__isnull=True, speaker_invited_at__isnull=True),
                name="room_participant_hand_and_invite_only_for_listeners",
            ),
        ]
        indexes = [models.Index(fields=["room", "role", "id"])]

    def __str__(self) -> str:
        return f"{self.user} in {self.room} ({self.role})"

    @property
    def on_stage(self) -> bool:
        return self.role in self.STAGE_ROLES


class RoomEventLog(models.Model):
    """The room's journal: every sequenced stage event, in the transaction that caused it.

    Append-only. It is the moderation audit trail (who muted, removed, ended, ...) and holds the
    database's guarantee that a room's sequence numbers are unique. It records decisions, never
    audio or who listened.
    """

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="event_log")
    seq = models.BigIntegerField()
    type = models.CharField(max_length=48)
    data = models.JSONField(default=dict)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["room", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="room_event_log_seq_once"),
        ]

    def __str__(self) -> str:
        return f"{self.room_id}#{self.seq} {self.type}"


class RoomRemoval(models.Model):
    """Removed from a room by a moderator: they cannot rejoin that room."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="removals")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="room_removal_once"),
        ]

    def __str__(self) -> str:
        return f"{self.user} removed from {self.room}"


class RoomInvite(models.Model):
    """An invitation into a room (closed rooms admit only these) or a ping to come listen."""

    class Kind(models.TextChoices):
        INVITE = "invite", "Invite"
        PING = "ping", "Ping"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="invites")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="room_invites"
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.PING)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="room_invite_once"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.user} → {self.room}"


class RoomVisit(models.Model):
    """Who has been in a room (RoomParticipant rows go when people leave). Kept for what
    outlives a visit: Send Money eligibility ("shared a room in the last 10 days") and
    creators' audience figures. Never anything said: nothing is recorded."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="visits")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="room_visits"
    )
    first_joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "user"], name="room_visit_once")]
        indexes = [models.Index(fields=["user", "first_joined_at"])]

    def __str__(self) -> str:
        return f"{self.user} in {self.room}"


class ScheduledEvent(models.Model):
    title = models.CharField(max_length=120)
    description = models.TextField(max_length=2000, blank=True)
    starts_at = models.DateTimeField(db_index=True)
    hosts = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="hosted_events")
    club = models.ForeignKey(
        "clubs.Club", null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    members_only = models.BooleanField(
        default=False,
        help_text="Club events only: only members (with premium in an exclusive club) see it.",
    )
    topics = models.ManyToManyField("accounts.Topic", blank=True, related_name="events")
    # RSVPs stop at `capacity` (`event_full`) and the event's room opens with it as its cap;
    # None: no cap beyond a room's default.
    capacity = models.PositiveIntegerField(null=True, blank=True)
    # The type the event's room opens as (hosts may still choose another when starting it).
    room_type = models.CharField(max_length=16, choices=Room.Type.choices, default=Room.Type.OPEN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    room = models.ForeignKey(
        Room, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(capacity__isnull=True) | Q(capacity__gte=1),
                name="event_capacity_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class EventRSVP(models.Model):
    event = models.ForeignKey(ScheduledEvent, on_delete=models.CASCADE, related_name="rsvps")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="event_rsvps"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "user"], name="event_rsvp_once"),
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.event}"


class EventCohostInvite(models.Model):
    """A host asks a member to co-host an event. The member is a host only once they accept;
    until then nothing about the event is theirs (no stage, no moderator role, no free seat).

    PENDING → ACCEPTED | DECLINED | REVOKED; ACCEPTED → REVOKED (taken off the hosts);
    REVOKED → PENDING (asked again). A decline is final for that event: asking again is refused
    (`cohost_declined`), so nobody is pestered. Every move is a service in
    rooms/schedule_services.py holding the event's row lock."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for an answer"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        REVOKED = "revoked", "Withdrawn"

    event = models.ForeignKey(
        ScheduledEvent, on_delete=models.CASCADE, related_name="cohost_invites"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="event_cohost_invites"
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created = models.DateTimeField(auto_now_add=True)
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "user"], name="event_cohost_invite_once"),
        ]

    def __str__(self) -> str:
        return f"co-host {self.user} → {self.event} ({self.status})"
