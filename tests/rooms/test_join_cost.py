"""What one `room.join` costs the database (issue #18, docs/benchmarks.md "Join storms"): the
queries of the join and its snapshot, counted on real PostgreSQL, for a room that already has
an audience (a cost that grew with the room would show here)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rooms.realtime import domain
from tests.rooms.factories import MemberFactory, RoomFactory, participant

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def join_queries(room_id: int) -> list[str]:
    newcomer = MemberFactory()
    with CaptureQueriesContext(connection) as captured:
        domain.as_member(newcomer, domain.join, room_id)
    return [q["sql"] for q in captured.captured_queries]


def test_a_join_costs_the_same_queries_in_a_room_of_five_as_of_fifty(monkeypatch) -> None:
    monkeypatch.setattr("rooms.realtime.broadcast.room_audience_changed", lambda room_id: None)
    room = RoomFactory()
    for _ in range(4):
        participant(room, MemberFactory())
    small = join_queries(room.pk)
    for _ in range(45):
        participant(room, MemberFactory())
    large = join_queries(room.pk)
    assert len(large) == len(small)
