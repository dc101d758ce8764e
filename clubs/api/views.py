"""Clubs REST API. Each view authenticates (IsMember), parses, calls one service or selector,
renders. Errors use the project shape with the codes listed in docs/clubs.md."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsMember
from clubhouse.api import UPLOAD_PARSERS, Pagination
from clubhouse.api_schema import PAGE_PARAMETERS, ErrorEnvelopeSerializer, paginated
from clubhouse.errors import InvalidInput, NotFound
from clubs import selectors, services
from clubs.api import serializers as s
from clubs.errors import ClubForbidden, member_required
from clubs.models import Club, ClubMembershipRequest, ClubNomination

if TYPE_CHECKING:
    from accounts.models import User
else:
    User = get_user_model()

ERRORS = dict.fromkeys((400, 401, 403, 404, 409), ErrorEnvelopeSerializer)


def _me(request: Request) -> User:
    """IsMember has run: the requester is an authenticated member."""
    assert isinstance(request.user, User)
    return request.user


def _input(serializer_class: type, request: Request, **kwargs: Any) -> dict[str, Any]:
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _club_detail(request: Request, slug: str, code: int = status.HTTP_200_OK) -> Response:
    club = selectors.club_with_viewer(slug=slug, viewer=_me(request))
    return Response(s.ClubDetailSerializer(club, context={"request": request}).data, status=code)


def _paginated(request: Request, view: APIView, queryset: Any, serializer_class: type) -> Response:
    paginator = Pagination()
    page: Any = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class ClubListCreateView(APIView):
    parser_classes = UPLOAD_PARSERS  # the club photo
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="clubs_list",
        parameters=[
            OpenApiParameter("q", OpenApiTypes.STR, description="Name contains, or a topic."),
            OpenApiParameter("topic", OpenApiTypes.STR, description="A topic slug."),
            *PAGE_PARAMETERS,
        ],
        responses={200: paginated(s.ClubSerializer, "Club"), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        clubs = selectors.club_list(
            viewer=_me(request),
            q=request.query_params.get("q", "").strip(),
            topic=request.query_params.get("topic", "").strip(),
        )
        return _paginated(request, self, clubs, s.ClubSerializer)

    @extend_schema(
        operation_id="clubs_create",
        request={
            "application/json": s.ClubWriteJSONSerializer,
            "multipart/form-data": s.ClubWriteSerializer,
        },
        responses={201: s.ClubDetailSerializer, **ERRORS},
        description="Create a club; you become its admin.",
    )
    def post(self, request: Request) -> Response:
        data = _input(s.ClubWriteSerializer, request)
        club = services.club_create(creator=_me(request), **data)
        return _club_detail(request, club.slug, status.HTTP_201_CREATED)


class MyClubsView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="clubs_mine",
        parameters=PAGE_PARAMETERS,
        responses={200: paginated(s.ClubSerializer, "Club"), **ERRORS},
        description="Clubs you are a member of or follow.",
    )
    def get(self, request: Request) -> Response:
        clubs = selectors.club_list_for_user(user=_me(request))
        return _paginated(request, self, clubs, s.ClubSerializer)


class ClubDetailView(APIView):
    parser_classes = UPLOAD_PARSERS  # the club photo
    permission_classes = [IsMember]

    @extend_schema(operation_id="clubs_retrieve", responses={200: s.ClubDetailSerializer, **ERRORS})
    def get(self, request: Request, slug: str) -> Response:
        return _club_detail(request, slug)

    @extend_schema(
        operation_id="clubs_update",
        request={
            "application/json": s.ClubUpdateJSONSerializer,
            "multipart/form-data": s.ClubUpdateSerializer,
        },
        responses={200: s.ClubDetailSerializer, **ERRORS},
        description="Admins only. Multipart to upload a photo (JPEG, PNG or WebP, at most 2 MiB).",
    )
    def patch(self, request: Request, slug: str) -> Response:
        club = selectors.club_get(slug=slug)
        data = _input(s.ClubUpdateSerializer, request, partial=True)
        services.club_update(club=club, actor=_me(request), **data)
        return _club_detail(request, slug)

    @extend_schema(operation_id="clubs_destroy", responses={204: None, **ERRORS})
    def delete(self, request: Request, slug: str) -> Response:
        services.club_delete(club=selectors.club_get(slug=slug), actor=_me(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ClubFollowView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="clubs_follow", request=None, responses={200: s.ClubDetailSerializer, **ERRORS}
    )
    def post(self, request: Request, slug: str) -> Response:
        services.club_follow(club=selectors.club_get(slug=slug), user=_me(request))
        return _club_detail(request, slug)

    @extend_schema(operation_id="clubs_unfollow", responses={204: None, **ERRORS})
    def delete(self, request: Request, slug: str) -> Response:
        services.club_unfollow(club=selectors.club_get(slug=slug), user=_me(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ClubJoinView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="clubs_join",
        request=None,
        responses={200: s.ClubDetailSerializer, **ERRORS},
        description="Join an open club (idempotent). Other clubs: request or be nominated.",
    )
    def post(self, request: Request, slug: str) -> Response:
        services.club_join(club=selectors.club_get(slug=slug), user=_me(request))
        return _club_detail(request, slug)


class ClubLeaveView(APIView):
    permission_classes = [IsMember]

    @extend_schema(operation_id="clubs_leave", request=None, responses={204: None, **ERRORS})
    def post(self, request: Request, slug: str) -> Response:
        services.club_leave(club=selectors.club_get(slug=slug), user=_me(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ClubRequestsView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="clubs_requests_list",
        responses={200: paginated(s.MembershipRequestSerializer, "MembershipRequest"), **ERRORS},
        parameters=PAGE_PARAMETERS,
        description="Pending membership requests (admins and leaders).",
    )
    def get(self, request: Request, slug: str) -> Response:
        club = selectors.club_get(slug=slug)
        if not selectors.club_can_manage_members(user=_me(request), club=club):
            raise ClubForbidden(
                "Only a club leader or admin can do this.", code="club_leader_required"
            )
        requests = selectors.club_requests_pending(club=club)
        return _paginated(request, self, requests, s.MembershipRequestSerializer)

    @extend_schema(
        operation_id="clubs_requests_create",
        request=s.MembershipRequestCreateSerializer,
        responses={201: s.MembershipRequestSerializer, **ERRORS},
        description="Ask to join a club whose join policy is `request` (idempotent).",
    )
    def post(self, request: Request, slug: str) -> Response:
        data = _input(s.MembershipRequestCreateSerializer, request)
        membership_request = services.club_request_create(
            club=selectors.club_get(slug=slug), user=_me(request), **data
        )
        return Response(
            s.MembershipRequestSerializer(membership_request).data, status=status.HTTP_201_CREATED
        )


class ClubRequestDecisionView(APIView):
    permission_classes = [IsMember]
    decision = "approve"

    @extend_schema(request=None, responses={200: s.MembershipRequestSerializer, **ERRORS})
    def post(self, request: Request, slug: str, pk: int) -> Response:
        club = selectors.club_get(slug=slug)
        membership_request = ClubMembershipRequest.objects.filter(club=club, pk=pk).first()
        if membership_request is None:
            raise NotFound("No such request.", code="club_request_not_found")
        if self.decision == "approve":
            result = services.club_request_approve(request=membership_request, actor=_me(request))
        elif self.decision == "reject":
            result = services.club_request_reject(request=membership_request, actor=_me(request))
        else:
            result = services.club_request_withdraw(request=membership_request, user=_me(request))
        return Response(s.MembershipRequestSerializer(result).data)


class ClubNominationsView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="clubs_nominations_list",
        responses={200: paginated(s.NominationSerializer, "Nomination"), **ERRORS},
        parameters=PAGE_PARAMETERS,
        description="Admins: pending nominations. Other members: the ones they made.",
    )
    def get(self, request: Request, slug: str) -> Response:
        club = selectors.club_get(slug=slug)
        if selectors.club_role(user=_me(request), club=club) is None:
            raise member_required()
        nominations = selectors.club_nominations_visible(club=club, viewer=_me(request))
        return _paginated(request, self, nominations, s.NominationSerializer)

    @extend_schema(
        operation_id="clubs_nominations_create",
        request=s.NominationCreateSerializer,
        responses={201: s.NominationSerializer, **ERRORS},
        description="Members nominate someone; an admin approves or rejects (idempotent).",
    )
    def post(self, request: Request, slug: str) -> Response:
        data = _input(s.NominationCreateSerializer, request)
        nominee = User.objects.filter(pk=data["user"], is_active=True).first()
        if nominee is None:
            raise InvalidInput(fields={"user": ["No such person."]})
        nomination = services.club_nominate(
            club=selectors.club_get(slug=slug),
            nominator=_me(request),
            nominee=nominee,
            note=data.get("note", ""),
        )
        return Response(s.NominationSerializer(nomination).data, status=status.HTTP_201_CREATED)


class ClubNominationDecisionView(APIView):
    permission_classes = [IsMember]
    decision = "approve"

    @extend_schema(request=None, responses={200: s.NominationSerializer, **ERRORS})
    def post(self, request: Request, slug: str, pk: int) -> Response:
        club = selectors.club_get(slug=slug)
        nomination = ClubNomination.objects.filter(club=club, pk=pk).first()
        if nomination is None:
            raise NotFound("No such nomination.", code="club_nomination_not_found")
        decide = {
            "approve": services.club_nomination_approve,
            "reject": services.club_nomination_reject,
            "withdraw": services.club_nomination_withdraw,
        }[self.decision]
        return Response(
            s.NominationSerializer(decide(nomination=nomination, actor=_me(request))).data
        )


class ClubMembersView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="clubs_members_list",
        responses={200: paginated(s.MembershipSerializer, "Membership"), **ERRORS},
        parameters=PAGE_PARAMETERS,
        description="When the club's member list is private, only its members see it.",
    )
    def get(self, request: Request, slug: str) -> Response:
        club = selectors.club_get(slug=slug)
        if not selectors.club_can_see_members(user=_me(request), club=club):
            raise ClubForbidden(
                "Only members can see this club's members.", code="club_members_private"
            )
        return _paginated(request, self, selectors.club_members(club=club), s.MembershipSerializer)


def _member(club: Club, user_id: int) -> User:
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise NotFound("That person is not a member of this club.", code="club_not_member")
    return user


class ClubMemberView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="clubs_members_remove",
        responses={204: None, **ERRORS},
        description="Admins remove anyone; leaders remove plain members; yourself = leave.",
    )
    def delete(self, request: Request, slug: str, user_id: int) -> Response:
        club = selectors.club_get(slug=slug)
        services.club_member_remove(club=club, actor=_me(request), user=_member(club, user_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ClubMemberRoleView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="clubs_members_set_role",
        request=s.RoleSerializer,
        responses={200: s.MembershipSerializer, **ERRORS},
        description="Admins only. The last admin cannot demote themselves.",
    )
    def post(self, request: Request, slug: str, user_id: int) -> Response:
        club = selectors.club_get(slug=slug)
        data = _input(s.RoleSerializer, request)
        membership = services.club_member_set_role(
            club=club, actor=_me(request), user=_member(club, user_id), role=data["role"]
        )
        return Response(s.MembershipSerializer(membership).data)


class ClubPremiumView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="clubs_premium_me",
        responses={200: s.PremiumStatusSerializer, **ERRORS},
        description="Your premium membership in this club and whether it grants access now.",
    )
    def get(self, request: Request, slug: str) -> Response:
        club = selectors.club_get(slug=slug)
        premium = selectors.premium_membership_for(user=_me(request), club=club)
        data = {
            "has_access": selectors.club_premium_access(_me(request), club),
            "status": premium.status if premium else None,
            "source": premium.source if premium else None,
            "current_period_end": premium.current_period_end if premium else None,
            "grace_until": premium.grace_until if premium else None,
        }
        return Response(s.PremiumStatusSerializer(data).data)


class ClubReportView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        operation_id="clubs_report",
        request=s.ReportCreateSerializer,
        responses={201: s.ClubReportSerializer, **ERRORS},
    )
    def post(self, request: Request, slug: str) -> Response:
        data = _input(s.ReportCreateSerializer, request)
        report = services.club_report_create(
            club=selectors.club_get(slug=slug), reporter=_me(request), **data
        )
        return Response(s.ClubReportSerializer(report).data, status=status.HTTP_201_CREATED)
