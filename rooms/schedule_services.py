"""Writes about scheduled events: create, edit, cancel, RSVP, start the room, send reminders,
and co-hosting, which the co-host accepts (rooms.models.EventCohostInvite)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.permissions import user_require_member
from accounts.selectors import topic_list, user_is_blocked_with_any, users_follower_ids
from accounts.services import NotificationKind, notification_create
from clubhouse.errors import ApplicationError, Conflict, InvalidInput, NotFound, PermissionDenied
from clubs import selectors as club_selectors
from rooms import clubs_bridge, services, tickets_bridge
from rooms.conf import event_reminder_minutes, room_default_capacity
from rooms.models import EventCohostInvite, EventRSVP, Room, ScheduledEvent

if TYPE_CHECKING:
    from accounts.models import User
else:
    User = get_user_model()

MAX_HOSTS = 10


class Unset:
    """The "not given" of an optional argument whose None means something (no capacity)."""


UNSET = Unset()


def _event_lock(event_id: int) -> ScheduledEvent:
    try:
        return ScheduledEvent.objects.select_for_update().get(pk=event_id)
    except ScheduledEvent.DoesNotExist:
        raise NotFound("No such event.", code="event_not_found") from None


def _require_host(event: ScheduledEvent, user: Any) -> None:
    if not event.hosts.filter(pk=user.pk).exists():
        raise PermissionDenied("Only the event's hosts can do this.", code="not_host")


def _validated(
    *,
    title: str | None,
    description: str | None,
    starts_at: datetime | None,
    host_ids: Iterable[int] | None,
    topic_ids: Iterable[int] | None,
    club_id: int | None,
    creator: User,
    capacity: int | Unset | None = UNSET,
    room_type: str | None = None,
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    if not isinstance(capacity, Unset):
        clean["capacity"] = capacity
        if capacity is not None and not 1 <= capacity <= room_default_capacity():
            errors["capacity"] = [f"Between 1 and {room_default_capacity()}."]
    if room_type is not None:
        clean["room_type"] = room_type
        if room_type not in Room.Type.values:
            errors["room_type"] = [f"One of: {', '.join(Room.Type.values)}."]
    if title is not None:
        clean["title"] = title.strip()
        if not clean["title"] or len(clean["title"]) > 120:
            errors["title"] = ["Between 1 and 120 characters."]
    if description is not None:
        clean["description"] = description
        if len(description) > 2000:
            errors["description"] = ["At most 2000 characters."]
    if starts_at is not None:
        clean["starts_at"] = starts_at
        if starts_at <= timezone.now():
            errors["starts_at"] = ["Must be in the future."]
    if host_ids is not None:
        ids = {creator.pk, *host_ids}
        hosts = list(User.objects.filter(pk__in=ids, status=User.Status.MEMBER, is_active=True))
        if len(hosts) != len(ids):
            errors["host_ids"] = ["Every host must be a member."]
        elif len(hosts) > MAX_HOSTS:
            errors["host_ids"] = [f"At most {MAX_HOSTS} hosts."]
        clean["hosts"] = hosts
    if topic_ids is not None:
        wanted = set(topic_ids)
        topics = list(topic_list(ids=wanted))
        if len(topics) != len(wanted):
            errors["topic_ids"] = ["Unknown topic."]
        clean["topics"] = topics
    if club_id is not None:
        clean["club"] = club_selectors.club_find(club_id)
        if clean["club"] is None:
            errors["club_id"] = ["Unknown club."]
    if errors:
        raise InvalidInput(fields=errors)
    if clean.get("club") is not None:
        clubs_bridge.club_require_manager(creator, clean["club"], for_what="event")
    return clean


def event_create(
    *,
    user: User,
    title: str,
    starts_at: datetime,
    description: str = "",
    host_ids: Iterable[int] = (),
    topic_ids: Iterable[int] = (),
    club_id: int | None = None,
    members_only: bool = False,
    capacity: int | None = None,
    room_type: str = Room.Type.OPEN,
) -> ScheduledEvent:
    """Schedule an event; its creator is always a host. The others named in `host_ids` are
    asked to co-host (`event_cohost_accept`); a block between them and a host refuses the event
    (`cohost_blocked`). A club event may be members-only: then only the club's members (with
    premium in an exclusive club) see it and its room. `capacity` caps the RSVPs
    (`event_full`) and the event's room; `room_type` is the type its room opens as."""
    user_require_member(user)
    if members_only and club_id is None:
        raise InvalidInput(fields={"members_only": ["Only a club event can be members-only."]})
    clean = _validated(
        title=title,
        description=description,
        starts_at=starts_at,
        host_ids=host_ids,
        topic_ids=topic_ids,
        club_id=club_id,
        creator=user,
        capacity=capacity,
        room_type=room_type,
    )
    with transaction.atomic():
        event = ScheduledEvent.objects.create(
            title=clean["title"],
            description=clean["description"],
            starts_at=clean["starts_at"],
            club=clean.get("club"),
            members_only=members_only,
            capacity=clean["capacity"],
            room_type=clean["room_type"],
            created_by=user,
        )
        event.hosts.set([user])
        _cohosts_sync(event, inviter=user, wanted=clean["hosts"])
        event.topics.set(clean["topics"])
    return event


def event_update(
    *,
    user: User,
    event_id: int,
    title: str | None = None,
    description: str | None = None,
    starts_at: datetime | None = None,
    host_ids: Iterable[int] | None = None,
    topic_ids: Iterable[int] | None = None,
    capacity: int | Unset | None = UNSET,
    room_type: str | None = None,
    members_only: bool | None = None,
) -> ScheduledEvent:
    """Hosts edit an event until it starts. A new time is a reschedule: the reminder is re-armed
    for it and everyone who RSVP'd is told (an `event_reminder` notification with action
    `rescheduled`). `host_ids` is the hosts wanted: newcomers are asked (as at creation), hosts
    left out stop being hosts and pending invitations left out are withdrawn; the creator always
    stays. A capacity below the RSVPs already taken is refused (`capacity_below_rsvps`)."""
    user_require_member(user)
    with transaction.atomic():
        event = _event_lock(event_id)
        _require_host(event, user)
        if event.room_id is not None:
            raise Conflict("This event has already started.", code="event_started")
        clean = _validated(
            title=title,
            description=description,
            starts_at=starts_at,
            host_ids=host_ids,
            topic_ids=topic_ids,
            club_id=None,
            creator=event.created_by or user,
            capacity=capacity,
            room_type=room_type,
        )
        if members_only and event.club_id is None:
            raise InvalidInput(fields={"members_only": ["Only a club event can be members-only."]})
        if clean.get("capacity") is not None:
            taken = EventRSVP.objects.filter(event=event).count()
            if clean["capacity"] < taken:
                raise Conflict(
                    f"{taken} people have already RSVP'd; the capacity cannot go below that.",
                    code="capacity_below_rsvps",
                    fields={"capacity": [f"At least {taken} (the RSVPs already taken)."]},
                )
        rescheduled = "starts_at" in clean and clean["starts_at"] != event.starts_at
        for field in ("title", "description", "starts_at", "capacity", "room_type"):
            if field in clean:
                setattr(event, field, clean[field])
        if members_only is not None:
            event.members_only = members_only
        if rescheduled:
            event.reminder_sent_at = None
        event.save()
        if rescheduled:
            _rescheduled_notify(event, by=user)
        if "hosts" in clean:
            _cohosts_sync(event, inviter=user, wanted=clean["hosts"])
        if "topics" in clean:
            event.topics.set(clean["topics"])
    return event


def _rescheduled_notify(event: ScheduledEvent, *, by: User) -> None:
    """Tell everyone who RSVP'd (but the host who moved it) the event's new time."""
    attendees = User.objects.filter(event_rsvps__event=event).exclude(pk=by.pk).order_by("pk")
    for attendee in attendees:
        notification_create(
            recipient=attendee,
            kind=NotificationKind.EVENT_REMINDER,
            actor=by,
            data={
                "action": "rescheduled",
                "event_id": event.pk,
                "title": event.title,
                "starts_at": event.starts_at.isoformat(),
            },
        )


# --- co-hosts: asked, never added ------------------------------------------------------------
class CohostBlocked(PermissionDenied):
    code = "cohost_blocked"
    default_message = "You cannot ask this person to co-host: one of you blocked the other."


def _blocked_with_any(user: User, others: Iterable[User]) -> bool:
    ids = [other.pk for other in others]
    return user_is_blocked_with_any(user, other_ids=ids)


def _cohosts_sync(event: ScheduledEvent, *, inviter: User, wanted: Iterable[User]) -> None:
    """Make the event's hosts what `wanted` says, with consent. Caller holds the event lock.

    A newcomer gets a pending invitation and a notification; a block between them and the
    inviter or any host refuses the whole change (`cohost_blocked`); someone who declined
    before is refused (`cohost_declined`). Hosts not wanted stop being hosts, pending
    invitations not wanted are withdrawn. The creator always stays a host."""
    creator_id = event.created_by_id or inviter.pk
    wanted_by_id = {user.pk: user for user in wanted if user.pk != creator_id}
    hosts = list(event.hosts.all())
    host_ids = {host.pk for host in hosts}
    invites = {
        invite.user_id: invite
        for invite in EventCohostInvite.objects.select_for_update().filter(event=event)
    }
    for host in hosts:
        if host.pk != creator_id and host.pk not in wanted_by_id:
            event.hosts.remove(host)
            invite = invites.get(host.pk)
            if invite is not None:
                invite.status = EventCohostInvite.Status.REVOKED
                invite.save(update_fields=["status"])
    for user_id, invite in invites.items():
        if user_id not in wanted_by_id and invite.status == EventCohostInvite.Status.PENDING:
            invite.status = EventCohostInvite.Status.REVOKED
            invite.save(update_fields=["status"])
    for user_id, user in wanted_by_id.items():
        if user_id in host_ids:
            continue
        invite = invites.get(user_id)
        if invite is not None and invite.status == EventCohostInvite.Status.PENDING:
            continue
        if invite is not None and invite.status == EventCohostInvite.Status.DECLINED:
            raise Conflict(
                f"@{user.username} declined to co-host this event.",
                code="cohost_declined",
                fields={"host_ids": [f"@{user.username} declined to co-host this event."]},
            )
        if _blocked_with_any(user, [inviter, *hosts]):
            raise CohostBlocked()
        if invite is None:
            invite = EventCohostInvite.objects.create(event=event, user=user, invited_by=inviter)
        else:
            invite.status = EventCohostInvite.Status.PENDING
            invite.invited_by = inviter
            invite.responded_at = None
            invite.save(update_fields=["status", "invited_by", "responded_at"])
        notification_create(
            recipient=user,
            kind=NotificationKind.EVENT_COHOST,
            actor=inviter,
            data={
                "action": "invited",
                "invite_id": invite.pk,
                "event_id": event.pk,
                "title": event.title,
                "starts_at": event.starts_at.isoformat(),
            },
        )


def _cohost_invite_lock(*, user: User, invite_id: int) -> tuple[EventCohostInvite, ScheduledEvent]:
    invite = EventCohostInvite.objects.filter(pk=invite_id, user=user).first()
    if invite is None:
        raise NotFound("No such co-host invitation.", code="cohost_invite_not_found")
    event = _event_lock(invite.event_id)  # the event first, then the invitation: one order
    return EventCohostInvite.objects.select_for_update().get(pk=invite.pk), event


def _cohost_answer_notify(invite: EventCohostInvite, event: ScheduledEvent, action: str) -> None:
    if invite.invited_by is None:
        return
    notification_create(
        recipient=invite.invited_by,
        kind=NotificationKind.EVENT_COHOST,
        actor=invite.user,
        data={"action": action, "invite_id": invite.pk, "event_id": event.pk,
              "title": event.title},
    )  # fmt: skip


def event_cohost_accept(*, user: User, invite_id: int) -> EventCohostInvite:
    """PENDING → ACCEPTED: `user` becomes a host of the event; the inviter is notified.
    Idempotent; refused when withdrawn or declined (`cohost_invite_not_pending`), or when a
    block now stands between them and a host (`cohost_blocked`)."""
    user_require_member(user)
    with transaction.atomic():
        invite, event = _cohost_invite_lock(user=user, invite_id=invite_id)
        if invite.status == EventCohostInvite.Status.ACCEPTED:
            return invite
        if invite.status != EventCohostInvite.Status.PENDING:
            raise Conflict(
                "This co-host invitation is no longer open.", code="cohost_invite_not_pending"
            )
        hosts = list(event.hosts.all())
        if _blocked_with_any(user, hosts):
            raise CohostBlocked("You cannot co-host this event: you and a host are blocked.")
        if len(hosts) >= MAX_HOSTS:
            raise Conflict(f"This event already has {MAX_HOSTS} hosts.", code="too_many_hosts")
        event.hosts.add(user)
        invite.status = EventCohostInvite.Status.ACCEPTED
        invite.responded_at = timezone.now()
        invite.save(update_fields=["status", "responded_at"])
        _cohost_answer_notify(invite, event, "accepted")
        return invite


def event_cohost_decline(*, user: User, invite_id: int) -> EventCohostInvite:
    """PENDING → DECLINED (final for this event); the inviter is notified. Idempotent."""
    user_require_member(user)
    with transaction.atomic():
        invite, event = _cohost_invite_lock(user=user, invite_id=invite_id)
        if invite.status == EventCohostInvite.Status.DECLINED:
            return invite
        if invite.status != EventCohostInvite.Status.PENDING:
            raise Conflict(
                "This co-host invitation is no longer open.", code="cohost_invite_not_pending"
            )
        invite.status = EventCohostInvite.Status.DECLINED
        invite.responded_at = timezone.now()
        invite.save(update_fields=["status", "responded_at"])
        _cohost_answer_notify(invite, event, "declined")
        return invite


def event_delete(*, user: User, event_id: int) -> None:
    user_require_member(user)
    with transaction.atomic():
        event = _event_lock(event_id)
        _require_host(event, user)
        tickets_bridge.event_cancelled(event, by=user)  # refunds leave after commit
        event.delete()


def event_rsvp_set(*, user: User, event_id: int, going: bool) -> bool:
    """RSVP (or un-RSVP) to an event; idempotent. Returns whether the person is going.
    A members-only club event takes RSVPs from the club's members only (to anyone else it does
    not exist); once `capacity` people are going, more are refused (`event_full`)."""
    user_require_member(user)
    with transaction.atomic():
        # The row lock serialises RSVPs, so the count below cannot be raced past the capacity.
        event = (
            ScheduledEvent.objects.select_for_update(of=("self",))
            .select_related("club")
            .filter(pk=event_id)
            .first()
        )
        if event is None or event_hidden_from(event, user):
            raise NotFound("No such event.", code="event_not_found")
        if going:
            mine = EventRSVP.objects.filter(event=event, user=user)
            if mine.exists():
                return True
            if (
                event.capacity is not None
                and EventRSVP.objects.filter(event=event).count() >= event.capacity
            ):
                raise Conflict(
                    f"This event is full: {event.capacity} people are already going.",
                    code="event_full",
                )
            EventRSVP.objects.create(event=event, user=user)
        else:
            EventRSVP.objects.filter(event=event, user=user).delete()
    return going


def event_start_room(*, user: User, event_id: int, type: str | None = None) -> Room:
    """A host opens the event's room (idempotent: a second call returns the same live room).
    The room is of the event's `room_type` unless `type` says otherwise. An event with a
    capacity opens a room capped at it plus its hosts, so every RSVP and every host fits."""
    user_require_member(user)
    with transaction.atomic():
        event = _event_lock(event_id)
        _require_host(event, user)
        if event.room_id is not None:
            room = Room.objects.get(pk=event.room_id)
            if room.is_live:
                return room
            raise Conflict("This event's room has ended.", code="event_room_ended")
        room = services.room_create(
            user=user,
            title=event.title,
            type=type or event.room_type,
            topic_ids=list(event.topics.values_list("pk", flat=True)),
            club_id=event.club_id,
            members_only=event.members_only,
            capacity=(
                None
                if event.capacity is None
                else min(event.capacity + event.hosts.count(), room_default_capacity())
            ),
            club_event_host=True,
        )
        event.room = room
        event.save(update_fields=["room"])
        # Co-hosts and RSVPs are invited in (that is what admits them to a closed room); a
        # person who cannot be invited (e.g. blocks) is skipped, not a reason to fail the start.
        for invitee in event_start_invitees(event, exclude=user):
            try:
                services.room_ping(
                    user=user, room_id=room.pk, target_id=invitee.pk, event_id=event.pk
                )
            except ApplicationError:
                continue
    return room


def event_start_invitees(event: ScheduledEvent, *, exclude: User) -> list[User]:
    rsvp_ids = EventRSVP.objects.filter(event=event).values("user_id")
    return list(
        User.objects.filter(Q(hosted_events=event) | Q(pk__in=rsvp_ids))
        .exclude(pk=exclude.pk)
        .distinct()
        .order_by("pk")
    )


def event_hidden_from(event: ScheduledEvent, user: User) -> bool:
    """A club event is hidden from people its club's rooms are closed to."""
    if event.club is None:
        return False
    return (
        clubs_bridge.club_entry_denial(user, event.club, members_only=event.members_only)
        is not None
    )


def event_reminder_recipients(event: ScheduledEvent) -> list[User]:
    host_ids = list(event.hosts.values_list("pk", flat=True))
    follower_ids = users_follower_ids(followee_ids=host_ids)
    rsvp_ids = EventRSVP.objects.filter(event=event).values("user_id")
    recipients = (
        User.objects.filter(status=User.Status.MEMBER, is_active=True)
        .filter(pk__in=follower_ids.union(rsvp_ids))
        .exclude(pk__in=host_ids)
        .order_by("pk")
    )
    return [user for user in recipients if not event_hidden_from(event, user)]


def event_reminders_send(*, now: datetime | None = None) -> int:
    """Remind hosts' followers and RSVPs of events starting within the reminder window.

    Idempotent and safe to run concurrently: each event is claimed under its row lock
    (`skip_locked`), and `reminder_sent_at` is set in the same transaction as the notifications.
    Returns the number of events reminded.
    """
    now = now or timezone.now()
    due = ScheduledEvent.objects.filter(
        reminder_sent_at__isnull=True,
        room__isnull=True,
        starts_at__gt=now,
        starts_at__lte=now + timedelta(minutes=event_reminder_minutes()),
    ).values_list("pk", flat=True)
    sent = 0
    for event_id in list(due):
        with transaction.atomic():
            event = (
                ScheduledEvent.objects.select_for_update(skip_locked=True)
                .filter(pk=event_id, reminder_sent_at__isnull=True)
                .first()
            )
            if event is None:
                continue
            event.reminder_sent_at = now
            event.save(update_fields=["reminder_sent_at"])
            for recipient in event_reminder_recipients(event):
                notification_create(
                    recipient=recipient,
                    kind=NotificationKind.EVENT_REMINDER,
                    data={
                        "event_id": event.pk,
                        "title": event.title,
                        "starts_at": event.starts_at.isoformat(),
                    },
                )
            sent += 1
    return sent
