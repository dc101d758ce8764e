"""Row locks on real PostgreSQL: concurrent joins respect capacity, concurrent stage actions get
distinct gapless sequence numbers, concurrent reminder runs notify once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import Notification
from clubhouse.errors import ApplicationError
from rooms import events, schedule_services, services
from rooms.models import Room, RoomParticipant
from tests.rooms.factories import EventFactory, MemberFactory, RoomFactory, follow, participant

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run calls in threads released at the same moment; return results or exceptions."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[index] = call()
        except Exception as exc:  # noqa: BLE001 - handed to the test thread, which asserts on it
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_concurrent_joins_never_exceed_capacity(monkeypatch) -> None:
    monkeypatch.setattr("rooms.realtime.broadcast.room_audience_changed", lambda room_id: None)
    room = RoomFactory(capacity=4)
    people = [MemberFactory() for _ in range(8)]
    results = together([lambda p=p: services.room_join(user=p, room_id=room.pk) for p in people])
    refused = [r for r in results if isinstance(r, ApplicationError)]
    assert {r.code for r in refused} == {"room_full"}
    assert len(refused) == 5  # the moderator holds one of the four places
    assert RoomParticipant.objects.filter(room=room).count() == 4


def test_concurrent_stage_actions_get_distinct_gapless_seq(monkeypatch) -> None:
    sent: list[int] = []
    lock = threading.Lock()

    def record(room_id: int, event: dict) -> None:
        with lock:
            sent.append(event["seq"])

    monkeypatch.setattr("rooms.realtime.broadcast.room_broadcast", record)
    monkeypatch.setattr(events.broadcast, "user_send", lambda user_id, event: None)
    room = RoomFactory()
    speakers = [MemberFactory() for _ in range(6)]
    for speaker in speakers:
        participant(room, speaker, "speaker")
    together([lambda s=s: services.room_self_unmute(user=s, room_id=room.pk) for s in speakers])
    assert sorted(sent) == list(range(1, 7))
    assert Room.objects.get(pk=room.pk).seq == 6


def test_concurrent_reminder_runs_notify_once() -> None:
    event = EventFactory(starts_at=timezone.now() + timedelta(minutes=5))
    fans = [MemberFactory() for _ in range(3)]
    for fan in fans:
        follow(fan, event.created_by)
    results = together([schedule_services.event_reminders_send for _ in range(3)])
    assert sorted(results) == [0, 0, 1]
    assert Notification.objects.filter(kind="event_reminder").count() == 3


def test_a_snapshot_waits_for_a_stage_change_in_flight_so_no_event_is_lost(monkeypatch) -> None:
    """A snapshot taken while a stage action holds the room lock returns after it commits, with
    that action's seq: the client never misses the event nor sees it twice."""
    from rooms import selectors
    from rooms.services.common import room_lock, seq_next

    monkeypatch.setattr("rooms.realtime.broadcast.room_broadcast", lambda room_id, event: None)
    room = RoomFactory()
    viewer = MemberFactory()
    locked, release = threading.Event(), threading.Event()

    def writer() -> int:
        from django.db import transaction

        with transaction.atomic():
            locked_room = room_lock(room.pk)
            locked.set()
            release.wait(timeout=10)
            return seq_next(locked_room)

    def reader() -> int:
        locked.wait(timeout=10)
        return selectors.room_snapshot(room_id=room.pk, viewer=viewer)["seq"]

    results: dict[str, int] = {}
    threads = [
        threading.Thread(target=lambda: results.update(w=writer()) or connection.close()),
        threading.Thread(target=lambda: results.update(r=reader()) or connection.close()),
    ]
    for thread in threads:
        thread.start()
    locked.wait(timeout=10)
    threads[1].join(timeout=0.5)
    assert threads[1].is_alive()  # the snapshot is waiting on the room lock
    release.set()
    for thread in threads:
        thread.join(timeout=10)
    assert results == {"w": 1, "r": 1}
