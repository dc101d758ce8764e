"""Reads about scheduled events: lists, "upcoming for you", and the .ics calendar file."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from accounts.permissions import user_require_member
from accounts.selectors import user_followee_ids, user_hidden_ids
from clubhouse.errors import NotFound
from rooms import clubs_bridge
from rooms.models import EventCohostInvite, EventRSVP, ScheduledEvent
from rooms.selectors import user_card

if TYPE_CHECKING:
    from typing_extensions import TypeIs

ICS_DURATION = timedelta(hours=1)


def is_event(target: object) -> TypeIs[ScheduledEvent]:
    """Whether a ticket's target (a scheduled event or a live room) is an event."""
    return isinstance(target, ScheduledEvent)


def event_find(event_id: int) -> ScheduledEvent | None:
    """The event with this id (its room and club loaded), or None."""
    return ScheduledEvent.objects.select_related("room", "club").filter(pk=event_id).first()


def event_room_id(event_id: int) -> int | None:
    """The id of the room the event was started as, or None (not started, or no such event)."""
    return ScheduledEvent.objects.filter(pk=event_id).values_list("room_id", flat=True).first()


def event_hosts_room(*, user: Any, room: Any) -> bool:
    """Whether `user` hosts the scheduled event `room` was started from."""
    return ScheduledEvent.objects.filter(room=room, hosts=user).exists()


def event_by_title(*, title: str, created_by: Any) -> ScheduledEvent | None:
    return ScheduledEvent.objects.filter(title=title, created_by=created_by).first()


def event_queryset(*, viewer: Any) -> QuerySet[ScheduledEvent]:
    """Events the viewer may see: never a club's members-only event without its access, nor
    any event of a club blocked for them."""
    user_require_member(viewer)
    return (
        ScheduledEvent.objects.exclude(club_id__in=clubs_bridge.user_blocked_club_ids(viewer))
        .exclude(
            Q(members_only=True) & ~Q(club_id__in=clubs_bridge.user_members_only_club_ids(viewer))
        )
        .select_related("club")
        .prefetch_related("hosts", "topics")
        .annotate(
            rsvp_count=Count("rsvps", distinct=True),
            going=Exists(EventRSVP.objects.filter(event=OuterRef("pk"), user=viewer)),
        )
        .order_by("starts_at", "pk")
    )


def event_get(*, event_id: int, viewer: Any) -> ScheduledEvent:
    event = event_queryset(viewer=viewer).filter(pk=event_id).first()
    if event is None:
        raise NotFound("No such event.", code="event_not_found")
    return event


def event_list_upcoming(*, viewer: Any, club_slug: str | None = None) -> QuerySet[ScheduledEvent]:
    """Every event that has not started yet, soonest first; with `club_slug`, that club's
    calendar."""
    events = event_queryset(viewer=viewer).filter(starts_at__gte=timezone.now(), room__isnull=True)
    if club_slug is not None:
        events = events.filter(club__slug=club_slug)
    return events


def event_list_for_you(*, viewer: Any) -> QuerySet[ScheduledEvent]:
    """Upcoming events you host, RSVP'd to, hosted by people you follow, or of your clubs;
    never one hosted by someone hidden from you (blocks either way)."""
    following = user_followee_ids(follower=viewer)
    mine = (
        Q(hosts=viewer)
        | Q(hosts__in=following)
        | Q(Exists(EventRSVP.objects.filter(event=OuterRef("pk"), user=viewer)))
    )
    mine |= Q(club_id__in=clubs_bridge.user_club_ids(viewer))
    wanted = ScheduledEvent.objects.filter(mine).exclude(hosts__in=user_hidden_ids(viewer))
    return event_list_upcoming(viewer=viewer).filter(pk__in=wanted.values("pk"))


DIGEST_EVENTS = 5


def event_digest_lines(*, user: Any) -> list[str]:
    """The weekly digest's "coming up" lines (accounts.events.DIGEST_SECTIONS): the person's
    events of the next 7 days (`event_list_for_you`), soonest first."""
    if not user.is_member:
        return []
    soon = timezone.now() + timedelta(days=7)
    events = event_list_for_you(viewer=user).filter(starts_at__lte=soon)[:DIGEST_EVENTS]
    return [f"{e.title}: {e.starts_at:%a %d %b, %H:%M} UTC" for e in events]


def event_item(event: Any) -> dict[str, Any]:
    """The API shape of an event (expects one from event_queryset)."""
    return {
        "id": event.pk,
        "title": event.title,
        "description": event.description,
        "starts_at": event.starts_at.isoformat(),
        "hosts": [user_card(host) for host in event.hosts.all()],
        "topics": [{"id": t.pk, "slug": t.slug, "name": t.name} for t in event.topics.all()],
        "club": (
            {"id": event.club.pk, "name": event.club.name, "slug": event.club.slug}
            if event.club
            else None
        ),
        "members_only": event.members_only,
        "capacity": event.capacity,
        "room_type": event.room_type,
        "rsvp_count": getattr(event, "rsvp_count", 0),
        "going": bool(getattr(event, "going", False)),
        "room_id": event.room_id,
    }


def event_detail_item(event: Any, *, viewer: Any) -> dict[str, Any]:
    """One event as its page shows it: `event_item`, and for its hosts the people asked to
    co-host who have not answered yet (so an edit of the hosts keeps them asked)."""
    item = event_item(event)
    is_host = any(host.pk == viewer.pk for host in event.hosts.all())
    pending = (
        EventCohostInvite.objects.filter(event=event, status=EventCohostInvite.Status.PENDING)
        .select_related("user")
        .order_by("pk")
        if is_host
        else []
    )
    item["pending_cohosts"] = [user_card(invite.user) for invite in pending]
    return item


def _ics_escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def _ics_fold(line: str) -> str:
    """RFC 5545 §3.1: lines longer than 75 octets continue on lines starting with a space."""
    out: list[str] = []
    current = ""
    for char in line:
        if len((current + char).encode()) > (75 if not out else 74):
            out.append(current)
            current = ""
        current += char
    out.append(current)
    return "\r\n ".join(out)


def event_ics(event: ScheduledEvent) -> str:
    """An iCalendar file (RFC 5545) with the event, one hour long, times in UTC."""

    def stamp(moment: Any) -> str:
        return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

    site = settings.SITE_URL.rstrip("/")
    host = site.split("://", 1)[-1].split("/", 1)[0]
    hosts = ", ".join(h.display_name or h.username for h in event.hosts.all())
    description = event.description + (f"\n\nHosted by {hosts}" if hosts else "")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Clubhouse//Rooms//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:event-{event.pk}@{host}",
        f"DTSTAMP:{stamp(timezone.now())}",
        f"DTSTART:{stamp(event.starts_at)}",
        f"DTEND:{stamp(event.starts_at + ICS_DURATION)}",
        f"SUMMARY:{_ics_escape(event.title)}",
        f"DESCRIPTION:{_ics_escape(description)}",
        f"URL:{site}/api/v1/events/{event.pk}/",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(_ics_fold(line) for line in lines) + "\r\n"


def event_cohost_invites_pending(*, user: Any) -> QuerySet[EventCohostInvite]:
    """The co-host invitations waiting for `user`'s answer, soonest event first."""
    user_require_member(user)
    return (
        EventCohostInvite.objects.filter(user=user, status=EventCohostInvite.Status.PENDING)
        .select_related("event", "invited_by")
        .order_by("event__starts_at", "pk")
    )


def event_cohost_invite_item(invite: EventCohostInvite) -> dict[str, Any]:
    """The API shape of a co-host invitation."""
    return {
        "id": invite.pk,
        "status": invite.status,
        "event": {
            "id": invite.event.pk,
            "title": invite.event.title,
            "starts_at": invite.event.starts_at.isoformat(),
        },
        "invited_by": user_card(invite.invited_by) if invite.invited_by else None,
        "created": invite.created.isoformat(),
    }
