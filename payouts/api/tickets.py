"""REST endpoints for tickets: thin views over payouts.services.tickets and ticket_selectors.

Each event and room has one ticket resource for the caller:
``GET  /payouts/{events|rooms}/<id>/ticket/``        the price, the platform's cut, my ticket
``POST /payouts/{events|rooms}/<id>/ticket/``        buy it (201; 200 when I already have it)
``PUT  /payouts/{events|rooms}/<id>/ticket-price/``  the creator sets the price
"""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsMember
from clubhouse.api import currency_field
from clubhouse.api_schema import results
from clubhouse.errors import InvalidInput
from clubhouse.money import Money
from payouts import ticket_selectors
from payouts.api.quotes import ShownPriceInput, purchase_errors, shown_price
from payouts.models import Ticket, TicketPrice
from payouts.services import tickets as ticket_services


class TicketOut(serializers.ModelSerializer):
    creator = serializers.CharField(source="creator.username")

    class Meta:
        model = Ticket
        fields = ["uuid", "event_id", "room_id", "title", "creator", "amount", "application_fee",
                  "currency", "status", "failure_code", "refund_reason", "paid_at",
                  "refunded_at", "created"]  # fmt: skip


class TicketSaleOut(serializers.ModelSerializer):
    buyer = serializers.CharField(source="buyer.username")

    class Meta:
        model = Ticket
        fields = ["uuid", "event_id", "room_id", "title", "buyer", "amount", "application_fee",
                  "currency", "status", "paid_at", "refunded_at"]  # fmt: skip


class PriceInput(serializers.Serializer):
    amount = serializers.IntegerField(help_text="minor units")
    currency = currency_field()


class BuyInput(ShownPriceInput):
    payment_method = serializers.CharField(required=False, allow_blank=True)


def _target_kwargs(kind: str, pk: int | str) -> dict[str, int]:
    return {"event_id": int(pk)} if kind == "events" else {"room_id": int(pk)}


def _price_out(price: TicketPrice) -> dict[str, Any]:
    return {"event_id": price.event_id, "room_id": price.room_id, "amount": price.amount,
            "currency": price.currency, "platform_fee": ticket_services.platform_fee(price.amount),
            "creator": price.creator.username}  # fmt: skip


def _ticket_body(ticket: Ticket) -> dict[str, Any]:
    body = dict(TicketOut(ticket).data)
    if ticket.status == Ticket.Status.REQUIRES_ACTION:
        body["client_secret"] = getattr(ticket, "client_secret", None)
    return body


class TicketPriceView(APIView):
    permission_classes = [IsMember]

    @extend_schema(operation_id="payouts_ticket_price_set", request=PriceInput,
                   responses=OpenApiTypes.OBJECT)  # fmt: skip
    def put(self, request: Request, kind: str, pk: int) -> Response:
        data = PriceInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            price = Money(data.validated_data["amount"], data.validated_data["currency"])
        except ValueError as exc:
            raise InvalidInput(fields={"currency": ["Not an ISO 4217 code."]}) from exc
        result = ticket_services.ticket_price_set(
            user=request.user,  # type: ignore[arg-type]
            price=price,
            **_target_kwargs(kind, pk),
        )
        return Response(_price_out(result))


class TicketView(APIView):
    permission_classes = [IsMember]

    @extend_schema(operation_id="payouts_ticket_quote", request=None,
                   responses=OpenApiTypes.OBJECT)  # fmt: skip
    def get(self, request: Request, kind: str, pk: int) -> Response:
        quote = ticket_services.ticket_quote(user=request.user, **_target_kwargs(kind, pk))  # type: ignore[arg-type]
        ticket = quote.pop("ticket")
        quote["ticket"] = TicketOut(ticket).data if ticket else None
        return Response(quote)

    @extend_schema(
        operation_id="payouts_ticket_buy",
        request=BuyInput,
        responses={
            201: OpenApiResponse(TicketOut, description="Bought (or being paid)."),
            200: OpenApiResponse(TicketOut, description="I had it already: nothing charged."),
            **purchase_errors(),
        },
    )
    def post(self, request: Request, kind: str, pk: int) -> Response:
        data = BuyInput(data=request.data)
        data.is_valid(raise_exception=True)
        before = Ticket.objects.filter(buyer_id=request.user.pk).count()
        ticket = ticket_services.ticket_buy(
            buyer=request.user,  # type: ignore[arg-type]
            payment_method=data.validated_data.get("payment_method") or None,
            shown_price=shown_price(data.validated_data),
            **_target_kwargs(kind, pk),
        )
        created = Ticket.objects.filter(buyer_id=request.user.pk).count() > before
        return Response(_ticket_body(ticket), status=201 if created else 200)


class MyTicketsView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="payouts_my_tickets", request=None, responses=results(TicketOut, "Ticket")
    )
    def get(self, request: Request) -> Response:
        tickets = ticket_selectors.tickets_of_buyer(request.user)[:100]
        return Response({"results": TicketOut(tickets, many=True).data})


class MyTicketView(APIView):
    permission_classes = [IsMember]

    @extend_schema(operation_id="payouts_my_ticket", request=None, responses=TicketOut)
    def get(self, request: Request, uuid: str) -> Response:
        ticket = get_object_or_404(Ticket.objects.select_related("creator"), uuid=uuid,
                                   buyer_id=request.user.pk)  # fmt: skip
        return Response(TicketOut(ticket).data)


class TicketSalesView(APIView):
    permission_classes = [IsMember]

    @extend_schema(operation_id="payouts_ticket_sales", request=None,
                   responses=OpenApiTypes.OBJECT)  # fmt: skip
    def get(self, request: Request) -> Response:
        sales = ticket_selectors.tickets_sold_by(request.user)[:200]
        return Response({
            "totals": ticket_selectors.ticket_sales_totals(request.user),
            "results": TicketSaleOut(sales, many=True).data,
        })  # fmt: skip
