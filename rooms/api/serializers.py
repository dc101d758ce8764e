"""Input shapes for the rooms REST API (outputs are the selectors' documented dicts)."""

from __future__ import annotations

from rest_framework import serializers

from rooms.models import PINNED_TITLE_MAX_LENGTH, PINNED_URL_MAX_LENGTH, Room, RoomReport


class RoomCreateInput(serializers.Serializer):
    title = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    type = serializers.ChoiceField(choices=Room.Type.choices, default=Room.Type.OPEN)
    topic_ids = serializers.ListField(
        child=serializers.IntegerField(), required=False, default=list
    )
    club_id = serializers.IntegerField(required=False, allow_null=True, default=None)
    members_only = serializers.BooleanField(required=False, default=False)
    capacity = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1)
    hand_raise_policy = serializers.ChoiceField(
        choices=Room.HandRaisePolicy.choices, default=Room.HandRaisePolicy.EVERYONE
    )


class TargetInput(serializers.Serializer):
    user_id = serializers.IntegerField(min_value=1)


class OptionalTargetInput(serializers.Serializer):
    user_id = serializers.IntegerField(min_value=1, required=False)


class HandPolicyInput(serializers.Serializer):
    # The same choices as RoomCreateInput's, so the OpenAPI enum keeps one name.
    policy = serializers.ChoiceField(choices=Room.HandRaisePolicy.choices)


class PinnedLinkInput(serializers.Serializer):
    url = serializers.CharField(
        max_length=PINNED_URL_MAX_LENGTH, help_text="An http:// or https:// address."
    )
    title = serializers.CharField(
        max_length=PINNED_TITLE_MAX_LENGTH, required=False, allow_blank=True, default=""
    )


class RoomReportInput(serializers.Serializer):
    reason = serializers.ChoiceField(choices=RoomReport.Reason.choices)
    text = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default="", help_text="Optional note"
    )


class RoomReportOutput(serializers.ModelSerializer):
    class Meta:
        model = RoomReport
        fields = ["id", "room", "reason", "text", "status", "created"]
        read_only_fields = fields


class EmptyInput(serializers.Serializer):
    pass


class EventCreateInput(serializers.Serializer):
    title = serializers.CharField(max_length=120)
    description = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default=""
    )
    starts_at = serializers.DateTimeField()
    host_ids = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    topic_ids = serializers.ListField(
        child=serializers.IntegerField(), required=False, default=list
    )
    club_id = serializers.IntegerField(required=False, allow_null=True, default=None)
    members_only = serializers.BooleanField(required=False, default=False)
    capacity = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        help_text="RSVPs stop here (event_full); the event's room is capped at it plus hosts.",
    )
    room_type = serializers.ChoiceField(
        choices=Room.Type.choices,
        required=False,
        default=Room.Type.OPEN,
        help_text="The type the event's room opens as.",
    )


class EventUpdateInput(serializers.Serializer):
    title = serializers.CharField(max_length=120, required=False)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    starts_at = serializers.DateTimeField(required=False)
    host_ids = serializers.ListField(child=serializers.IntegerField(), required=False)
    topic_ids = serializers.ListField(child=serializers.IntegerField(), required=False)
    capacity = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="null removes the cap."
    )
    room_type = serializers.ChoiceField(choices=Room.Type.choices, required=False)
    members_only = serializers.BooleanField(required=False)


class EventStartInput(serializers.Serializer):
    type = serializers.ChoiceField(
        choices=Room.Type.choices,
        required=False,
        help_text="Defaults to the event's room_type.",
    )
