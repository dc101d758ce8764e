"""Demo rooms for `make run`: two live rooms with demo people on stage, and an upcoming event.

Idempotent: rooms are found by title among live rooms and reused; the event by title.
Runs after accounts/demo.py (which creates ada, grace, alan, ...).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from django.utils import timezone

from accounts.models import Topic, User
from rooms import schedule_services, services
from rooms.models import Room, RoomParticipant, ScheduledEvent

# title, type, topic slugs, moderator, speakers, listeners
DEMO_ROOMS = [
    ("Computing before computers", Room.Type.OPEN, ["tech", "science"], "ada",
     ["grace", "alan"], ["katherine", "linus", "hedy"]),
    ("Late-night jazz listening", Room.Type.SOCIAL, ["music"], "nina",
     ["miles"], ["frida", "james"]),
]  # fmt: skip
DEMO_EVENT = ("Ask a pioneer anything", ["grace", "ada"], ["tech"])


def _people(usernames: list[str]) -> list[User]:
    found = {u.username: u for u in User.objects.filter(username__in=usernames)}
    return [found[name] for name in usernames if name in found]


def load() -> Iterator[str]:
    topics = {t.slug: t.pk for t in Topic.objects.all()}
    for title, room_type, slugs, moderator_name, speakers, listeners in DEMO_ROOMS:
        moderators = _people([moderator_name])
        if not moderators:
            continue
        room = Room.objects.filter(title=title, status=Room.Status.LIVE).first()
        if room is None:
            room = services.room_create(
                user=moderators[0],
                title=title,
                type=room_type,
                topic_ids=[topics[s] for s in slugs if s in topics],
            )
        for person in _people(speakers):
            row = RoomParticipant.objects.filter(room=room, user=person).first()
            if row is None or row.role == RoomParticipant.Role.LISTENER:
                # straight onto the stage, as if they had accepted an invitation
                RoomParticipant.objects.update_or_create(
                    room=room,
                    user=person,
                    defaults={
                        "role": "speaker",
                        "stage_since": timezone.now(),
                        "muted": False,
                        "hand_raised_at": None,
                        "speaker_invited_at": None,
                    },
                )
        for person in _people(listeners):
            RoomParticipant.objects.get_or_create(room=room, user=person)
        yield f"Live room: {title!r} (/api/v1/rooms/{room.pk}/)"

    title, host_names, slugs = DEMO_EVENT
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
    if event is not None:
        yield f"Upcoming event: {title!r} at {event.starts_at:%Y-%m-%d %H:%M} UTC"
