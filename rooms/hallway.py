"""Discovery reads: the hallway feed and search. Both show only rooms the viewer may enter, and
both run a constant number of queries whatever the number of rooms (asserted in tests)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db.models import (
    Case,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from accounts.permissions import user_require_member
from accounts.selectors import (
    user_blocked_ids,
    user_blocker_ids,
    user_followee_ids,
    user_follower_ids,
    user_hidden_ids,
)
from clubs import selectors as club_selectors
from rooms import clubs_bridge
from rooms.models import Room, RoomInvite, RoomParticipant, RoomRemoval
from rooms.selectors import user_card

if TYPE_CHECKING:
    from accounts.models import User
else:
    User = get_user_model()

STAGE_ROLES = RoomParticipant.STAGE_ROLES
STAGE_PREVIEW = 6


def _count(queryset: QuerySet[Any]) -> Coalesce:
    counted = queryset.order_by().values("room_id").annotate(n=Count("pk")).values("n")[:1]
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def room_hallway_queryset(*, viewer: Any) -> QuerySet[Room]:
    """Live rooms the viewer may enter, best first: rooms where people they follow are on stage
    (more of them first), then rooms of their clubs, then rooms sharing more of the viewer's
    topics (interests), then the most popular.

    Never shown: closed rooms without an invitation, social rooms where no one on stage follows
    the viewer, rooms a moderator of which blocked the viewer, rooms they were removed from, and
    members-only club rooms of clubs they are not in.
    """
    user_require_member(viewer)
    in_room = RoomParticipant.objects.filter(room=OuterRef("pk"))
    stage = in_room.filter(role__in=STAGE_ROLES)
    following = user_followee_ids(follower=viewer)
    followers = user_follower_ids(followee=viewer)
    blockers = user_blocker_ids(blocked=viewer)
    blocked = user_blocked_ids(blocker=viewer)
    is_participant = Exists(in_room.filter(user=viewer))
    invited = Q(created_by=viewer) | Q(
        Exists(RoomInvite.objects.filter(room=OuterRef("pk"), user=viewer))
    )
    club_ids = clubs_bridge.user_club_ids(viewer)

    rooms = (
        Room.objects.filter(status=Room.Status.LIVE)
        .exclude(Exists(RoomRemoval.objects.filter(room=OuterRef("pk"), user=viewer)))
        .exclude(Exists(stage.filter(role=RoomParticipant.Role.MODERATOR, user__in=blockers)))
        .filter(
            is_participant
            | Q(type=Room.Type.OPEN)
            | (Q(type=Room.Type.CLOSED) & invited)
            | (Q(type=Room.Type.SOCIAL) & (invited | Q(Exists(stage.filter(user__in=followers)))))
        )
    )
    rooms = rooms.exclude(club_id__in=clubs_bridge.user_blocked_club_ids(viewer)).exclude(
        Q(members_only=True)
        & ~Q(club_id__in=clubs_bridge.user_members_only_club_ids(viewer))
        & ~is_participant
    )
    club_rank: Any = Case(When(club_id__in=club_ids, then=Value(1)), default=Value(0))
    return (
        rooms.annotate(
            followed_on_stage=_count(stage.filter(user__in=following)),
            club_rank=club_rank,
            shared_topics=_count(
                Room.topics.through.objects.filter(
                    room_id=OuterRef("pk"), topic_id__in=viewer.topics.values("pk")
                )
            ),
            size=_count(in_room),
            joined=is_participant,
            blocked_on_stage=Exists(stage.filter(user__in=blocked)),
        )
        .select_related("club")
        .prefetch_related(
            "topics",
            Prefetch(
                "participants",
                queryset=RoomParticipant.objects.filter(role__in=STAGE_ROLES)
                .select_related("user")
                .order_by("stage_since", "pk"),
                to_attr="stage_rows",
            ),
        )
        .order_by("-followed_on_stage", "-club_rank", "-shared_topics", "-size", "-created", "-pk")
    )


def hallway_item(room: Any) -> dict[str, Any]:
    """One hallway card (expects a room from room_hallway_queryset)."""
    stage_rows = getattr(room, "stage_rows", [])
    return {
        "id": room.pk,
        "title": room.title,
        "type": room.type,
        "topics": [{"id": t.pk, "slug": t.slug, "name": t.name} for t in room.topics.all()],
        "club": (
            {"id": room.club.pk, "name": room.club.name, "slug": room.club.slug}
            if room.club
            else None
        ),
        "share_token": room.share_token,
        "created": room.created.isoformat(),
        "participant_count": room.size,
        "capacity": room.capacity,
        # A full room refuses newcomers (`room_full`); someone already in it may go back.
        "full": room.size >= room.capacity,
        "joined": room.joined,
        "speaker_count": len(stage_rows),
        "speakers": [
            {**user_card(row.user), "role": row.role} for row in stage_rows[:STAGE_PREVIEW]
        ],
        "followed_on_stage": room.followed_on_stage,
        "shared_topics": room.shared_topics,
        "blocked_on_stage": room.blocked_on_stage,
    }


def search(*, viewer: Any, query: str, limit: int = 20) -> dict[str, list[dict[str, Any]]]:
    """People, live rooms and clubs whose name (or a topic) matches `query`."""
    user_require_member(viewer)
    query = query.strip()
    if not query:
        return {"users": [], "rooms": [], "clubs": []}
    topic_match = Q(topics__name__icontains=query) | Q(topics__slug__icontains=query)
    users = (
        User.objects.filter(status=User.Status.MEMBER, is_active=True)
        .filter(Q(username__icontains=query) | Q(display_name__icontains=query) | topic_match)
        .exclude(pk__in=user_hidden_ids(viewer))
        .distinct()
        .order_by("username")[:limit]
    )
    room_ids = (
        Room.objects.filter(Q(title__icontains=query) | topic_match)
        .filter(status=Room.Status.LIVE)
        .values("pk")
    )
    rooms = room_hallway_queryset(viewer=viewer).filter(pk__in=room_ids)[:limit]
    clubs = club_selectors.club_search(query, limit=limit)
    return {
        "users": [user_card(user) for user in users],
        "rooms": [hallway_item(room) for room in rooms],
        "clubs": [
            {"id": club.pk, "name": club.name, "slug": club.slug, "description": club.description}
            for club in clubs
        ],
    }
