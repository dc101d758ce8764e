"""Rooms open, people come and go, rooms end."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from accounts.permissions import user_require_member
from accounts.selectors import topic_list
from clubhouse.errors import Conflict, InvalidInput, PermissionDenied
from clubs import selectors as club_selectors
from rooms import clubs_bridge, events, rules, tickets_bridge
from rooms.conf import (
    room_default_capacity,
    room_max_joined_per_user,
    room_title_max_length,
    room_visit_retention_days,
)
from rooms.models import (
    EventRSVP,
    Room,
    RoomInvite,
    RoomParticipant,
    RoomVisit,
    ScheduledEvent,
)
from rooms.notify import room_started_notify
from rooms.selectors import room_snapshot, user_card
from rooms.services.common import (
    Role,
    actor_get,
    after_audience_departure,
    after_stage_departure,
    participant_get,
    participant_take_out,
    require_moderator,
    room_end_locked,
    room_lock,
    room_lock_live,
    stage_event_send,
)

if TYPE_CHECKING:
    from accounts.models import User
else:
    User = get_user_model()


# --- create, join, leave, end -------------------------------------------------------------
def room_create(
    *,
    user: User,
    title: str = "",
    type: str = Room.Type.OPEN,
    topic_ids: Iterable[int] = (),
    club_id: int | None = None,
    members_only: bool = False,
    capacity: int | None = None,
    hand_raise_policy: str = Room.HandRaisePolicy.EVERYONE,
    club_event_host: bool = False,
) -> Room:
    """Open a live room; its creator is the first moderator, on stage and unmuted.

    A club room needs a club leader or admin, unless `club_event_host`: the caller is a host of
    a scheduled club event (which a leader scheduled) opening that event's room.
    """
    user_require_member(user)
    errors: dict[str, list[str]] = {}
    title = (title or "").strip()
    if len(title) > room_title_max_length():
        errors["title"] = [f"At most {room_title_max_length()} characters."]
    if type not in Room.Type.values:
        errors["type"] = [f"One of: {', '.join(Room.Type.values)}."]
    if hand_raise_policy not in Room.HandRaisePolicy.values:
        errors["hand_raise_policy"] = [f"One of: {', '.join(Room.HandRaisePolicy.values)}."]
    default_capacity = room_default_capacity()
    if capacity is not None and not 1 <= capacity <= default_capacity:
        errors["capacity"] = [f"Between 1 and {default_capacity}."]
    topic_ids = list(topic_ids)
    topics = list(topic_list(ids=topic_ids))
    if len(topics) != len(set(topic_ids)):
        errors["topic_ids"] = ["Unknown topic."]
    club = None
    if club_id is not None:
        club = club_selectors.club_find(club_id)
        if club is None:
            errors["club_id"] = ["Unknown club."]
    if members_only and club_id is None:
        errors["members_only"] = ["Only a club room can be members-only."]
    if errors:
        raise InvalidInput(fields=errors)
    if club is not None and not club_event_host:
        clubs_bridge.club_require_manager(user, club, for_what="room")
    with transaction.atomic():
        room = Room.objects.create(
            title=title,
            type=type,
            club=club,
            members_only=members_only,
            capacity=capacity or default_capacity,
            hand_raise_policy=hand_raise_policy,
            created_by=user,
        )
        room.topics.set(topics)
        RoomParticipant.objects.create(
            room=room, user=user, role=Role.MODERATOR, stage_since=timezone.now(), muted=False
        )
        RoomVisit.objects.create(room=room, user=user)
        if _followers_told(room, club_event_host=club_event_host):
            transaction.on_commit(lambda: room_started_notify.delay(room.pk))
    return room


def _followers_told(room: Room, *, club_event_host: bool) -> bool:
    """An open room anyone may enter is news for the creator's followers. An event's room is
    not (its RSVPs are invited in, and followers were reminded), nor is a room not everyone
    may enter (social, closed, members-only)."""
    return room.type == Room.Type.OPEN and not room.members_only and not club_event_host


def room_join(*, user: User, room_id: int) -> RoomParticipant:
    """Enter a room as a listener (idempotent: someone already in keeps their place and role).

    Hosts of the scheduled event a room was started from join as moderators, on stage.
    """
    user_require_member(user)
    with transaction.atomic():
        room = room_lock_live(room_id)
        existing = participant_get(room, user)
        if existing is not None:
            return existing
        denial = rules.room_entry_denial(room, user) or tickets_bridge.ticket_entry_denial(
            user, room
        )
        if denial is not None:
            raise denial
        if RoomParticipant.objects.filter(room=room).count() >= room.capacity:
            raise Conflict("This room is full.", code="room_full")
        most = room_max_joined_per_user()
        elsewhere = RoomParticipant.objects.filter(user=user, room__status=Room.Status.LIVE)
        if elsewhere.exclude(room=room).count() >= most:
            raise Conflict(
                f"You are in {most} rooms already; leave one to join another.",
                code="too_many_rooms",
            )
        # One statement (INSERT ... ON CONFLICT DO NOTHING), not get_or_create's four, under the
        # room's lock: a returning visitor keeps the first visit.
        RoomVisit.objects.bulk_create([RoomVisit(room=room, user=user)], ignore_conflicts=True)
        if ScheduledEvent.objects.filter(room=room, hosts=user).exists():
            participant = RoomParticipant.objects.create(
                room=room, user=user, role=Role.MODERATOR, stage_since=timezone.now()
            )
            stage_event_send(
                room,
                type="room.moderator_added",
                data={"user": user_card(user), "by": None, "reason": "event_host"},
            )
            return participant
        participant = RoomParticipant.objects.create(room=room, user=user, role=Role.LISTENER)
        events.room_audience_changed(room_id=room.pk)
    return participant


def room_enter(*, user: User, room_id: int) -> dict[str, Any]:
    """`room_join`, then the room's snapshot read in the same transaction (what a socket's
    `room.join` answers). The join took the room's row lock and the snapshot needs it too (its
    `seq` must match the state it shows): one wait for the lock and one commit instead of two,
    which is what a burst of joins to one room queues on (issue #18, docs/benchmarks.md)."""
    with transaction.atomic():
        room_join(user=user, room_id=room_id)
        return room_snapshot(room_id=room_id, viewer=user)


def room_leave(*, user: User, room_id: int) -> None:
    """Leave a room (idempotent). The transport calls this after its presence grace period."""
    with transaction.atomic():
        room = room_lock(room_id)
        participant = participant_get(room, user) if user.is_authenticated else None
        if participant is None or not room.is_live:
            return
        participant.delete()
        if participant.on_stage:
            stage_event_send(
                room,
                type="room.speaker_removed",
                data={"user_id": user.pk, "reason": "left_room", "by": None},
            )
            after_stage_departure(room)
            return
        after_audience_departure(room, participant)


def room_join_without_socket(*, user: User, room_id: int) -> RoomParticipant:
    """`room_join` for a client that joins over REST: presence holds them like a socket that
    went away, so without a socket joining the room within the grace period they leave."""
    with transaction.atomic():
        participant = room_join(user=user, room_id=room_id)
        events.room_joined_without_socket(user_id=user.pk, room_id=room_id)
    return participant


def room_leave_everywhere(*, user: User, room_id: int) -> None:
    """`room_leave` for a client that leaves over REST: the person's open sockets in the room
    leave it too (`room.left`: no more room events, presence and the audio connection let go)."""
    with transaction.atomic():
        room_leave(user=user, room_id=room_id)
        if user.is_authenticated:
            events.room_left_elsewhere_send(user_id=user.pk, room_id=room_id)


def room_end(*, user: User, room_id: int) -> Room:
    """A moderator ends the room for everyone (idempotent)."""
    user_require_member(user)
    with transaction.atomic():
        room = room_lock(room_id)
        if not room.is_live:
            return room
        require_moderator(actor_get(room, user))
        room_end_locked(room, reason="ended_by_moderator", by=user)
    return room


def room_end_by_staff(*, staff: User, room_id: int, reason: str = "") -> Room:
    """Staff end a room from the back office (moderation), whoever is in it. `reason` (why,
    in the staff member's words) is kept in the moderation journal, not told to the room."""
    if not staff.is_staff:
        raise PermissionDenied("Staff only.")
    with transaction.atomic():
        room = room_lock(room_id)
        if room.is_live:
            room_end_locked(room, reason="ended_by_staff", by=staff, staff_reason=reason)
    return room


def _take_out_and_tell(room: Room, participant: RoomParticipant, *, reason: str) -> None:
    """Take someone out (participant_take_out) and tell their own sockets why (`room.removed`),
    so the room page can say it. Caller holds the room lock."""
    participant_take_out(room, participant, reason=reason)
    events.user_event_send(
        user_id=participant.user_id, room_id=room.pk, type="room.removed", data={"reason": reason}
    )


def room_club_access_lost(club_id: int, user_id: int) -> list[int]:
    """Take someone out of the club's live members-only rooms they may no longer enter.

    Registered as a clubs MEMBERSHIP_LOST hook, called as `hook(club_id, user_id)` after the
    clubs transaction commits.
    Not a ban: whoever regains access may come back. Returns the ids of the rooms they left.
    """
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return []
    candidates = RoomParticipant.objects.filter(
        user=user, room__club_id=club_id, room__members_only=True, room__status=Room.Status.LIVE
    ).values_list("room_id", flat=True)
    left: list[int] = []
    for room_id in list(candidates):
        with transaction.atomic():
            room = room_lock(room_id)
            participant = participant_get(room, user)
            if participant is None or not room.is_live or room.club is None:
                continue
            if clubs_bridge.club_entry_denial(user, room.club, members_only=True) is None:
                continue  # access came back before we got here
            _take_out_and_tell(room, participant, reason="club_access_lost")
        left.append(room_id)
    return left


def room_account_deleting(*, user: User) -> None:
    """accounts' deleting hook (inside the deletion's transaction): the person's invites and
    pings, RSVPs, visits and event hosting go. Being in a live room is left to the
    account-disabled hook after commit, which takes them out in front of everyone and drops
    their audio at the relay. Upcoming events they alone host are cancelled (tickets refunded).
    """
    RoomInvite.objects.filter(user=user).delete()
    EventRSVP.objects.filter(user=user).delete()
    RoomVisit.objects.filter(user=user).delete()
    # An upcoming event only they host can no longer start (only hosts open its room): it is
    # cancelled, and its tickets refunded after commit, as when a host deletes it.
    upcoming = ScheduledEvent.objects.filter(
        hosts=user, room__isnull=True, starts_at__gt=timezone.now()
    )
    for event in (
        ScheduledEvent.objects.select_for_update()
        .filter(pk__in=list(upcoming.values_list("pk", flat=True)))
        .order_by("pk")
    ):
        if not event.hosts.exclude(pk=user.pk).exists():
            tickets_bridge.event_cancelled(event, by=user)
            event.delete()
    user.hosted_events.clear()


def room_account_disabled(*, user_id: int) -> list[int]:
    """A disabled (banned) account is shut out of everything live, in front of everyone.

    Registered as an accounts ACCOUNT_DISABLED hook (called after the ban commits). Every socket
    of the person, on every web process, is refused (`account_disabled`, close 4403); then they
    are taken out of every live room they are in: the room sees `room.user_removed` (reason
    `account_disabled`), the relay drops their audio, the stage gets a new moderator or the room
    ends as when anyone leaves. No RoomRemoval: lifting the ban lets them back in. Returns the
    ids of the rooms they left.
    """
    user = User.objects.filter(pk=user_id).first()
    if user is None or user.is_active:
        return []  # deleted (their rows went with them), or re-enabled before we got here
    events.account_disabled_send(user_id=user_id)
    candidates = RoomParticipant.objects.filter(
        user=user, room__status=Room.Status.LIVE
    ).values_list("room_id", flat=True)
    left: list[int] = []
    for room_id in list(candidates):
        with transaction.atomic():
            room = room_lock(room_id)
            participant = participant_get(room, user)
            if participant is None or not room.is_live:
                continue
            participant_take_out(room, participant, reason="account_disabled")
        left.append(room_id)
    return left


def room_visits_expire(*, now: datetime | None = None) -> int:
    """Forget who was in which room after the retention period (ROOM_VISIT_RETENTION_DAYS,
    docs/operations.md). Idempotent; beat runs it daily (migration rooms 0007). Returns how
    many visits went."""
    cutoff = (now or timezone.now()) - timedelta(days=room_visit_retention_days())
    with transaction.atomic():
        deleted, _ = RoomVisit.objects.filter(first_joined_at__lt=cutoff).delete()
    return deleted


def room_user_blocked(*, blocker_id: int, blocked_id: int) -> list[int]:
    """A block takes the blocked person out of every live room the blocker moderates, as the
    entry rule (rooms/rules.py: a moderator's block bars entry) would have kept them out.

    Registered as an accounts USER_BLOCKED hook (called after the block commits). A block by a
    speaker or listener changes nothing in rooms, as for entry; a moderator is not taken out
    by another moderator's block (no moderator removes another, `cannot_remove_moderator`). The
    room sees `room.user_removed` (reason `blocked_by_moderator`), the person `room.removed`
    with the same reason; their sockets leave and the relay drops their audio. No RoomRemoval:
    while the block stands the entry rule refuses them; once lifted they may come back.
    Returns the ids of the rooms they left."""
    blocked = User.objects.filter(pk=blocked_id).first()
    if blocked is None:
        return []
    candidates = (
        RoomParticipant.objects.filter(user=blocked, room__status=Room.Status.LIVE)
        .filter(room__participants__user_id=blocker_id, room__participants__role=Role.MODERATOR)
        .values_list("room_id", flat=True)
    )
    left: list[int] = []
    for room_id in list(candidates):
        with transaction.atomic():
            room = room_lock(room_id)
            participant = participant_get(room, blocked)
            if participant is None or not room.is_live or participant.role == Role.MODERATOR:
                continue
            denial = rules.room_entry_denial(room, blocked)
            if denial is None or denial.code != "blocked_by_moderator":
                continue  # unblocked, or the blocker stepped down, before we got here
            _take_out_and_tell(room, participant, reason="blocked_by_moderator")
        left.append(room_id)
    return left


def room_ticket_lost(*, user_id: int, room_id: int) -> bool:
    """A ticket stopped admitting (refunded, refund requested, charged back): its holder leaves
    the ticketed room (`room_id`: the room priced, or the room of the event priced) if they are
    in it and nothing else admits them (creator, host, staff, another ticket). payouts calls
    this after the ticket's transaction commits.

    The room sees `room.user_removed` (reason `ticket_refunded`), the person `room.removed`;
    their sockets leave the room and the relay drops their audio. Buying again lets them back
    in. Returns whether they left."""
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return False
    with transaction.atomic():
        room = Room.objects.select_for_update().filter(pk=room_id).first()
        participant = participant_get(room, user) if room is not None else None
        if room is None or participant is None or not room.is_live:
            return False
        if tickets_bridge.ticket_entry_denial(user, room) is None:
            return False  # another ticket, or free entry, still admits them
        _take_out_and_tell(room, participant, reason="ticket_refunded")
    return True
