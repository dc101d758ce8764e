"""Every read about rooms, including permission-checked fetches. Results are plain,
JSON-serializable dicts where the transport consumes them (snapshot, audience pages)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.permissions import user_require_member
from accounts.selectors import person_ref, user_blocked_ids, users_by_id
from clubhouse.attention import Attention
from clubhouse.audit import StaffAction, StaffActionFilter, staff_window
from clubhouse.errors import InvalidInput, NotFound, PermissionDenied
from rooms import rules
from rooms.conf import room_audience_page_max, room_audience_page_size
from rooms.models import (
    EventRSVP,
    Room,
    RoomEventLog,
    RoomInvite,
    RoomParticipant,
    RoomReport,
    RoomVisit,
    ScheduledEvent,
)

Role = RoomParticipant.Role


def user_card(user: Any) -> dict[str, Any]:
    """How a person appears in rooms: enough for an avatar and a name."""
    return {
        "id": user.pk,
        "username": user.username,
        "name": user.display_name or user.username,
        "avatar_url": user.avatar.url if user.avatar else None,
    }


def pinned_link(room: Room) -> dict[str, Any] | None:
    """The link a moderator pinned in the room, or None."""
    if not room.pinned_url:
        return None
    return {
        "url": room.pinned_url,
        "title": room.pinned_title,
        "by": room.pinned_by_id,
        "pinned_at": room.pinned_at.isoformat() if room.pinned_at else None,
    }


def room_report_reasons() -> list[tuple[str, str]]:
    """The reasons a member may give when reporting a room (value, label), in order."""
    return [(str(value), str(label)) for value, label in RoomReport.Reason.choices]


def room_card(room: Room) -> dict[str, Any]:
    """The room's own fields (expects topics prefetched or cheap to fetch, club selected)."""
    return {
        "id": room.pk,
        "title": room.title,
        "type": room.type,
        "topics": [{"id": t.pk, "slug": t.slug, "name": t.name} for t in room.topics.all()],
        "club": (
            {"id": room.club.pk, "name": room.club.name, "slug": room.club.slug}
            if room.club_id and room.club
            else None
        ),
        "members_only": room.members_only,
        "status": room.status,
        "hand_raise_policy": room.hand_raise_policy,
        "capacity": room.capacity,
        "share_token": room.share_token,
        "created_by": room.created_by_id,
        "created": room.created.isoformat(),
        "ended_at": room.ended_at.isoformat() if room.ended_at else None,
        "pinned_link": pinned_link(room),
    }


def participant_state(participant: RoomParticipant | None) -> dict[str, Any]:
    """Your own place in a room (the `you` of a snapshot and the reply to most actions)."""
    if participant is None:
        return {"role": None, "hand_raised": False, "muted": None, "speaker_invited": False}
    return {
        "role": participant.role,
        "hand_raised": participant.hand_raised_at is not None,
        "muted": participant.muted if participant.on_stage else None,
        "speaker_invited": participant.speaker_invited_at is not None,
    }


def _viewer_blocked_ids(viewer: Any) -> set[int]:
    return set(user_blocked_ids(blocker=viewer))


def room_get_visible(*, room_id: int, viewer: Any) -> Room:
    """A room the viewer may look at: they are in it, or they could enter it (ended rooms are
    visible only to their creator and never enterable)."""
    user_require_member(viewer)
    room = Room.objects.select_related("club").prefetch_related("topics").filter(pk=room_id).first()
    if room is None:
        raise NotFound("No such room.", code="room_not_found")
    if RoomParticipant.objects.filter(room=room, user=viewer).exists():
        return room
    if not room.is_live:
        if room.created_by_id == viewer.pk:
            return room
        raise rules.room_ended_error()
    denial = rules.room_entry_denial(room, viewer)
    if denial is not None:
        raise denial
    return room


def room_get_by_share_token(*, token: str, viewer: Any) -> Room:
    room = Room.objects.filter(share_token=token).only("id").first()
    if room is None:
        raise NotFound("This share link does not lead anywhere.", code="room_not_found")
    return room_get_visible(room_id=room.pk, viewer=viewer)


def room_find(room_id: int) -> Room | None:
    """The room with this id, or None (payouts prices and sells tickets for a room by id)."""
    return Room.objects.filter(pk=room_id).first()


def rooms_live_count() -> int:
    """Rooms open now (the `clubhouse_rooms_live` gauge, rooms/metrics.py)."""
    return Room.objects.filter(status=Room.Status.LIVE).count()


def _rooms_hosted_since(user: Any, days: int) -> Any:
    return Room.objects.filter(created_by=user, created__gte=timezone.now() - timedelta(days=days))


def rooms_hosted_count(*, user: Any, days: int) -> int:
    """Rooms `user` started in the last `days` days (a creator's audience figures)."""
    return _rooms_hosted_since(user, days).count()


def listeners_reached_count(*, user: Any, days: int) -> int:
    """Distinct people (other than the host) who were in rooms `user` started in `days` days."""
    visits = RoomVisit.objects.filter(room__in=_rooms_hosted_since(user, days)).exclude(user=user)
    return visits.values("user_id").distinct().count()


def users_shared_room_recently(a: Any, b: Any, *, days: int) -> bool:
    """Were `a` and `b` both in a room that was live at some point in the last `days` days
    (still live, or ended since)? Presence in the same room, not necessarily at the same
    minute."""
    cutoff = timezone.now() - timedelta(days=days)
    shared = RoomVisit.objects.filter(user=a, room__visits__user=b).filter(
        Q(room__ended_at__isnull=True) | Q(room__ended_at__gte=cutoff)
    )
    return shared.exists()


def room_club_slug(*, room_id: int) -> str | None:
    """The slug of the club whose room this is, if any (the room page leads a member without
    premium there)."""
    return Room.objects.filter(pk=room_id).values_list("club__slug", flat=True).first()


def _audience_page(
    room: Room, viewer_participant: RoomParticipant | None, cursor: Any, limit: int
) -> dict[str, Any]:
    if cursor in (None, ""):
        after = 0
    elif isinstance(cursor, str) and re.fullmatch("[0-9]+", cursor):
        after = int(cursor)
    else:
        raise InvalidInput(fields={"cursor": ["Not a cursor from this room."]})
    is_moderator = viewer_participant is not None and viewer_participant.role == Role.MODERATOR
    rows = list(
        RoomParticipant.objects.select_related("user")
        .filter(room=room, role=Role.LISTENER, pk__gt=after)
        .order_by("pk")[: limit + 1]
    )
    more = len(rows) > limit
    rows = rows[:limit]
    viewer_id = viewer_participant.user_id if viewer_participant else None
    items = []
    for row in rows:
        item: dict[str, Any] = {"user": user_card(row.user)}
        if is_moderator or row.user_id == viewer_id:
            item["hand_raised"] = row.hand_raised_at is not None
        items.append(item)
    return {"items": items, "next_cursor": str(rows[-1].pk) if more else None}


def _limit(limit: Any) -> int:
    if limit is None:
        return room_audience_page_size()
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInput(fields={"limit": ["A positive whole number."]})
    return min(limit, room_audience_page_max())


def room_audience_page(
    *, room_id: int, viewer: Any, cursor: str | None = None, limit: int | None = None
) -> dict[str, Any]:
    """One page of the audience, oldest listener first. Pass back `next_cursor` for the next."""
    room = room_get_visible(room_id=room_id, viewer=viewer)
    viewer_participant = RoomParticipant.objects.filter(room=room, user=viewer).first()
    page = _audience_page(room, viewer_participant, cursor, _limit(limit))
    page["audience_count"] = RoomParticipant.objects.filter(room=room, role=Role.LISTENER).count()
    page["room_id"] = room.pk
    return page


def room_audience_count(*, room_id: int) -> int:
    """How many listeners a room has (for the transport's coalesced audience-count pushes)."""
    return RoomParticipant.objects.filter(room_id=room_id, role=Role.LISTENER).count()


def room_snapshot(*, room_id: int, viewer: Any) -> dict[str, Any]:
    """Everything a client needs to draw a room, and the `seq` it reflects.

    Read under the room row lock: every stage event is allocated its `seq` under that lock, so
    the snapshot shows exactly the state after event `seq`. A client applies only events with a
    greater `seq` and re-fetches the snapshot when it sees a gap.
    """
    user_require_member(viewer)
    with transaction.atomic():
        room = (
            Room.objects.select_for_update(of=("self",))
            .select_related("club")
            .filter(pk=room_id)
            .first()
        )
        if room is None:
            raise NotFound("No such room.", code="room_not_found")
        you = RoomParticipant.objects.filter(room=room, user=viewer).first()
        if you is None:
            room_get_visible(room_id=room.pk, viewer=viewer)  # raises if they may not look
        is_moderator = you is not None and you.role == Role.MODERATOR
        blocked_ids = _viewer_blocked_ids(viewer)
        stage_rows = list(
            RoomParticipant.objects.select_related("user")
            .filter(room=room, role__in=RoomParticipant.STAGE_ROLES)
            .order_by("stage_since", "pk")
        )
        stage = [
            {
                "user": user_card(row.user),
                "role": row.role,
                "muted": row.muted,
                "stage_since": row.stage_since.isoformat() if row.stage_since else None,
                "is_blocked_by_viewer": row.user_id in blocked_ids,
            }
            for row in stage_rows
        ]
        hands_qs = (
            RoomParticipant.objects.select_related("user")
            .filter(room=room, hand_raised_at__isnull=False)
            .order_by("hand_raised_at", "pk")
        )
        if not is_moderator:
            hands_qs = hands_qs.filter(user=viewer)
        hands = [
            {"user": user_card(row.user), "raised_at": row.hand_raised_at.isoformat()}
            for row in hands_qs
            if row.hand_raised_at is not None
        ]
        audience_count = RoomParticipant.objects.filter(room=room, role=Role.LISTENER).count()
        participant_count = audience_count + len(stage_rows)
        return {
            "room": room_card(room),
            "seq": room.seq,
            "stage": stage,
            "audience_count": audience_count,
            # Everyone in the room, stage and audience: `room.join` answers `room_full` once
            # this reaches the room's capacity (unless you are in already).
            "participant_count": participant_count,
            "full": participant_count >= room.capacity,
            "audience": _audience_page(room, you, None, room_audience_page_size()),
            "hands": hands,
            "hands_count": RoomParticipant.objects.filter(
                room=room, hand_raised_at__isnull=False
            ).count(),
            "you": participant_state(you),
            "blocked_on_stage": any(item["is_blocked_by_viewer"] for item in stage),
        }


def room_require_participant(*, room_id: int, user: Any) -> RoomParticipant:
    participant = RoomParticipant.objects.filter(room_id=room_id, user=user).first()
    if participant is None:
        raise PermissionDenied("Join the room first.", code="not_in_room")
    return participant


def room_account_export(*, user: Any) -> dict[str, Any]:
    """The data export's rooms section: rooms the person opened, rooms they were in (when they
    first joined), events they host or RSVPed to, invites and pings they received."""

    def room(r: Room) -> dict[str, Any]:
        return {"id": r.pk, "title": r.title, "status": r.status, "created": r.created.isoformat()}

    return {
        "hosted": [room(r) for r in Room.objects.filter(created_by=user).order_by("-created")],
        "visited": [
            {**room(v.room), "first_joined_at": v.first_joined_at.isoformat()}
            for v in RoomVisit.objects.filter(user=user).select_related("room")
        ],
        "events_hosted": [
            {"id": e.pk, "title": e.title, "starts_at": e.starts_at.isoformat()}
            for e in ScheduledEvent.objects.filter(hosts=user).order_by("starts_at")
        ],
        "event_rsvps": [
            {"event_id": r.event_id, "title": r.event.title, "created": r.created.isoformat()}
            for r in EventRSVP.objects.filter(user=user).select_related("event")
        ],
        "invites_received": [
            {
                "room_id": i.room_id,
                "kind": i.kind,
                "invited_by": person_ref(i.invited_by),
                "created": i.created.isoformat(),
            }
            for i in RoomInvite.objects.filter(user=user).select_related("invited_by")
        ],
    }


# --- staff actions (the staff audit list, a room's history) --------------------------------

_ENDED_BY_STAFF = {"type": "room.ended", "data__reason": "ended_by_staff"}


def _ended_actions(rows: list[RoomEventLog]) -> list[StaffAction]:
    people = users_by_id({row.data["by"] for row in rows if row.data.get("by")})
    return [
        StaffAction(
            when=row.created,
            actor=people.get(row.data.get("by")),
            action="room_ended_by_staff",
            source="rooms",
            app_label="rooms",
            model="room",
            object_id=str(row.room_id),
            subject=f"Room {row.room}",
            reason=str(row.data.get("staff_reason", "")),
            detail="ended for everyone in it",
        )
        for row in rows
    ]


STAFF_ACTION_NAMES = ("room_ended_by_staff", "room_report_actioned", "room_report_dismissed")


def _report_actions(reports: list[RoomReport]) -> list[StaffAction]:
    return [
        StaffAction(
            when=report.reviewed_at,
            actor=report.reviewed_by,
            action=f"room_report_{report.status}",
            source="rooms",
            app_label="rooms",
            model="roomreport",
            object_id=str(report.pk),
            subject=f"Report #{report.pk} on room {report.room_id}",
            reason=report.resolution,
            detail=f"reported for {report.reason}",
        )
        for report in reports
        if report.reviewed_at is not None
    ]


def staff_actions(wanted: StaffActionFilter) -> list[StaffAction]:
    """Rooms staff ended from the back office (moderation), and room reports they closed."""
    found: list[StaffAction] = []
    window = StaffActionFilter(since=wanted.since, until=wanted.until, limit=wanted.limit)
    if wanted.action in {"", "room_ended_by_staff"}:
        rows = RoomEventLog.objects.filter(**_ENDED_BY_STAFF).select_related("room")
        if wanted.actor_id is not None:
            rows = rows.filter(data__by=wanted.actor_id)
        found += _ended_actions(list(staff_window(rows, window, actor="", when="created")))
    if wanted.action in {"", "room_report_actioned", "room_report_dismissed"}:
        reports = RoomReport.objects.filter(reviewed_at__isnull=False).select_related("reviewed_by")
        if wanted.action:
            reports = reports.filter(status=wanted.action.removeprefix("room_report_"))
        if wanted.actor_id is not None:
            reports = reports.filter(reviewed_by_id=wanted.actor_id)
        found += _report_actions(list(staff_window(reports, window, actor="", when="reviewed_at")))
    return found


def room_report_staff_history(report: RoomReport) -> list[StaffAction]:
    return _report_actions([report])


def room_reports_waiting() -> Attention:
    """Reports of rooms staff have not reviewed yet (neither actioned nor dismissed)."""
    status = RoomReport.Status.OPEN
    return Attention(
        count=RoomReport.objects.filter(status=status).count(), filters={"status__exact": status}
    )


def room_staff_history(room: Room) -> list[StaffAction]:
    return _ended_actions(list(RoomEventLog.objects.filter(room=room, **_ENDED_BY_STAFF)))
