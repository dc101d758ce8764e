"""API shapes for accounts. Input serializers parse; services decide; output serializers render."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from accounts.models import Invitation, Notification, Report, User, WaitlistVouch
from accounts.selectors import user_email_verified
from accounts.validators import validate_avatar, validate_links


class UserSummarySerializer(serializers.ModelSerializer):
    display_name = serializers.CharField(source="name")
    avatar = serializers.ImageField(allow_null=True, use_url=True)

    class Meta:
        model = User
        fields = ["id", "username", "display_name", "avatar"]


class RelationshipSerializer(serializers.Serializer):
    follows = serializers.BooleanField(help_text="The viewer follows this person.")
    followed_by = serializers.BooleanField(help_text="This person follows the viewer.")
    mutual = serializers.BooleanField()


class ProfileSerializer(serializers.ModelSerializer):
    """A profile as someone sees it (context: `counts`, `relationship`)."""

    avatar = serializers.ImageField(allow_null=True, use_url=True)
    topics = serializers.SerializerMethodField()
    nominated_by = UserSummarySerializer(source="invited_by", allow_null=True, read_only=True)
    followers_count = serializers.SerializerMethodField()
    following_count = serializers.SerializerMethodField()
    relationship = serializers.SerializerMethodField()
    # Money (filled by payouts through accounts.events.PROFILE_VIEWER_SECTIONS["money"]).
    can_receive_money = serializers.SerializerMethodField(
        help_text="This person can receive money (a creator with Send Money on)."
    )
    receive_money_reason = serializers.SerializerMethodField(
        help_text="On your own profile only: why you cannot receive money (not_in_program, "
        "turned_off_by_staff, turned_off_by_creator, payouts_not_set_up); null otherwise."
    )
    can_send_money = serializers.SerializerMethodField(
        help_text="You may send this person money: show the Send Money button."
    )
    send_money_reason = serializers.SerializerMethodField(
        help_text="Why not, when can_send_money is false: self, creator_cannot_receive, "
        "not_in_beta (Send Money is a beta and you are not in its group), feature_off."
    )
    send_money_beta = serializers.SerializerMethodField(
        help_text='Send Money is a beta for you: label it "Beta" and offer feedback.'
    )

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "display_name",
            "bio",
            "avatar",
            "links",
            "topics",
            "nominated_by",
            "joined_at",
            "followers_count",
            "following_count",
            "relationship",
            "can_receive_money",
            "receive_money_reason",
            "can_send_money",
            "send_money_reason",
            "send_money_beta",
        ]

    def _money(self) -> dict[str, Any]:
        return dict(self.context.get("sections", {}).get("money") or {})

    def get_can_receive_money(self, obj: User) -> bool:
        return bool(self._money().get("can_receive_money", False))

    def get_receive_money_reason(self, obj: User) -> str | None:
        return self._money().get("receive_money_reason")

    def get_can_send_money(self, obj: User) -> bool:
        return bool(self._money().get("can_send_money", False))

    def get_send_money_reason(self, obj: User) -> str | None:
        return self._money().get("send_money_reason")

    def get_send_money_beta(self, obj: User) -> bool:
        return bool(self._money().get("send_money_beta", False))

    def get_topics(self, obj: User) -> list[str]:
        return [topic.slug for topic in obj.topics.all()]

    def get_followers_count(self, obj: User) -> int:
        return int(self.context["counts"]["followers"])

    def get_following_count(self, obj: User) -> int:
        return int(self.context["counts"]["following"])

    def get_relationship(self, obj: User) -> dict[str, bool] | None:
        return self.context.get("relationship")


class MeSerializer(ProfileSerializer):
    status = serializers.CharField(help_text="member or waitlisted")
    email_verified = serializers.SerializerMethodField(
        help_text="Whether the address is confirmed. Until it is, inviting, letting in, tipping "
        "and joining answer 403 email_unverified; allauth re-sends the confirmation mail "
        "(PUT /_allauth/{client}/v1/account/email with the address)."
    )

    class Meta(ProfileSerializer.Meta):
        fields = [
            *ProfileSerializer.Meta.fields,
            "email",
            "email_verified",
            "status",
            "invitation_quota",
        ]

    def get_email_verified(self, obj: User) -> bool:
        return user_email_verified(obj)


class ProfileUpdateSerializer(serializers.Serializer):
    display_name = serializers.CharField(max_length=64, allow_blank=True, required=False)
    bio = serializers.CharField(max_length=1000, allow_blank=True, required=False)
    links = serializers.ListField(
        child=serializers.CharField(max_length=500), max_length=5, required=False
    )
    topics = serializers.ListField(child=serializers.SlugField(), max_length=20, required=False)
    avatar = serializers.FileField(
        allow_null=True, required=False, help_text="JPEG, PNG or WebP, at most 2 MiB."
    )

    def validate_links(self, value: list[str]) -> list[str]:
        try:
            return validate_links(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc

    def validate_avatar(self, value: Any) -> Any:
        if value is None:
            return None
        try:
            validate_avatar(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs and not self.initial_data:
            raise serializers.ValidationError("Send at least one field to change.")
        return attrs


class ReportInputSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=Report.Reason.choices)
    text = serializers.CharField(max_length=2000, allow_blank=True, required=False, default="")


class ReportSerializer(serializers.ModelSerializer):
    status = serializers.CharField(help_text="open or resolved")

    class Meta:
        model = Report
        fields = ["id", "reason", "text", "status", "created"]


class NotificationSerializer(serializers.ModelSerializer):
    actor = UserSummarySerializer(allow_null=True)
    read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "actor", "data", "created", "read_at", "read"]

    def get_read(self, obj: Notification) -> bool:
        return obj.read_at is not None


class UnreadCountSerializer(serializers.Serializer):
    unread = serializers.IntegerField()


class MarkedSerializer(serializers.Serializer):
    marked = serializers.IntegerField()


class InvitationCreateSerializer(serializers.Serializer):
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    phone = serializers.RegexField(
        r"^\+?[0-9 ()-]{5,31}$",
        required=False,
        allow_blank=True,
        default="",
        error_messages={"invalid": "Enter a phone number (digits, spaces, +, -, parentheses)."},
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("email") and not attrs.get("phone"):
            raise serializers.ValidationError(
                {"email": ["Give an e-mail address or a phone number."]}
            )
        return attrs


class InvitationSerializer(serializers.ModelSerializer):
    status = serializers.CharField(help_text="pending, accepted or revoked")
    expired = serializers.BooleanField(source="is_expired")
    accepted_by = UserSummarySerializer(allow_null=True)

    class Meta:
        model = Invitation
        fields = [
            "id",
            "email",
            "phone",
            "status",
            "expired",
            "created",
            "expires_at",
            "accepted_by",
            "accepted_at",
        ]


class InvitationCreatedSerializer(InvitationSerializer):
    link = serializers.SerializerMethodField(help_text="Shown once: only a hash is stored.")

    class Meta(InvitationSerializer.Meta):
        fields = [*InvitationSerializer.Meta.fields, "link"]

    def get_link(self, obj: Invitation) -> str:
        return str(self.context["link"])


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=200)


class UsernameSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)


class LetInSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("username")) == bool(attrs.get("email")):
            raise serializers.ValidationError(
                {"username": ["Give either a username or an e-mail address."]}
            )
        return attrs


class LetInResultSerializer(serializers.Serializer):
    let_in = serializers.BooleanField(
        help_text="True when someone waiting on the waitlist was let in now. False, alike, for "
        "everyone else: nobody by that name or address, a member, a disabled account, or "
        "someone hidden by a block."
    )
    invitation_quota = serializers.IntegerField(help_text="Your invitations left.")


class VouchSerializer(serializers.ModelSerializer):
    requester = UserSummarySerializer()
    member = UserSummarySerializer()

    class Meta:
        model = WaitlistVouch
        fields = ["id", "requester", "member", "created"]


class InvitationPreviewSerializer(serializers.Serializer):
    inviter = UserSummarySerializer()
    expires_at = serializers.DateTimeField()


class AccountErrorSerializer(serializers.Serializer):
    """The project's error shape: {"error": {"code", "message", "fields"}}."""

    error = inline_serializer(
        "AccountErrorDetail",
        fields={
            "code": serializers.CharField(),
            "message": serializers.CharField(),
            "fields": serializers.DictField(child=serializers.ListField()),
        },
    )


class AccountDeleteSerializer(serializers.Serializer):
    password = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=4096,
        trim_whitespace=False,
        help_text="Your password (accounts that have one).",
    )
    confirm = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=150,
        help_text="Accounts without a password: your username, as confirmation.",
    )


class AccountExportSerializer(serializers.Serializer):
    """Everything kept about you; the sections are documented in docs/accounts.md."""

    exported_at = serializers.DateTimeField()
    profile = serializers.DictField()
    email_addresses = serializers.ListField(child=serializers.DictField())
    two_factor = serializers.ListField(child=serializers.DictField())
    following = serializers.ListField(child=serializers.DictField())
    followers = serializers.ListField(child=serializers.DictField())
    blocked = serializers.ListField(child=serializers.DictField())
    invitations_sent = serializers.ListField(child=serializers.DictField())
    waitlist_vouches = serializers.ListField(child=serializers.DictField())
    notifications = serializers.ListField(child=serializers.DictField())
    reports_made = serializers.ListField(child=serializers.DictField())
    beta_features = serializers.ListField(
        child=serializers.CharField(), help_text="the features whose beta cohort you are in"
    )
    feature_feedback = serializers.ListField(child=serializers.DictField())
    rooms = serializers.DictField()
    clubs = serializers.DictField()
    money = serializers.DictField()


class ProfileUpdateJSONSerializer(ProfileUpdateSerializer):
    """The JSON form of a profile update, for the schema: a file travels only in multipart (JSON
    may still send `"avatar": null` to remove it)."""

    avatar = None  # type: ignore[assignment]


# --- notification settings and Web Push -------------------------------------------------------
class NotificationSettingsSerializer(serializers.Serializer):
    """Which mails you get; each also has a one-click unsubscribe link in the mail itself."""

    email_event_reminders = serializers.BooleanField(
        required=False, help_text="A mail when an event you RSVP'd or follow is about to start."
    )
    email_weekly_digest = serializers.BooleanField(
        required=False, help_text="A weekly mail of what you missed."
    )


class PushKeysSerializer(serializers.Serializer):
    p256dh = serializers.RegexField(
        r"^[A-Za-z0-9_-]{80,100}={0,2}$",
        help_text="The browser's P-256 public key, base64url (PushSubscription.getKey('p256dh')).",
        error_messages={"invalid": "A base64url P-256 public key (87 characters)."},
    )
    auth = serializers.RegexField(
        r"^[A-Za-z0-9_-]{16,24}={0,2}$",
        help_text="The 16-byte auth secret, base64url (PushSubscription.getKey('auth')).",
        error_messages={"invalid": "A base64url 16-byte secret (22 characters)."},
    )


class PushSubscriptionCreateSerializer(serializers.Serializer):
    """What the browser's PushSubscription.toJSON() gives (its `expirationTime` is ignored)."""

    endpoint = serializers.URLField(max_length=2048)
    keys = PushKeysSerializer()
    expirationTime = serializers.IntegerField(required=False, allow_null=True)


class PushUnsubscribeSerializer(serializers.Serializer):
    # Any string: an endpoint that was never stored is simply not there (`removed: 0`).
    endpoint = serializers.CharField(max_length=2048)


class PushSubscriptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    endpoint = serializers.URLField()
    user_agent = serializers.CharField()
    created = serializers.DateTimeField()
    last_success_at = serializers.DateTimeField(allow_null=True)


class PushSubscriptionListSerializer(serializers.Serializer):
    results = PushSubscriptionSerializer(many=True)


class PushKeySerializer(serializers.Serializer):
    enabled = serializers.BooleanField(help_text="false: this server has no VAPID keys set.")
    public_key = serializers.CharField(
        help_text="The VAPID public key (base64url) for pushManager.subscribe's "
        "applicationServerKey; empty when push is off."
    )


class RemovedSerializer(serializers.Serializer):
    removed = serializers.IntegerField()
