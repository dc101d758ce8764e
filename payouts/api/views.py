"""REST endpoints for money: thin views over payouts.services and payouts.selectors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsMember, IsVerifiedMember
from clubhouse.api import currency_field
from clubhouse.api_schema import results
from clubhouse.errors import InvalidInput
from clubhouse.money import Money
from payouts import fees, selectors, services
from payouts.models import CreatorApplication, PaymentCustomer, Tip

if TYPE_CHECKING:
    from accounts.models import User
else:
    User = get_user_model()


class TipInput(serializers.Serializer):
    creator = serializers.CharField(help_text="username of the creator")
    amount = serializers.IntegerField(min_value=1, help_text="minor units")
    currency = currency_field()
    payment_method = serializers.CharField(required=False, allow_blank=True)


class TipOut(serializers.ModelSerializer):
    creator = serializers.CharField(source="creator.username")

    class Meta:
        model = Tip
        fields = ["uuid", "creator", "amount", "fee", "charge_amount", "currency", "status",
                  "failure_code", "created"]  # fmt: skip


def _money(amount: Any, currency: Any) -> Money:
    try:
        return Money(int(amount), str(currency or "USD"))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            "Give an amount in minor units and a currency.",
            fields={"currency": ["Not an ISO 4217 code."]},
        ) from exc


def _valid(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    """The validated input; a body that is not a JSON object (an array, a string, null) is a 400
    like any other bad input, not an AttributeError."""
    if not isinstance(data, Mapping):
        raise InvalidInput("Send a JSON object.", fields={"body": ["A JSON object."]})
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class TipQuoteInput(serializers.Serializer):
    amount = serializers.IntegerField(min_value=1, help_text="the tip, in minor units")
    currency = currency_field()


class TipQuoteView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="payouts_tip_quote",
        request=None,
        parameters=[TipQuoteInput],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        data = _valid(TipQuoteInput, request.query_params)
        quote = fees.gross_up(_money(data["amount"], data["currency"]))
        return Response({"tip": quote.tip.amount, "fee": quote.fee.amount,
                         "charge": quote.charge.amount, "currency": quote.tip.currency})  # fmt: skip


class TipListCreateView(APIView):
    permission_classes = [IsMember]

    def get_permissions(self) -> Sequence[Any]:
        # Sending money needs a confirmed address (403 email_unverified); the list does not.
        if self.request.method == "POST":
            return [IsVerifiedMember()]
        return super().get_permissions()

    @extend_schema(operation_id="payouts_tips_list", request=None, responses=results(TipOut, "Tip"))
    def get(self, request: Request) -> Response:
        tips = Tip.objects.filter(sender_id=request.user.pk).select_related("creator")[:50]
        return Response({"results": TipOut(tips, many=True).data})

    @extend_schema(
        operation_id="payouts_tip_send",
        request=TipInput,
        responses=TipOut,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="One per user action: a repeat returns the first tip and charges "
                "once (409 tip_request_key_reused for another tip). Without it, the same tip "
                "again within a minute is the first tip.",
            )
        ],
    )
    def post(self, request: Request) -> Response:
        data = _valid(TipInput, request.data)
        creator = get_object_or_404(User, username=data["creator"], is_active=True)
        tip = services.tip_send(
            sender=request.user,  # type: ignore[arg-type]
            creator=creator,
            amount=_money(data["amount"], data["currency"]),
            payment_method=data.get("payment_method") or None,
            request_key=request.headers.get("Idempotency-Key", ""),
        )
        body = dict(TipOut(tip).data)
        if tip.status == Tip.Status.REQUIRES_ACTION:
            body["client_secret"] = getattr(tip, "client_secret", None)
        # A repeat of an earlier request answers with that request's tip, as Stripe does.
        headers = {"Idempotent-Replayed": "true"} if getattr(tip, "replayed", False) else None
        return Response(body, status=201, headers=headers)


class TipDetailView(APIView):
    permission_classes = [IsMember]

    @extend_schema(operation_id="payouts_tip_get", request=None, responses=TipOut)
    def get(self, request: Request, uuid: str) -> Response:
        tip = get_object_or_404(Tip, uuid=uuid, sender=request.user)
        return Response(TipOut(tip).data)


class PaymentMethodInput(serializers.Serializer):
    payment_method = serializers.CharField(
        max_length=255, help_text="a payment method id from Stripe.js (pm_...)"
    )


class PaymentMethodView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="payouts_payment_method_get", request=None, responses=OpenApiTypes.OBJECT
    )
    def get(self, request: Request) -> Response:
        customer = PaymentCustomer.objects.filter(user=request.user.pk or 0).first()
        if customer is None or not customer.default_payment_method_id:
            return Response({"card": None})
        return Response({"card": {"brand": customer.card_brand, "last4": customer.card_last4}})

    @extend_schema(
        operation_id="payouts_payment_method_save",
        request=PaymentMethodInput,
        responses=OpenApiTypes.OBJECT,
    )
    def post(self, request: Request) -> Response:
        pm = _valid(PaymentMethodInput, request.data)["payment_method"]
        customer = services.payment_method_save(user=request.user, payment_method=pm)  # type: ignore[arg-type]
        return Response({"card": {"brand": customer.card_brand, "last4": customer.card_last4}})


class SetupIntentView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="payouts_setup_intent_create",
        request=None,
        responses={201: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request) -> Response:
        return Response(services.setup_intent_create(user=request.user), status=201)  # type: ignore[arg-type]


class CreatorApplicationInput(serializers.Serializer):
    pitch = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class CreatorApplicationOut(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=CreatorApplication.Status.choices)
    # A field named like DRF's own `Field.source` attribute: fine at run time, not to the stubs.
    source = serializers.ChoiceField(choices=CreatorApplication.Source.choices)  # type: ignore[assignment]
    created = serializers.DateTimeField()
    reviewed_at = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField(
        allow_blank=True, help_text="Why it was rejected (empty unless rejected)."
    )


class CreatorProgramOut(serializers.Serializer):
    send_money_enabled = serializers.BooleanField()
    stipend_amount = serializers.IntegerField(help_text="minor units a month; 0: no stipend")
    stipend_currency = serializers.CharField()
    stipend_start_month = serializers.CharField(allow_null=True, help_text="YYYY-MM")
    stipend_end_month = serializers.CharField(
        allow_null=True, help_text="YYYY-MM; null with a start month: until ended"
    )
    stipend_next = serializers.DictField(
        allow_null=True, help_text="A change staff made: {amount, currency, from (YYYY-MM)}"
    )
    stipend_paused_from = serializers.CharField(allow_null=True, help_text="YYYY-MM")
    stipend_resumes_month = serializers.CharField(allow_null=True, help_text="YYYY-MM")


class CreatorApplicationStatusOut(serializers.Serializer):
    application = CreatorApplicationOut(allow_null=True, help_text="the newest application")
    program = CreatorProgramOut(allow_null=True)


def _month(day: Any) -> str | None:
    return f"{day:%Y-%m}" if day else None


def _application_status(user: Any) -> dict[str, Any]:
    app = selectors.creator_application_latest(user)
    program = selectors.creator_program_get(user)
    return {
        "application": None
        if app is None
        else {
            "id": app.pk,
            "status": app.status,
            "source": app.source,
            "created": app.created,
            "reviewed_at": app.reviewed_at,
            "reason": app.decision_reason if app.status == "rejected" else "",
        },
        "program": None
        if program is None
        else {
            "send_money_enabled": program.send_money_enabled,
            "stipend_amount": program.stipend_amount,
            "stipend_currency": program.stipend_currency,
            "stipend_start_month": _month(program.stipend_start_month),
            "stipend_end_month": _month(program.stipend_end_month),
            "stipend_next": None
            if program.stipend_next_from is None
            else {
                "amount": program.stipend_next_amount,
                "currency": program.stipend_next_currency,
                "from": _month(program.stipend_next_from),
            },
            "stipend_paused_from": _month(program.stipend_paused_from),
            "stipend_resumes_month": _month(program.stipend_resumes_month),
        },
    }


class CreatorApplicationView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="payouts_creator_application_status",
        request=None,
        responses=CreatorApplicationStatusOut,
    )
    def get(self, request: Request) -> Response:
        """The member's newest application (with the reason when rejected) and their program's
        terms when they are a creator."""
        return Response(CreatorApplicationStatusOut(_application_status(request.user)).data)

    @extend_schema(
        operation_id="payouts_creator_apply",
        request=CreatorApplicationInput,
        responses={201: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request) -> Response:
        pitch = _valid(CreatorApplicationInput, request.data)["pitch"]
        user: Any = request.user
        app = services.creator_apply(user=user, pitch=pitch)
        return Response({"id": app.pk, "status": app.status}, status=201)


class OnboardingLinkView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="payouts_onboarding_link", request=None, responses=OpenApiTypes.OBJECT
    )
    def post(self, request: Request) -> Response:
        url = services.connected_account_onboarding_link(user=request.user)  # type: ignore[arg-type]
        return Response({"url": url}, status=201)


# The wallet (GET /api/v1/payouts/wallet/) lives in payouts/api/memberships.py.
