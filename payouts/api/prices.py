"""Prices of many things in one read, for lists (event cards) and pages that must not treat a
free event or a club without a plan as an error:
``GET /payouts/prices/?events=1,2&rooms=3&clubs=a,b``.

Answers ``{"events": {"<id>": {"amount", "currency"}}, "rooms": {...}, "clubs": {"<slug>": {...}}}``
with only the priced ones (free events and rooms, and clubs without an active plan, are simply
absent). A room's price is its entry price: its own, or that of the event it was started from.
Events the caller cannot see (a hidden members-only club event) are left out, as everywhere
else."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsMember
from clubhouse.errors import InvalidInput
from payouts.models import ClubPlan, TicketPrice
from rooms.schedule_selectors import event_queryset

MAX_ITEMS = 100
# What _ids and _slugs accept, for the schema: up to MAX_ITEMS items between commas.
# Ids of at most 9 digits: every id fits the database's integer (a longer one would overflow it).
_ID = "[0-9]{1,9}"
_IDS = {"type": "string", "pattern": f"^ *({_ID})? *(, *({_ID})? *){{0,{MAX_ITEMS - 1}}}$"}
_SLUGS = {"type": "string", "pattern": f"^[^,]*(,[^,]*){{0,{MAX_ITEMS - 1}}}$"}


def _ids(raw: str, field: str) -> list[int]:
    parts = [p for p in raw.split(",") if p.strip()]
    if len(parts) > MAX_ITEMS or not all(re.fullmatch(_ID, p.strip()) for p in parts):
        raise InvalidInput(
            f"Up to {MAX_ITEMS} ids, separated by commas.",
            fields={field: [f"Up to {MAX_ITEMS} numeric ids."]},
        )
    return [int(p) for p in parts]


def _slugs(raw: str) -> list[str]:
    slugs = [p.strip() for p in raw.split(",") if p.strip()]
    if len(slugs) > MAX_ITEMS:
        raise InvalidInput(
            f"Up to {MAX_ITEMS} clubs.", fields={"clubs": [f"Up to {MAX_ITEMS} slugs."]}
        )
    return slugs


class PricesView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="payouts_prices",
        request=None,
        responses=OpenApiTypes.OBJECT,
        parameters=[
            OpenApiParameter("events", _IDS, description="event ids, comma-separated"),
            OpenApiParameter("rooms", _IDS, description="room ids, comma-separated"),
            OpenApiParameter("clubs", _SLUGS, description="club slugs, comma-separated"),
        ],
    )
    def get(self, request: Request) -> Response:

        body: dict[str, dict[str, Any]] = {"events": {}, "rooms": {}, "clubs": {}}
        event_ids = _ids(request.query_params.get("events", ""), "events")
        if event_ids:
            visible = event_queryset(viewer=request.user).filter(pk__in=event_ids).values("pk")
            for price in TicketPrice.objects.filter(event_id__in=visible):
                body["events"][str(price.event_id)] = {
                    "amount": price.amount,
                    "currency": price.currency,
                }
        room_ids = _ids(request.query_params.get("rooms", ""), "rooms")
        if room_ids:
            own = TicketPrice.objects.filter(room_id__in=room_ids)
            by_event = TicketPrice.objects.filter(event__room_id__in=room_ids).values_list(
                "event__room_id", "amount", "currency"
            )
            for room_id, amount, currency in by_event:
                body["rooms"][str(room_id)] = {"amount": amount, "currency": currency}
            for price in own:  # a room's own price wins, as at the gate
                body["rooms"][str(price.room_id)] = {
                    "amount": price.amount,
                    "currency": price.currency,
                }
        slugs = _slugs(request.query_params.get("clubs", ""))
        if slugs:
            plans = ClubPlan.objects.filter(club__slug__in=slugs, active=True).select_related(
                "club"
            )
            for plan in plans:
                body["clubs"][plan.club.slug] = {"amount": plan.amount, "currency": plan.currency}
        return Response(body)
