"""REST endpoints for paid clubs and the creator's wallet: thin views over services/selectors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsMember
from clubhouse.api import currency_field
from clubhouse.api_schema import results
from clubhouse.errors import NotFound
from clubhouse.money import Money
from clubs.selectors import club_get
from payouts import selectors, services
from payouts.api.quotes import ShownPriceInput, purchase_errors, shown_price
from payouts.models import ClubPlan, ClubSubscription

if TYPE_CHECKING:
    from accounts.models import User
else:
    User = get_user_model()


def _me(request: Request) -> User:
    assert isinstance(request.user, User)
    return request.user


def _club(slug: str) -> Any:

    return club_get(slug=slug)


class PlanInput(serializers.Serializer):
    amount = serializers.IntegerField(min_value=1, help_text="monthly price, minor units")
    currency = currency_field()


class SubscribeInput(ShownPriceInput):
    """`amount` and `currency`: the monthly price the member was shown."""

    payment_method = serializers.CharField(required=False, allow_blank=True)


class PlanOut(serializers.ModelSerializer):
    club = serializers.CharField(source="club.slug")

    class Meta:
        model = ClubPlan
        fields = ["club", "amount", "currency", "active", "updated"]


class SubscriptionOut(serializers.ModelSerializer):
    club = serializers.SerializerMethodField(help_text="slug; null once the club was deleted")
    club_name = serializers.SerializerMethodField()

    class Meta:
        model = ClubSubscription
        fields = ["uuid", "club", "club_name", "amount", "currency", "status",
                  "cancel_at_period_end", "current_period_start", "current_period_end",
                  "canceled_at", "failure_code", "created"]  # fmt: skip

    def get_club(self, obj: ClubSubscription) -> str | None:
        return obj.club.slug if obj.club is not None else None

    def get_club_name(self, obj: ClubSubscription) -> str | None:
        return obj.club.name if obj.club is not None else None


def _subscription_body(sub: ClubSubscription) -> dict[str, Any]:
    body = dict(SubscriptionOut(sub).data)
    if getattr(sub, "requires_action", False):
        body["requires_action"] = True
        body["client_secret"] = getattr(sub, "client_secret", None)
    return body


class ClubPlanView(APIView):
    permission_classes = [IsMember]

    @extend_schema(operation_id="payouts_club_plan_get", request=None, responses=PlanOut)
    def get(self, request: Request, slug: str) -> Response:
        plan = ClubPlan.objects.filter(club=_club(slug), active=True).select_related("club").first()
        if plan is None:
            raise NotFound("This club does not sell memberships.", code="club_plan_missing")
        return Response(PlanOut(plan).data)

    @extend_schema(operation_id="payouts_club_plan_set", request=PlanInput, responses=PlanOut)
    def put(self, request: Request, slug: str) -> Response:
        data = PlanInput(data=request.data)
        data.is_valid(raise_exception=True)
        price = Money(data.validated_data["amount"], data.validated_data["currency"].upper())
        plan = services.club_plan_set(club=_club(slug), actor=_me(request), price=price)
        return Response(PlanOut(plan).data)

    @extend_schema(operation_id="payouts_club_plan_disable", request=None, responses=PlanOut)
    def delete(self, request: Request, slug: str) -> Response:
        plan = services.club_plan_disable(club=_club(slug), actor=_me(request))
        return Response(PlanOut(plan).data)


class ClubSubscribeView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="payouts_club_subscribe",
        request=SubscribeInput,
        responses={
            201: OpenApiResponse(SubscriptionOut, description="Subscribed (or being paid)."),
            200: OpenApiResponse(
                SubscriptionOut, description="My live subscription, already there."
            ),
            **purchase_errors(),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        data = SubscribeInput(data=request.data)
        data.is_valid(raise_exception=True)
        sub, created = services.club_subscribe(
            club=_club(slug),
            user=_me(request),
            payment_method=data.validated_data.get("payment_method") or None,
            shown_price=shown_price(data.validated_data),
        )
        return Response(_subscription_body(sub), status=201 if created else 200)


def _mine(request: Request, uuid: str) -> ClubSubscription:
    sub = ClubSubscription.objects.filter(uuid=uuid, user=_me(request)).select_related("club")
    found = sub.first()
    if found is None:
        raise NotFound("No such subscription.", code="club_subscription_not_found")
    return found


class SubscriptionListView(APIView):
    permission_classes = [IsMember]

    @extend_schema(operation_id="payouts_subscriptions_mine", request=None,
                   responses=results(SubscriptionOut, "Subscription"))  # fmt: skip
    def get(self, request: Request) -> Response:
        subs = selectors.club_subscriptions_for(_me(request))[:100]
        return Response({"results": SubscriptionOut(subs, many=True).data})


class SubscriptionDetailView(APIView):
    permission_classes = [IsMember]

    @extend_schema(operation_id="payouts_subscription_get", request=None, responses=SubscriptionOut)
    def get(self, request: Request, uuid: str) -> Response:
        return Response(_subscription_body(_mine(request, uuid)))


class SubscriptionCancelView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="payouts_subscription_cancel", request=None, responses=SubscriptionOut
    )
    def post(self, request: Request, uuid: str) -> Response:
        sub = services.club_subscription_cancel(
            subscription=_mine(request, uuid), actor=_me(request)
        )
        return Response(_subscription_body(sub))


class SubscriptionResumeView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="payouts_subscription_resume", request=None, responses=SubscriptionOut
    )
    def post(self, request: Request, uuid: str) -> Response:
        sub = services.club_subscription_resume(
            subscription=_mine(request, uuid), actor=_me(request)
        )
        return Response(_subscription_body(sub))


def wallet_body(user: User) -> dict[str, Any]:
    """The wallet: the earlier fields (creator, send_money_enabled, payouts_active, balances,
    tips_received, stipends) plus per-currency figures, the Stripe account's state, paid clubs
    and the last payouts to the bank."""
    w = selectors.wallet_summary(user)
    program, account = w["program"], w["account"]
    return {
        "creator": bool(program),
        "send_money_enabled": bool(program and program.send_money_enabled),
        "payouts_active": bool(account and account.transfers_active),
        "balances": {c: f["balance"] for c, f in w["figures"].items()},
        "figures": w["figures"],
        "account": None if account is None else {
            "transfers_active": account.transfers_active,
            "charges_enabled": account.charges_enabled,
            "payouts_enabled": account.payouts_enabled,
            "details_submitted": account.details_submitted,
        },
        "tips_received": [
            {"uuid": str(t.uuid), "sender": t.sender.username, "amount": t.amount,
             "currency": t.currency, "status": t.status, "created": t.created}
            for t in w["tips_received"]
        ],
        "stipends": [{"month": f"{s.month:%Y-%m}", "amount": s.amount, "currency": s.currency,
                      "status": s.status} for s in w["stipends"]],
        "clubs": [{"slug": c["club__slug"], "name": c["club__name"], "currency": c["currency"],
                   "subscribers": c["subscribers"], "monthly": int(c["monthly"] or 0)}
                  for c in w["clubs"]],
        "payouts": [{"id": p.stripe_payout_id, "amount": p.amount, "currency": p.currency,
                     "status": p.status, "arrival_date": p.arrival_date,
                     "failure_code": p.failure_code, "created": p.created}
                    for p in w["payouts"]],
    }  # fmt: skip


class WalletView(APIView):
    permission_classes = [IsMember]

    @extend_schema(operation_id="payouts_wallet", request=None, responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        return Response(wallet_body(_me(request)))
