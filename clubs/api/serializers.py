"""Shapes of the clubs REST API. Input serializers only parse; services decide."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clubs import selectors
from clubs.models import (
    Club,
    ClubMembership,
    ClubMembershipRequest,
    ClubNomination,
    ClubReport,
    PremiumMembership,
)

if TYPE_CHECKING:
    from accounts.models import Topic, User
else:
    User = get_user_model()


def _inline_enum(values: list[str], *, nullable: bool = False) -> type[serializers.CharField]:
    """A string field whose values are listed in its description, not as an `enum`: several
    models have a `status` with different choices, and drf-spectacular's enum components for
    them would collide (fixing that needs ENUM_NAME_OVERRIDES in settings)."""

    @extend_schema_field(
        {"type": "string", "nullable": nullable, "description": "One of: " + ", ".join(values)}
    )
    class EnumField(serializers.CharField):
        pass

    return EnumField


PremiumStatusField = _inline_enum(PremiumMembership.Status.values, nullable=True)
ReportStatusField = _inline_enum(ClubReport.Status.values)


class PersonSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "display_name"]


class ViewerSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=ClubMembership.Role.choices, allow_null=True)
    following = serializers.BooleanField()


class ClubSerializer(serializers.ModelSerializer):
    """A club as lists show it; `viewer` is the requesting person's relation to it."""

    topics: serializers.SlugRelatedField[Topic] = serializers.SlugRelatedField(
        slug_field="slug", many=True, read_only=True
    )
    photo = serializers.SerializerMethodField()
    member_count = serializers.SerializerMethodField()
    viewer = serializers.SerializerMethodField()

    class Meta:
        model = Club
        fields = [
            "id",
            "slug",
            "name",
            "description",
            "rules",
            "topics",
            "photo",
            "follow_policy",
            "join_policy",
            "member_list_private",
            "is_exclusive",
            "is_verified",
            "member_count",
            "created",
            "viewer",
        ]

    def get_photo(self, club: Club) -> str | None:
        return club.photo.url if club.photo else None

    def get_member_count(self, club: Club) -> int:
        return getattr(club, "member_count", None) or 0

    @staticmethod
    def _viewer(club: Club) -> dict[str, Any]:
        return {
            "role": getattr(club, "viewer_role", None),
            "following": bool(getattr(club, "viewer_following", False)),
        }

    def get_viewer(self, club: Club) -> dict[str, Any]:
        return ViewerSerializer(self._viewer(club)).data


class ViewerDetailSerializer(ViewerSerializer):
    premium_access = serializers.BooleanField()
    can_start_room = serializers.BooleanField()
    can_schedule_event = serializers.BooleanField()
    can_see_members = serializers.BooleanField()


class ClubDetailSerializer(ClubSerializer):
    viewer = serializers.SerializerMethodField()

    def get_viewer(self, club: Club) -> dict[str, Any]:
        user = self.context["request"].user
        role = getattr(club, "viewer_role", None)
        data = {
            **self._viewer(club),
            "premium_access": selectors.club_premium_access(user, club),
            "can_start_room": role in selectors.MANAGERS,
            "can_schedule_event": role in selectors.MANAGERS,
            "can_see_members": role is not None or not club.member_list_private,
        }
        return ViewerDetailSerializer(data).data


class ClubWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    slug = serializers.SlugField(max_length=100, required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    rules = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    topics = serializers.ListField(child=serializers.SlugField(), required=False, max_length=10)
    # A file, not an ImageField: Pillow decides what it is (the service re-encodes it and names
    # it), not the uploaded file name's extension.
    photo = serializers.FileField(
        required=False, help_text="JPEG, PNG or WebP, at most 2 MiB (re-encoded when stored)."
    )
    follow_policy = serializers.ChoiceField(choices=Club.FollowPolicy.choices, required=False)
    join_policy = serializers.ChoiceField(choices=Club.JoinPolicy.choices, required=False)
    member_list_private = serializers.BooleanField(required=False)
    is_exclusive = serializers.BooleanField(required=False)


class ClubUpdateSerializer(ClubWriteSerializer):
    slug = None  # type: ignore[assignment]  # the address does not change


# The JSON forms, for the schema: a photo travels only in multipart.
class ClubWriteJSONSerializer(ClubWriteSerializer):
    photo = None  # type: ignore[assignment]


class ClubUpdateJSONSerializer(ClubUpdateSerializer):
    photo = None  # type: ignore[assignment]


class MembershipSerializer(serializers.ModelSerializer):
    user = PersonSerializer()

    class Meta:
        model = ClubMembership
        fields = ["user", "role", "joined_at"]


class RoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=ClubMembership.Role.choices)


class MembershipRequestSerializer(serializers.ModelSerializer):
    user = PersonSerializer()

    class Meta:
        model = ClubMembershipRequest
        fields = ["id", "user", "message", "status", "created", "decided_at"]


class MembershipRequestCreateSerializer(serializers.Serializer):
    message = serializers.CharField(required=False, allow_blank=True, max_length=500)


class NominationSerializer(serializers.ModelSerializer):
    nominee = PersonSerializer()
    nominated_by = PersonSerializer(allow_null=True)

    class Meta:
        model = ClubNomination
        fields = ["id", "nominee", "nominated_by", "note", "status", "created", "decided_at"]


class NominationCreateSerializer(serializers.Serializer):
    user = serializers.IntegerField(help_text="Id of the person nominated.")
    note = serializers.CharField(required=False, allow_blank=True, max_length=500)


class PremiumStatusSerializer(serializers.Serializer):
    has_access = serializers.BooleanField()
    status = PremiumStatusField(allow_null=True)
    source = serializers.ChoiceField(  # type: ignore[assignment]  # a field named "source"
        choices=PremiumMembership.Source.choices, allow_null=True
    )
    current_period_end = serializers.DateTimeField(allow_null=True)
    grace_until = serializers.DateTimeField(allow_null=True)


class ReportCreateSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=ClubReport.Reason.choices)
    text = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class ClubReportSerializer(serializers.ModelSerializer):
    status = ReportStatusField(read_only=True)

    class Meta:
        model = ClubReport
        fields = ["id", "reason", "text", "status", "created"]
