"""Discovery reads the web client's onboarding needs: the topic list, and people to follow.

Kept apart from views.py so the change is small; the lead may fold `user_suggestions` into
accounts/selectors.py."""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.serializers import UserSummarySerializer
from accounts.models import Follow, Topic, User
from accounts.permissions import IsMember
from accounts.selectors import user_visible_q
from clubhouse.errors import InvalidInput

SUGGESTIONS_MAX = 50


class TopicSerializer(serializers.ModelSerializer):
    class Meta:
        model = Topic
        fields = ["id", "slug", "name"]


class TopicListView(APIView):
    """Every topic (a short, curated list): profiles use slugs, rooms and events ids."""

    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="topics_list", responses=TopicSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(TopicSerializer(Topic.objects.order_by("name"), many=True).data)


def user_suggestions(*, viewer: User) -> QuerySet[User]:
    """Members the viewer may like to follow, best first: whoever nominated them, then people
    followed by people they follow, then people sharing their topics, then the most followed.
    Never themselves, anyone they already follow, or anyone hidden by a block."""
    followed = Follow.objects.filter(follower=viewer).values("followee_id")
    return (
        User.objects.filter(status=User.Status.MEMBER, is_active=True)
        .filter(user_visible_q(viewer))
        .exclude(pk=viewer.pk)
        .exclude(pk__in=followed)
        .annotate(
            nominated_me=Exists(User.objects.filter(pk=viewer.pk, invited_by=OuterRef("pk"))),
            friends_follow=Count(
                "follower_set",
                filter=Q(follower_set__follower__in=followed),
                distinct=True,
            ),
            shared_topics=Coalesce(
                Count("topics", filter=Q(topics__in=viewer.topics.all()), distinct=True),
                Value(0),
            ),
            followers=Count("follower_set", distinct=True),
        )
        .order_by("-nominated_me", "-friends_follow", "-shared_topics", "-followers", "username")
    )


class SuggestionSerializer(UserSummarySerializer):
    bio = serializers.CharField()
    nominated_me = serializers.BooleanField()
    shared_topics = serializers.IntegerField()
    friends_follow = serializers.IntegerField()

    class Meta(UserSummarySerializer.Meta):
        fields = [*UserSummarySerializer.Meta.fields, "bio", "nominated_me", "shared_topics",
                  "friends_follow"]  # fmt: skip


class SuggestionsView(generics.ListAPIView):
    """People to follow (onboarding, and the hallway when you follow few people)."""

    permission_classes = [IsMember]
    serializer_class = SuggestionSerializer
    pagination_class = None

    @extend_schema(
        operation_id="me_suggestions",
        parameters=[
            OpenApiParameter("limit", {"type": "integer", "minimum": 1, "maximum": SUGGESTIONS_MAX})
        ],
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[User]:
        raw = self.request.query_params.get("limit", "12")
        try:
            limit = int(raw)
        except ValueError:
            limit = 0
        if not 1 <= limit <= SUGGESTIONS_MAX:
            raise InvalidInput(fields={"limit": [f"A whole number from 1 to {SUGGESTIONS_MAX}."]})
        return user_suggestions(viewer=self.request.user)[:limit]  # type: ignore[arg-type]
