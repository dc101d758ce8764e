"""Demo rooms for `make run`: the live music room the demo bots play in (first in every demo
member's hallway), a quiet talk room, and an upcoming event.

The music room ranks first through the hallway's own rules (rooms/hallway.py): every demo member
follows the people on its stage, and nobody follows as many people on any other stage. Its stage
is the bots of `manage.py demo_speaker` (rooms/management/commands/demo_speaker.py), which
take turns playing, with listeners in the audience and a raised hand. The talk room's stage is
muted: nobody plays audio there, and its muted microphones say so.

Everyone gets on stage, into the audience and raises a hand through the room services, as a
person would. Idempotent: a live room is found by its title and reused; the event by its title.
Runs after accounts/demo.py (which creates ada, grace, alan, ...).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.demo import DEMO_PEOPLE
from accounts.selectors import topic_list
from accounts.services import user_follow_seed
from clubhouse.errors import ApplicationError, Conflict
from rooms import schedule_services, services
from rooms.models import EventCohostInvite, Room, RoomParticipant, ScheduledEvent

if TYPE_CHECKING:
    from accounts.models import User
else:
    User = get_user_model()


@dataclass(frozen=True)
class DemoRoom:
    title: str
    type: str
    topics: tuple[str, ...]
    stage: tuple[str, ...]  # the first opens the room (its moderator); the others speak
    listeners: tuple[str, ...] = ()
    hands: tuple[str, ...] = ()  # listeners with a raised hand
    muted: bool = False  # the stage's microphones


MUSIC_ROOM = DemoRoom(
    title="Late-night jazz listening",
    type=Room.Type.OPEN,
    topics=("music", "art"),
    stage=("nina", "miles", "linus"),
    listeners=("frida", "james", "octavia", "marie"),
    hands=("frida",),
)
TALK_ROOM = DemoRoom(
    title="Computing before computers",
    type=Room.Type.OPEN,
    topics=("tech", "science"),
    stage=("ada", "grace", "alan"),
    listeners=("katherine", "hedy"),
    muted=True,
)
DEMO_ROOMS = [MUSIC_ROOM, TALK_ROOM]
DEMO_EVENT = ("Ask a pioneer anything", ["grace", "ada"], ["tech"])


def _people(usernames: Sequence[str]) -> list[User]:
    found = {u.username: u for u in User.objects.filter(username__in=usernames)}
    return [found[name] for name in usernames if name in found]


def room_spec(title: str, stage: tuple[str, ...]) -> DemoRoom:
    """The demo room titled `title` if `stage` is on its stage, else a bare open room."""
    for spec in DEMO_ROOMS:
        if spec.title == title and set(stage) <= set(spec.stage):
            return spec
    return DemoRoom(title=title, type=Room.Type.OPEN, topics=(), stage=stage)


def room_find(spec: DemoRoom) -> Room | None:
    """The newest live room titled `spec.title` with someone of `spec.stage` on stage."""
    return (
        Room.objects.filter(
            title=spec.title,
            status=Room.Status.LIVE,
            participants__user__username__in=spec.stage,
            participants__role__in=RoomParticipant.STAGE_ROLES,
        )
        .order_by("-pk")
        .first()
    )


def stage_take(room: Room, user: User, *, muted: bool = False) -> None:
    """Put `user` on stage in `room` as they would get there: join, be invited by a moderator,
    accept; then mute or unmute themselves. Raises the service's error if they may not."""
    row = RoomParticipant.objects.filter(room=room, user=user).first()
    if row is None or not row.on_stage:
        services.room_join(user=user, room_id=room.pk)
        moderator = (
            RoomParticipant.objects.filter(room=room, role=RoomParticipant.Role.MODERATOR)
            .select_related("user")
            .order_by("stage_since", "pk")
            .first()
        )
        if moderator is None:  # a live room always has one; a race with its end would land here
            raise Conflict("The room has no moderator.", code="no_moderator")
        services.room_speaker_invite(user=moderator.user, room_id=room.pk, target_id=user.pk)
        row = services.room_speaker_invite_accept(user=user, room_id=room.pk)
    if row.muted != muted:
        if muted:
            services.room_self_mute(user=user, room_id=room.pk)
        else:
            services.room_self_unmute(user=user, room_id=room.pk)


def room_ensure(spec: DemoRoom) -> Room | None:
    """The live demo room of `spec`, opened by the first of its stage if there is none, with
    its stage on stage, its listeners in the audience and their hands raised. None if the
    stage's people do not exist (run accounts/demo.py first)."""
    stage = _people(spec.stage)
    if not stage:
        return None
    room = room_find(spec)
    if room is None:
        topics = topic_list(slugs=spec.topics).values_list("pk", flat=True)
        room = services.room_create(
            user=stage[0], title=spec.title, type=spec.type, topic_ids=list(topics)
        )
    for person in stage:
        stage_take(room, person, muted=spec.muted)
    for person in _people(spec.listeners):
        # People who left, were removed or blocked since the last run stay out: the demo bends
        # no room rule.
        try:
            services.room_join(user=person, room_id=room.pk)
            if person.username in spec.hands:
                services.room_hand_raise(user=person, room_id=room.pk)
        except ApplicationError:
            continue
    return room


def _everyone_follows_the_stage(spec: DemoRoom) -> None:
    """Every demo member follows everyone on `spec`'s stage: the hallway ranks rooms by how many
    people the viewer follows on stage first, so this room comes first for all of them."""
    stage = _people(spec.stage)
    for person in _people([username for username, _ in DEMO_PEOPLE]):
        for followee in stage:
            if followee != person:
                user_follow_seed(follower=person, followee=followee)


def _stale_rooms_end(spec: DemoRoom) -> None:
    """An older demo_data made rooms with these titles of another type (the music room was
    social): end them, so the hallway has one room of each title."""
    stale = Room.objects.filter(title=spec.title, status=Room.Status.LIVE).exclude(type=spec.type)
    for room in stale:
        moderator = (
            RoomParticipant.objects.filter(room=room, role=RoomParticipant.Role.MODERATOR)
            .select_related("user")
            .first()
        )
        if moderator is not None:
            services.room_end(user=moderator.user, room_id=room.pk)


def load() -> Iterator[str]:
    _everyone_follows_the_stage(MUSIC_ROOM)
    for spec in DEMO_ROOMS:
        _stale_rooms_end(spec)
        room = room_ensure(spec)
        if room is None:
            continue
        line = f"Live room: {spec.title!r} (/api/v1/rooms/{room.pk}/)"
        if spec == MUSIC_ROOM:
            line += (
                f", first in every demo member's hallway: open it and tap to listen to "
                f"{', '.join(spec.stage)} taking turns (the bots of manage.py demo_speaker)"
            )
        yield line

    title, host_names, slugs = DEMO_EVENT
    topics = {t.slug: t.pk for t in topic_list()}
    hosts = _people(host_names)
    event = ScheduledEvent.objects.filter(title=title).first()
    if event is None and hosts:
        event = schedule_services.event_create(
            user=hosts[0],
            title=title,
            description="Bring your questions about the first programs and the first compilers.",
            starts_at=timezone.now() + timedelta(days=1),
            host_ids=[h.pk for h in hosts[1:]],
            topic_ids=[topics[s] for s in slugs if s in topics],
        )
        # Co-hosts are asked; the demo's say yes, so the event shows its hosts as before.
        for invite in EventCohostInvite.objects.filter(event=event):
            schedule_services.event_cohost_accept(user=invite.user, invite_id=invite.pk)
    if event is not None:
        yield f"Upcoming event: {title!r} at {event.starts_at:%Y-%m-%d %H:%M} UTC"
