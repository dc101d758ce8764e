"""REST endpoints for people: authenticate, parse, call one service or selector, render."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.api import serializers as s
from accounts.models import Invitation, Notification, User
from accounts.permissions import IsMember
from accounts.push import push_configured
from clubhouse.api import UPLOAD_PARSERS
from clubhouse.errors import InvalidInput, NotFound


def _user(request: Request) -> User:
    return request.user  # type: ignore[return-value]


def _profile_response(request: Request, viewer: User, user: User) -> dict[str, Any]:
    context = {
        "request": request,
        "counts": selectors.user_profile_counts(user),
        "relationship": selectors.user_relationship(viewer=viewer, other=user),
        "sections": selectors.profile_viewer_sections(user=user, viewer=viewer),
    }
    serializer_class = s.MeSerializer if viewer.pk == user.pk else s.ProfileSerializer
    return serializer_class(user, context=context).data


class MeView(APIView):
    """Your own profile. Waitlisted people may read and edit it too."""

    parser_classes = UPLOAD_PARSERS  # the avatar

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=s.MeSerializer)
    def get(self, request: Request) -> Response:
        return Response(_profile_response(request, _user(request), _user(request)))

    @extend_schema(
        request={
            "application/json": s.ProfileUpdateJSONSerializer,
            "multipart/form-data": s.ProfileUpdateSerializer,
        },
        responses=s.MeSerializer,
    )
    def patch(self, request: Request) -> Response:
        if not isinstance(request.data, dict):
            raise InvalidInput("Send a JSON object.", code="invalid")
        serializer = s.ProfileUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = services.user_profile_update(
            user=_user(request), data=dict(serializer.validated_data)
        )
        return Response(_profile_response(request, user, user))


class UserDetailView(APIView):
    permission_classes = [IsMember]

    @extend_schema(responses=s.ProfileSerializer)
    def get(self, request: Request, username: str) -> Response:
        user = selectors.user_get_visible(viewer=_user(request), username=username)
        return Response(_profile_response(request, _user(request), user))


def _other(request: Request, username: str) -> User:
    return selectors.user_get_visible(viewer=_user(request), username=username)


class UserFollowView(APIView):
    """PUT-like POST: follow (idempotent); DELETE: unfollow (idempotent)."""

    permission_classes = [IsMember]

    @extend_schema(request=None, responses=s.RelationshipSerializer)
    def post(self, request: Request, username: str) -> Response:
        other = _other(request, username)
        services.user_follow(follower=_user(request), followee=other)
        return Response(selectors.user_relationship(viewer=_user(request), other=other))

    @extend_schema(request=None, responses={200: s.RelationshipSerializer})
    def delete(self, request: Request, username: str) -> Response:
        other = _other(request, username)
        services.user_unfollow(follower=_user(request), followee=other)
        return Response(selectors.user_relationship(viewer=_user(request), other=other))


class UserBlockView(APIView):
    permission_classes = [IsMember]

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request, username: str) -> Response:
        services.user_block(blocker=_user(request), blocked=_other(request, username))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, username: str) -> Response:
        # The blocked person is hidden from the blocker, so look them up directly.
        other = User.objects.filter(username=username).first()
        if other is None:
            raise NotFound("No such person.", code="user_not_found")
        services.user_unblock(blocker=_user(request), blocked=other)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserReportView(APIView):
    permission_classes = [IsMember]

    @extend_schema(request=s.ReportInputSerializer, responses={201: s.ReportSerializer})
    def post(self, request: Request, username: str) -> Response:
        serializer = s.ReportInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # Not `_other`: blocking a harasser and then reporting them is the common order.
        reported = User.objects.filter(username=username, is_active=True).first()
        if reported is None:
            raise NotFound("No such person.", code="user_not_found")
        report = services.report_create(
            reporter=_user(request),
            reported=reported,
            **serializer.validated_data,
        )
        return Response(s.ReportSerializer(report).data, status=status.HTTP_201_CREATED)


class _UserListView(generics.ListAPIView):
    permission_classes = [IsMember]
    serializer_class = s.UserSummarySerializer


class UserFollowersView(_UserListView):
    def get_queryset(self) -> QuerySet[User]:
        viewer = _user(self.request)
        user = selectors.user_get_visible(viewer=viewer, username=self.kwargs["username"])
        return selectors.user_followers(viewer=viewer, user=user)


class UserFollowingView(_UserListView):
    def get_queryset(self) -> QuerySet[User]:
        viewer = _user(self.request)
        user = selectors.user_get_visible(viewer=viewer, username=self.kwargs["username"])
        return selectors.user_following(viewer=viewer, user=user)


class MutualsView(_UserListView):
    """People you follow who follow you back."""

    def get_queryset(self) -> QuerySet[User]:
        return selectors.user_mutuals(user=_user(self.request))


# --- notifications ---------------------------------------------------------------------------
@extend_schema(
    parameters=[
        OpenApiParameter("unread", OpenApiTypes.BOOL, description="true: only unread; false: read")
    ]
)
class NotificationListView(generics.ListAPIView):
    permission_classes = [IsAuthenticated]
    serializer_class = s.NotificationSerializer

    def get_queryset(self) -> QuerySet[Notification]:
        raw = self.request.query_params.get("unread")
        unread: bool | None = None
        if raw is not None:
            if raw.lower() not in {"true", "false", "1", "0"}:
                raise InvalidInput(fields={"unread": ["Use true or false."]})
            unread = raw.lower() in {"true", "1"}
        return selectors.notification_list(user=_user(self.request), unread=unread)


class NotificationUnreadCountView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=s.UnreadCountSerializer)
    def get(self, request: Request) -> Response:
        return Response({"unread": selectors.notification_unread_count(user=_user(request))})


class NotificationReadView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=s.NotificationSerializer)
    def post(self, request: Request, pk: int) -> Response:
        notification = services.notification_mark_read(user=_user(request), notification_id=pk)
        return Response(s.NotificationSerializer(notification, context={"request": request}).data)


class NotificationReadAllView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=s.MarkedSerializer)
    def post(self, request: Request) -> Response:
        return Response({"marked": services.notification_mark_all_read(user=_user(request))})


class NotificationSettingsView(APIView):
    """Your notification settings: which mails you get (event reminders, the weekly digest)."""

    permission_classes = [IsAuthenticated]

    def _body(self, user: User) -> dict[str, bool]:
        return {name: getattr(user, name) for name in services.EMAIL_SETTINGS}

    @extend_schema(responses=s.NotificationSettingsSerializer)
    def get(self, request: Request) -> Response:
        return Response(self._body(_user(request)))

    @extend_schema(
        request=s.NotificationSettingsSerializer, responses=s.NotificationSettingsSerializer
    )
    def patch(self, request: Request) -> Response:
        if not isinstance(request.data, dict):
            raise InvalidInput("Send a JSON object.", code="invalid")
        serializer = s.NotificationSettingsSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = services.notification_settings_update(
            user=_user(request), changes=dict(serializer.validated_data)
        )
        return Response(self._body(user))


class PushKeyView(APIView):
    """The server's VAPID public key, for subscribing a browser to Web Push."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=s.PushKeySerializer)
    def get(self, request: Request) -> Response:
        configured = push_configured()
        return Response(
            {"enabled": configured, "public_key": settings.VAPID_PUBLIC_KEY if configured else ""}
        )


class PushSubscriptionListView(APIView):
    """Your devices subscribed to Web Push (GET), and this browser's subscription (POST: the
    JSON of PushSubscription.toJSON(); 201 when new, 200 when it refreshed a stored one)."""

    permission_classes = [IsMember]

    @extend_schema(responses=s.PushSubscriptionListSerializer)
    def get(self, request: Request) -> Response:
        rows = selectors.push_subscription_list(user=_user(request))
        return Response({"results": s.PushSubscriptionSerializer(rows, many=True).data})

    @extend_schema(
        request=s.PushSubscriptionCreateSerializer,
        responses={200: s.PushSubscriptionSerializer, 201: s.PushSubscriptionSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = s.PushSubscriptionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        subscription, created = services.push_subscription_save(
            user=_user(request),
            endpoint=data["endpoint"],
            p256dh=data["keys"]["p256dh"],
            auth=data["keys"]["auth"],
            user_agent=request.headers.get("User-Agent", ""),
        )
        return Response(
            s.PushSubscriptionSerializer(subscription).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class PushUnsubscribeView(APIView):
    """Stop pushes to one browser (by its endpoint). Idempotent: `removed` is 0 or 1."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=s.PushUnsubscribeSerializer, responses=s.RemovedSerializer)
    def post(self, request: Request) -> Response:
        serializer = s.PushUnsubscribeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        removed = services.push_subscription_delete(
            user=_user(request), endpoint=serializer.validated_data["endpoint"]
        )
        return Response({"removed": removed})


# --- invitations -----------------------------------------------------------------------------
class InvitationListCreateView(generics.ListAPIView):
    """Your invitations (GET) and a new one (POST: spends one invitation from your quota)."""

    permission_classes = [IsMember]
    serializer_class = s.InvitationSerializer

    def get_queryset(self) -> QuerySet[Invitation]:
        return selectors.invitation_list_sent(user=_user(self.request))

    @extend_schema(
        request=s.InvitationCreateSerializer, responses={201: s.InvitationCreatedSerializer}
    )
    def post(self, request: Request) -> Response:
        serializer = s.InvitationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation, token = services.invitation_create(
            inviter=_user(request), **serializer.validated_data
        )
        link = request.build_absolute_uri(reverse("invitation_landing", args=[token]))
        data = s.InvitationCreatedSerializer(
            invitation, context={"request": request, "link": link}
        ).data
        return Response(data, status=status.HTTP_201_CREATED)


class InvitationRevokeView(APIView):
    permission_classes = [IsMember]

    @extend_schema(request=None, responses=s.InvitationSerializer)
    def post(self, request: Request, pk: int) -> Response:
        invitation = Invitation.objects.filter(pk=pk, inviter=_user(request)).first()
        if invitation is None:
            raise NotFound("No such invitation.", code="invitation_not_found")
        invitation = services.invitation_revoke(invitation=invitation, by=_user(request))
        return Response(s.InvitationSerializer(invitation, context={"request": request}).data)


class InvitationPreviewView(APIView):
    """For apps, before signup: who sent this invitation, and is it still good? Public, so
    the same distinct error codes as redeeming tell the person what went wrong."""

    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(request=s.TokenSerializer, responses=s.InvitationPreviewSerializer)
    def post(self, request: Request) -> Response:
        serializer = s.TokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token = serializer.validated_data["token"]
        invitation = services.invitation_check(selectors.invitation_find(token))
        data = s.InvitationPreviewSerializer(
            {"inviter": invitation.inviter, "expires_at": invitation.expires_at},
            context={"request": request},
        ).data
        return Response(data)


class InvitationRedeemView(APIView):
    """For apps: a logged-in waitlisted person redeems an invitation token and becomes a member."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=s.TokenSerializer, responses=s.MeSerializer)
    def post(self, request: Request) -> Response:
        serializer = s.TokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.invitation_accept(token=serializer.validated_data["token"], user=_user(request))
        user = User.objects.get(pk=_user(request).pk)
        return Response(_profile_response(request, user, user))


# --- waitlist --------------------------------------------------------------------------------
class WaitlistVouchView(generics.ListAPIView):
    """GET: for a member, the waitlisted people who named you; for a waitlisted person, the
    members you named. POST (waitlisted): name a member you know; they are notified."""

    permission_classes = [IsAuthenticated]
    serializer_class = s.VouchSerializer

    def get_queryset(self) -> QuerySet[Any]:
        user = _user(self.request)
        if user.is_member:
            return selectors.waitlist_vouches_received(member=user)
        return selectors.waitlist_vouches_asked(user=user)

    @extend_schema(request=s.UsernameSerializer, responses={201: s.VouchSerializer})
    def post(self, request: Request) -> Response:
        serializer = s.UsernameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member = User.objects.filter(username=serializer.validated_data["username"]).first()
        if member is None:
            raise NotFound("No member with that username.", code="user_not_found")
        vouch = services.waitlist_vouch_request(requester=_user(request), member=member)
        return Response(
            s.VouchSerializer(vouch, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )


class WaitlistLetInView(APIView):
    """Let a waitlisted person in by username or e-mail; spends one invitation when someone is
    let in. The same answer for everyone else (never says who is a member); limited per day."""

    permission_classes = [IsMember]

    @extend_schema(request=s.LetInSerializer, responses=s.LetInResultSerializer)
    def post(self, request: Request) -> Response:
        serializer = s.LetInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        let_in = services.waitlist_let_in_named(member=_user(request), **serializer.validated_data)
        quota = User.objects.values_list("invitation_quota", flat=True).get(pk=_user(request).pk)
        return Response({"let_in": let_in, "invitation_quota": quota})


_ERRORS = dict.fromkeys((400, 401, 403, 409), s.AccountErrorSerializer)


class AccountExportView(APIView):
    """Download everything kept about you, as JSON (also a button on the settings page)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: s.AccountExportSerializer, 401: s.AccountErrorSerializer})
    def get(self, request: Request) -> Response:
        data = selectors.account_export(_user(request))
        response = Response(data)
        response["Content-Disposition"] = 'attachment; filename="clubhouse-export.json"'
        response["Cache-Control"] = "no-store"
        return response


class AccountDeleteView(APIView):
    """Delete your account (with your password). Your profile, follows, clubs and rooms go at
    once and your sessions end; payments you made or received stay, anonymised. Refused with
    `account_delete_balance_pending`, `account_delete_payout_pending` or
    `account_delete_paid_club` while money is still on its way to you (docs/accounts.md)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=s.AccountDeleteSerializer, responses={204: None, **_ERRORS})
    def post(self, request: Request) -> Response:
        if not isinstance(request.data, dict):
            raise InvalidInput("Send a JSON object.", code="invalid")
        serializer = s.AccountDeleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.account_delete_by_self(
            user=_user(request),
            password=serializer.validated_data.get("password", ""),
            confirm=serializer.validated_data.get("confirm", ""),
        )
        if getattr(request, "session", None) is not None:
            request.session.flush()  # the browser's cookie goes with the session
        return Response(status=status.HTTP_204_NO_CONTENT)
