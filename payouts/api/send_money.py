"""REST endpoints of the Send Money beta: feedback from the feature, and a creator's own switch.
Thin: parse, call one service or selector, render."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsMember
from payouts import selectors, services
from payouts.api.views import _valid


class SendMoneyFeedbackInput(serializers.Serializer):
    rating = serializers.IntegerField(min_value=1, max_value=5, help_text="1 (bad) to 5 (great)")
    text = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
    tip = serializers.UUIDField(
        required=False, allow_null=True, default=None, help_text="the tip it is about (yours)"
    )
    step = serializers.ChoiceField(
        choices=services.FEEDBACK_STEPS, required=False, allow_blank=True, default="",
        help_text="where in Send Money it happened (the step that failed, or done)",
    )  # fmt: skip
    error_code = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default="",
        help_text="the error code the client was shown, if any",
    )  # fmt: skip


class SendMoneyFeedbackOut(serializers.Serializer):
    id = serializers.IntegerField()
    rating = serializers.IntegerField()
    text = serializers.CharField()
    status = serializers.CharField(help_text="new, read or answered")
    context = serializers.DictField(  # type: ignore[assignment]
        help_text="attached automatically: tip, step, error code"
    )
    created = serializers.DateTimeField()


class SendMoneyFeedbackView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="payouts_send_money_feedback",
        request=SendMoneyFeedbackInput,
        responses={201: SendMoneyFeedbackOut},
    )
    def post(self, request: Request) -> Response:
        data = _valid(SendMoneyFeedbackInput, request.data)
        feedback = services.send_money_feedback_send(
            user=request.user,  # type: ignore[arg-type]
            rating=data["rating"],
            text=data["text"],
            tip_uuid=str(data["tip"]) if data.get("tip") else None,
            step=data["step"],
            error_code=data["error_code"],
            client=request.headers.get("User-Agent", ""),
        )
        return Response(SendMoneyFeedbackOut(feedback).data, status=201)


class CreatorSendMoneyInput(serializers.Serializer):
    on = serializers.BooleanField(help_text="Send Money on (true) or off (false) for you")


class CreatorSendMoneyOut(serializers.Serializer):
    in_program = serializers.BooleanField()
    on = serializers.BooleanField(required=False, help_text="your own switch")
    staff_enabled = serializers.BooleanField(
        required=False, help_text="false: staff turned Send Money off for you (it stays off)"
    )
    can_receive_money = serializers.BooleanField(required=False)
    receive_money_reason = serializers.CharField(required=False, allow_null=True)


class CreatorSendMoneyView(APIView):
    """A creator's own Send Money switch (their settings page uses it)."""

    permission_classes = [IsMember]

    @extend_schema(operation_id="payouts_creator_send_money_get", responses=CreatorSendMoneyOut)
    def get(self, request: Request) -> Response:
        user: Any = request.user
        return Response(selectors.creator_send_money_settings(user=user))

    @extend_schema(
        operation_id="payouts_creator_send_money_set",
        request=CreatorSendMoneyInput,
        responses=CreatorSendMoneyOut,
    )
    def put(self, request: Request) -> Response:
        on = _valid(CreatorSendMoneyInput, request.data)["on"]
        user: Any = request.user
        services.creator_send_money_set(user=user, on=on)
        return Response(selectors.creator_send_money_settings(user=user))
