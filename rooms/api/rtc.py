"""GET /api/v1/rtc/ice-servers: the STUN/TURN servers a member's app builds its peer connection
with, and how many receive slots to offer (issue #22; the room page fetches the same). Members
only: TURN credentials are minted per member (media_relay/ice.py)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsMember
from media_relay.conf import listener_slots
from media_relay.ice import member_ice_servers

_IceServer = inline_serializer(
    "RtcIceServer",
    {
        "urls": serializers.ListField(child=serializers.CharField()),
        "username": serializers.CharField(required=False),
        "credential": serializers.CharField(required=False),
    },
)


class IceServersView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="rtc_ice_servers",
        summary="STUN/TURN servers for your audio connection (TURN credentials minted for you)",
        description=(
            "Build the RTCPeerConnection with `ice_servers`. The TURN credential stops working "
            "at `expires_at` (unix time); fetch again before then and use fresh servers for "
            "every new connection or ICE restart. Offer `listener_slots` receive-only audio "
            "m-lines (transceivers): the relay forwards the room's loudest speakers on that many "
            "streams, and a client offering fewer hears fewer of them."
        ),
        responses=inline_serializer(
            "RtcIceServers",
            {
                "ice_servers": _IceServer.__class__(many=True),
                "expires_at": serializers.IntegerField(allow_null=True),
                "ttl_seconds": serializers.IntegerField(allow_null=True),
                "listener_slots": serializers.IntegerField(min_value=1),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        assert request.user.pk is not None  # IsMember: signed in
        response = Response(
            {**member_ice_servers(request.user.pk), "listener_slots": listener_slots()}
        )
        response["Cache-Control"] = "no-store"  # a credential: never cached by a proxy
        return response
