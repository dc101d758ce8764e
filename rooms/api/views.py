"""REST views for rooms: authenticate (IsMember), parse, call one service or selector, render.

Stage actions reuse rooms.ws_actions.ACTIONS, so REST and the WebSocket share validation,
replies and error codes.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsMember
from clubhouse.api import Pagination
from clubhouse.api_schema import LIMIT, PAGE_PARAMETERS
from clubhouse.errors import InvalidInput
from rooms import schedule_selectors, schedule_services, selectors, services
from rooms.api import serializers as inputs
from rooms.conf import room_audience_page_max
from rooms.hallway import hallway_item, room_hallway_queryset, search
from rooms.models import EventCohostInvite
from rooms.selectors import room_card
from rooms.ws_actions import ACTIONS


def _payload(request: Request) -> dict[str, Any]:
    data = request.data
    if hasattr(data, "dict"):
        data = data.dict()
    if not isinstance(data, dict):
        raise InvalidInput("Send a JSON object.", fields={"body": ["A JSON object."]})
    return dict(data)


def _valid(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class MemberAPIView(APIView):
    permission_classes = [IsMember]


# --- rooms --------------------------------------------------------------------------------
class HallwayView(MemberAPIView):
    @extend_schema(
        operation_id="hallway_list",
        summary="Hallway: live rooms for you, best first",
        responses=OpenApiTypes.OBJECT,
        parameters=[
            *PAGE_PARAMETERS,
        ],
    )
    def get(self, request: Request) -> Response:
        paginator = Pagination()
        paginator.default_limit = 20
        page = paginator.paginate_queryset(
            room_hallway_queryset(viewer=request.user), request, view=self
        )
        return paginator.get_paginated_response([hallway_item(room) for room in page or []])


class RoomListCreateView(HallwayView):
    @extend_schema(
        operation_id="rooms_list",
        summary="Live rooms for you (the hallway)",
        responses=OpenApiTypes.OBJECT,
        parameters=PAGE_PARAMETERS,
    )
    def get(self, request: Request) -> Response:
        return super().get(request)

    @extend_schema(
        summary="Start a live room (you are its first moderator)",
        request=inputs.RoomCreateInput,
        responses={201: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request) -> Response:
        data = _valid(inputs.RoomCreateInput, request.data)
        room = services.room_create(user=request.user, **data)  # type: ignore[arg-type]
        snapshot = selectors.room_snapshot(room_id=room.pk, viewer=request.user)
        return Response(snapshot, status=status.HTTP_201_CREATED)


class RoomDetailView(MemberAPIView):
    @extend_schema(
        summary="A room's snapshot (as the WebSocket sends it)", responses=OpenApiTypes.OBJECT
    )
    def get(self, request: Request, room_id: int) -> Response:
        return Response(selectors.room_snapshot(room_id=room_id, viewer=request.user))


class RoomJoinView(MemberAPIView):
    @extend_schema(
        summary="Join a room (idempotent); answers its snapshot",
        request=inputs.EmptyInput,
        responses=OpenApiTypes.OBJECT,
    )
    def post(self, request: Request, room_id: int) -> Response:
        services.room_join_without_socket(user=request.user, room_id=room_id)  # type: ignore[arg-type]
        return Response(selectors.room_snapshot(room_id=room_id, viewer=request.user))


class RoomLeaveView(MemberAPIView):
    @extend_schema(
        summary="Leave a room (idempotent)", request=inputs.EmptyInput, responses={204: None}
    )
    def post(self, request: Request, room_id: int) -> Response:
        services.room_leave_everywhere(user=request.user, room_id=room_id)  # type: ignore[arg-type]
        return Response(status=status.HTTP_204_NO_CONTENT)


class RoomAudienceView(MemberAPIView):
    @extend_schema(
        summary="A page of the audience (cursor pagination)",
        parameters=[
            OpenApiParameter(
                "cursor",
                {"type": "string", "pattern": "^[0-9]*$"},
                description="`next_cursor` of the previous page",
            ),
            LIMIT,
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request, room_id: int) -> Response:
        payload: dict[str, Any] = {"room_id": room_id}
        if "cursor" in request.query_params:
            payload["cursor"] = request.query_params["cursor"]
        if "limit" in request.query_params:
            try:
                payload["limit"] = int(request.query_params["limit"])
            except ValueError:
                payload["limit"] = 0
            most = room_audience_page_max()
            if not 1 <= payload["limit"] <= most:
                raise InvalidInput(fields={"limit": [f"A whole number from 1 to {most}."]})
        return Response(ACTIONS["room.audience_page"](request.user, payload))


class RoomReportView(MemberAPIView):
    @extend_schema(
        operation_id="rooms_report",
        summary="Report a room to the staff (once per room; rate limited)",
        request=inputs.RoomReportInput,
        responses={201: inputs.RoomReportOutput},
    )
    def post(self, request: Request, room_id: int) -> Response:
        _payload(request)
        data = _valid(inputs.RoomReportInput, request.data)
        report = services.room_report_create(user=request.user, room_id=room_id, **data)  # type: ignore[arg-type]
        return Response(inputs.RoomReportOutput(report).data, status=status.HTTP_201_CREATED)


class RoomShareView(MemberAPIView):
    @extend_schema(summary="Resolve a room share link", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, token: str) -> Response:
        room = selectors.room_get_by_share_token(token=token, viewer=request.user)
        return Response(room_card(room))


# (url slug, frame type, request body) for every stage action; one view class each so the
# OpenAPI schema names and documents each operation.
ROOM_ACTIONS: list[tuple[str, str, type[serializers.Serializer]]] = [
    ("hand-raise", "room.hand_raise", inputs.EmptyInput),
    ("hand-lower", "room.hand_lower", inputs.OptionalTargetInput),
    ("hand-policy", "room.hand_policy_set", inputs.HandPolicyInput),
    ("pinned-link", "room.pinned_link_set", inputs.PinnedLinkInput),
    ("pinned-link/clear", "room.pinned_link_clear", inputs.EmptyInput),
    ("speaker-invite", "room.speaker_invite", inputs.TargetInput),
    ("speaker-invite/accept", "room.speaker_invite_accept", inputs.EmptyInput),
    ("speaker-invite/decline", "room.speaker_invite_decline", inputs.EmptyInput),
    ("move-to-audience", "room.speaker_move_to_audience", inputs.TargetInput),
    ("stage-leave", "room.stage_leave", inputs.EmptyInput),
    ("mute", "room.speaker_mute", inputs.TargetInput),
    ("self-mute", "room.self_mute", inputs.EmptyInput),
    ("self-unmute", "room.self_unmute", inputs.EmptyInput),
    ("moderators/add", "room.moderator_add", inputs.TargetInput),
    ("moderators/remove", "room.moderator_remove", inputs.TargetInput),
    ("remove", "room.user_remove", inputs.TargetInput),
    ("end", "room.end", inputs.EmptyInput),
    ("ping", "room.ping", inputs.TargetInput),
    ("invite", "room.ping", inputs.TargetInput),
]


def room_action_view(slug: str, action_type: str, body: type[serializers.Serializer]) -> Any:
    handler = ACTIONS[action_type]

    def post(self: APIView, request: Request, room_id: int) -> Response:
        # The body's serializer coerces what JSON, form and multipart bodies carry alike; the
        # shared handler then checks the action as it does for a WebSocket frame.
        _payload(request)  # a JSON array or scalar is refused before the serializer sees it
        payload = _valid(body, request.data)
        payload["room_id"] = room_id
        return Response(handler(request.user, payload))

    name = "Room" + "".join(part.title() for part in slug.replace("/", "-").split("-")) + "View"
    post = extend_schema(
        summary=f"Room action `{action_type}` (same as the WebSocket frame)",
        operation_id="rooms_" + slug.replace("/", "_").replace("-", "_"),
        request=body,
        responses=OpenApiTypes.OBJECT,
    )(post)
    return type(name, (MemberAPIView,), {"post": post})


# --- search -------------------------------------------------------------------------------
class SearchView(MemberAPIView):
    @extend_schema(
        summary="Search people, live rooms and clubs by name or topic",
        parameters=[OpenApiParameter("q", str, description="Empty or absent: nothing found.")],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        return Response(search(viewer=request.user, query=request.query_params.get("q", "")))


# --- scheduled events ---------------------------------------------------------------------
def _event(event_id: int, viewer: Any) -> dict[str, Any]:
    return schedule_selectors.event_detail_item(
        schedule_selectors.event_get(event_id=event_id, viewer=viewer), viewer=viewer
    )


class EventListCreateView(MemberAPIView):
    @extend_schema(
        operation_id="events_list",
        summary="Upcoming events (with ?club=<slug>: that club's calendar)",
        parameters=[OpenApiParameter("club", str, required=False)],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        paginator = Pagination()
        events = schedule_selectors.event_list_upcoming(
            viewer=request.user, club_slug=request.query_params.get("club")
        )
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(
            [schedule_selectors.event_item(event) for event in page or []]
        )

    @extend_schema(
        summary="Schedule an event (you are a host)",
        request=inputs.EventCreateInput,
        responses={201: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request) -> Response:
        data = _valid(inputs.EventCreateInput, request.data)
        event = schedule_services.event_create(user=request.user, **data)  # type: ignore[arg-type]
        return Response(_event(event.pk, request.user), status=status.HTTP_201_CREATED)


class EventForYouView(MemberAPIView):
    @extend_schema(summary="Upcoming events for you", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        paginator = Pagination()
        page = paginator.paginate_queryset(
            schedule_selectors.event_list_for_you(viewer=request.user), request, view=self
        )
        return paginator.get_paginated_response(
            [schedule_selectors.event_item(event) for event in page or []]
        )


class EventDetailView(MemberAPIView):
    @extend_schema(summary="An event", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, event_id: int) -> Response:
        return Response(_event(event_id, request.user))

    @extend_schema(
        summary="Edit an event (hosts, before it starts)",
        request=inputs.EventUpdateInput,
        responses=OpenApiTypes.OBJECT,
    )
    def patch(self, request: Request, event_id: int) -> Response:
        data = _valid(inputs.EventUpdateInput, request.data)
        schedule_services.event_update(user=request.user, event_id=event_id, **data)  # type: ignore[arg-type]
        return Response(_event(event_id, request.user))

    @extend_schema(summary="Cancel an event (hosts)", responses={204: None})
    def delete(self, request: Request, event_id: int) -> Response:
        schedule_services.event_delete(user=request.user, event_id=event_id)  # type: ignore[arg-type]
        return Response(status=status.HTTP_204_NO_CONTENT)


class EventRSVPView(MemberAPIView):
    @extend_schema(
        summary="RSVP (idempotent)", request=inputs.EmptyInput, responses=OpenApiTypes.OBJECT
    )
    def post(self, request: Request, event_id: int) -> Response:
        schedule_services.event_rsvp_set(user=request.user, event_id=event_id, going=True)  # type: ignore[arg-type]
        return Response(_event(event_id, request.user))

    @extend_schema(summary="Cancel your RSVP (idempotent)", responses={200: OpenApiTypes.OBJECT})
    def delete(self, request: Request, event_id: int) -> Response:
        schedule_services.event_rsvp_set(user=request.user, event_id=event_id, going=False)  # type: ignore[arg-type]
        return Response(_event(event_id, request.user))


class EventICSView(MemberAPIView):
    @extend_schema(
        summary="The event as an iCalendar (.ics) file",
        responses={(200, "text/calendar"): OpenApiTypes.STR},
    )
    def get(self, request: Request, event_id: int) -> HttpResponse:
        event = schedule_selectors.event_get(event_id=event_id, viewer=request.user)
        response = HttpResponse(
            schedule_selectors.event_ics(event), content_type="text/calendar; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="event-{event.pk}.ics"'
        return response


class EventStartView(MemberAPIView):
    @extend_schema(
        summary="Start the event's live room (hosts; idempotent)",
        request=inputs.EventStartInput,
        responses=OpenApiTypes.OBJECT,
    )
    def post(self, request: Request, event_id: int) -> Response:
        data = _valid(inputs.EventStartInput, request.data)
        room = schedule_services.event_start_room(
            user=request.user,  # type: ignore[arg-type]
            event_id=event_id,
            type=data.get("type"),
        )
        return Response(selectors.room_snapshot(room_id=room.pk, viewer=request.user))


# --- co-host invitations ------------------------------------------------------------------
_COHOST_INVITE = inline_serializer(
    "EventCohostInvite",
    {
        "id": serializers.IntegerField(),
        "status": serializers.ChoiceField(choices=EventCohostInvite.Status.choices),
        "event": inline_serializer(
            "EventCohostInviteEvent",
            {
                "id": serializers.IntegerField(),
                "title": serializers.CharField(),
                "starts_at": serializers.DateTimeField(),
            },
        ),
        "invited_by": serializers.JSONField(allow_null=True, help_text="a user card"),
        "created": serializers.DateTimeField(),
    },
)


class EventCohostInviteListView(MemberAPIView):
    @extend_schema(
        operation_id="events_cohost_invites_list",
        summary="Co-host invitations waiting for your answer",
        responses=inline_serializer(
            "EventCohostInviteList", {"results": serializers.ListField(child=_COHOST_INVITE)}
        ),
    )
    def get(self, request: Request) -> Response:
        invites = schedule_selectors.event_cohost_invites_pending(user=request.user)
        return Response(
            {"results": [schedule_selectors.event_cohost_invite_item(i) for i in invites]}
        )


class EventCohostInviteAcceptView(MemberAPIView):
    @extend_schema(
        operation_id="events_cohost_invite_accept",
        summary="Accept to co-host an event (idempotent): you become one of its hosts",
        request=inputs.EmptyInput,
        responses=_COHOST_INVITE,
    )
    def post(self, request: Request, invite_id: int) -> Response:
        invite = schedule_services.event_cohost_accept(user=request.user, invite_id=invite_id)  # type: ignore[arg-type]
        return Response(schedule_selectors.event_cohost_invite_item(invite))


class EventCohostInviteDeclineView(MemberAPIView):
    @extend_schema(
        operation_id="events_cohost_invite_decline",
        summary="Decline to co-host an event (idempotent; final for that event)",
        request=inputs.EmptyInput,
        responses=_COHOST_INVITE,
    )
    def post(self, request: Request, invite_id: int) -> Response:
        invite = schedule_services.event_cohost_decline(user=request.user, invite_id=invite_id)  # type: ignore[arg-type]
        return Response(schedule_selectors.event_cohost_invite_item(invite))
