"""GET /api/v1/me/following/live/: people you follow who are in a live room you may enter
(the hallway's "people you follow, live now"). Kept apart from views.py so the change is
small; the lead may fold the query into rooms/hallway.py."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.selectors import user_followee_ids
from rooms.api.views import MemberAPIView
from rooms.hallway import room_hallway_queryset
from rooms.models import RoomParticipant
from rooms.selectors import user_card

LIMIT = 50


def following_live(*, viewer: Any) -> list[dict[str, Any]]:
    """One entry per followed person, in the room they joined last, on stage first."""
    rooms = room_hallway_queryset(viewer=viewer).order_by().values("pk")
    rows = (
        RoomParticipant.objects.filter(
            room__in=rooms,
            user__in=user_followee_ids(follower=viewer),
        )
        .select_related("user", "room")
        .order_by("-joined_at", "-pk")
    )
    people: list[dict[str, Any]] = []
    seen: set[int] = set()
    for row in rows[: LIMIT * 4]:  # a person is in one live room at a time, rarely more
        if row.user_id in seen:
            continue
        seen.add(row.user_id)
        people.append(
            {
                "user": user_card(row.user),
                "role": row.role,
                "room": {"id": row.room_id, "title": row.room.title},
            }
        )
        if len(people) == LIMIT:
            break
    on_stage = set(RoomParticipant.STAGE_ROLES)
    people.sort(key=lambda p: (p["role"] not in on_stage, p["user"]["name"].lower()))
    return people


class FollowingLiveView(MemberAPIView):
    @extend_schema(
        operation_id="me_following_live",
        summary="People you follow who are in a live room you may enter",
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        return Response({"results": following_live(viewer=request.user)})
