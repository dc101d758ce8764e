"""GET /api/v1/me/following/online/: people you follow who have the app open now (the hallway's
"Online now"), with the live room each is in when you may enter it.

Who is online comes from rooms/realtime/online.py (Redis, or process memory in embedded mode);
everything else is a fixed number of queries whatever the page size: the followed ids, the
page (count + rows), and the rooms of the people on it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Coalesce, Lower, NullIf
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.selectors import user_followee_ids, user_visible_q
from clubhouse.api import Pagination
from clubhouse.api_schema import PAGE_PARAMETERS
from rooms.api.views import MemberAPIView
from rooms.hallway import room_hallway_queryset
from rooms.models import RoomParticipant
from rooms.realtime.online import online_user_ids
from rooms.selectors import user_card

if TYPE_CHECKING:
    from accounts.models import User
else:
    User = get_user_model()


def following_online_queryset(*, viewer: User) -> QuerySet[User]:
    """Active members the viewer follows who are online, not blocked either way, by name."""
    followed = list(
        User.objects.filter(
            pk__in=user_followee_ids(follower=viewer),
            is_active=True,
            status=User.Status.MEMBER,
        )
        .filter(user_visible_q(viewer))
        .values_list("pk", flat=True)
    )
    online = online_user_ids(followed)
    return (
        User.objects.filter(pk__in=sorted(online))
        .annotate(sort_name=Lower(Coalesce(NullIf(F("display_name"), Value("")), F("username"))))
        .order_by("sort_name", "pk")
    )


def following_online_rooms(*, viewer: User, user_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The live room each of `user_ids` is in, when the viewer may see it (the hallway's rules:
    closed rooms without an invitation, rooms whose moderator blocked the viewer... stay hidden)."""
    if not user_ids:
        return {}
    rows = (
        RoomParticipant.objects.filter(
            user_id__in=user_ids,
            room__in=room_hallway_queryset(viewer=viewer).order_by().values("pk"),
        )
        .select_related("room")
        .order_by("-joined_at", "-pk")
    )
    rooms: dict[int, dict[str, Any]] = {}
    for row in rows:
        # a person is in one live room at a time, rarely more: the one joined last wins
        rooms.setdefault(
            row.user_id, {"id": row.room_id, "title": row.room.title, "role": row.role}
        )
    return rooms


_ROOM = inline_serializer(
    "OnlineRoom",
    {
        "id": serializers.IntegerField(),
        "title": serializers.CharField(),
        "role": serializers.CharField(help_text="moderator, speaker or listener"),
    },
    allow_null=True,
)
_ENTRY_FIELDS: dict[str, serializers.Field[Any, Any, Any, Any]] = {
    "user": inline_serializer(
        "OnlineUserCard",
        {
            "id": serializers.IntegerField(),
            "username": serializers.CharField(),
            "name": serializers.CharField(),
            "avatar_url": serializers.URLField(allow_null=True),
        },
    ),
    "room": _ROOM,
}


class FollowingOnlineView(MemberAPIView):
    @extend_schema(
        operation_id="me_following_online",
        summary="People you follow who are online now, with the room they are in if you may enter it",
        description=(
            "Online: at least one of their `/ws/` sockets is open, or closed less than "
            "REALTIME_ONLINE_GRACE_SECONDS ago (docs/protocol.md, Presence). People blocked "
            "either way never appear. Ordered by name."
        ),
        parameters=[
            *PAGE_PARAMETERS,
        ],
        responses={
            200: OpenApiResponse(
                response=inline_serializer(
                    "FollowingOnlinePage",
                    {
                        "count": serializers.IntegerField(),
                        "next": serializers.URLField(allow_null=True),
                        "previous": serializers.URLField(allow_null=True),
                        "results": inline_serializer(
                            "FollowingOnlineEntry", _ENTRY_FIELDS, many=True
                        ),
                    },
                )
            )
        },
    )
    def get(self, request: Request) -> Response:
        viewer = request.user
        assert isinstance(viewer, User)
        paginator = Pagination()
        page = list(
            paginator.paginate_queryset(
                following_online_queryset(viewer=viewer), request, view=self
            )
            or []
        )
        rooms = following_online_rooms(viewer=viewer, user_ids=[user.pk for user in page])
        return paginator.get_paginated_response(
            [{"user": user_card(user), "room": rooms.get(user.pk)} for user in page]
        )
