"""The hallway: ranked, never a room the viewer may not enter, constant queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rooms.hallway import hallway_item, room_hallway_queryset, search
from rooms.models import Room, RoomInvite, RoomRemoval
from tests.rooms.factories import (
    MemberFactory,
    RoomFactory,
    TopicFactory,
    block,
    follow,
    participant,
)

pytestmark = pytest.mark.django_db


def hallway_ids(viewer) -> list[int]:
    return [room.pk for room in room_hallway_queryset(viewer=viewer)]


def test_rooms_with_followed_speakers_come_first_then_popular_rooms() -> None:
    viewer = MemberFactory()
    quiet = RoomFactory()
    popular = RoomFactory()
    for _ in range(3):
        participant(popular, MemberFactory())
    friends = RoomFactory()
    follow(viewer, friends.created_by)
    assert hallway_ids(viewer) == [friends.pk, popular.pk, quiet.pk]


def test_more_followed_speakers_rank_higher() -> None:
    viewer = MemberFactory()
    one, two = RoomFactory(), RoomFactory()
    follow(viewer, one.created_by)
    follow(viewer, two.created_by)
    extra = MemberFactory()
    participant(two, extra, "speaker")
    follow(viewer, extra)
    assert hallway_ids(viewer) == [two.pk, one.pk]


def test_club_rooms_rank_after_followed_and_before_popular(monkeypatch) -> None:
    from clubs.models import Club

    club = Club.objects.create(name="Jazz", slug="jazz")
    viewer = MemberFactory()
    popular = RoomFactory()
    participant(popular, MemberFactory())
    club_room = RoomFactory(club=club)
    monkeypatch.setattr("rooms.clubs_bridge.user_club_ids", lambda user: {club.pk})
    assert hallway_ids(viewer) == [club_room.pk, popular.pk]


def test_rooms_on_the_viewers_topics_rank_before_merely_popular_ones() -> None:
    viewer = MemberFactory()
    music, books = TopicFactory(slug="music"), TopicFactory(slug="books")
    viewer.topics.add(music, books)
    popular = RoomFactory()
    for _ in range(3):
        participant(popular, MemberFactory())
    one_topic = RoomFactory()
    one_topic.topics.add(music)
    two_topics = RoomFactory()
    two_topics.topics.add(music, books)
    followed = RoomFactory()
    follow(viewer, followed.created_by)
    assert hallway_ids(viewer) == [followed.pk, two_topics.pk, one_topic.pk, popular.pk]


def test_hallway_hides_rooms_the_viewer_may_not_enter() -> None:
    viewer = MemberFactory()
    open_room = RoomFactory()
    RoomFactory(type="closed")
    invited_closed = RoomFactory(type="closed")
    RoomInvite.objects.create(room=invited_closed, user=viewer)
    RoomFactory(type="social")
    social_followed = RoomFactory(type="social")
    follow(social_followed.created_by, viewer)
    blocked_me = RoomFactory()
    block(blocked_me.created_by, viewer)
    removed = RoomFactory()
    RoomRemoval.objects.create(room=removed, user=viewer)
    ended = RoomFactory()
    Room.objects.filter(pk=ended.pk).update(status="ended", ended_at=ended.created)
    assert set(hallway_ids(viewer)) == {open_room.pk, invited_closed.pk, social_followed.pk}


def test_hallway_marks_rooms_where_someone_the_viewer_blocked_is_on_stage() -> None:
    viewer = MemberFactory()
    room = RoomFactory()
    block(viewer, room.created_by)
    [item] = [hallway_item(r) for r in room_hallway_queryset(viewer=viewer)]
    assert item["blocked_on_stage"] is True


@pytest.mark.parametrize("count", [3, 30])
def test_hallway_query_count_is_constant(count: int, django_assert_num_queries) -> None:
    viewer = MemberFactory()
    topic = TopicFactory()
    for _ in range(count):
        room = RoomFactory()
        room.topics.add(topic)
        participant(room, MemberFactory(), "speaker")
        participant(room, MemberFactory())
        follow(viewer, room.created_by)
    with django_assert_num_queries(3):
        items = [hallway_item(room) for room in room_hallway_queryset(viewer=viewer)]
    assert len(items) == count
    assert all(len(i["speakers"]) == 2 for i in items)


def test_search_finds_people_rooms_and_clubs_by_name_and_topic() -> None:
    from clubs.models import Club

    viewer = MemberFactory()
    jazz = TopicFactory(slug="jazz", name="Jazz")
    player = MemberFactory(username="pianist")
    player.topics.add(jazz)
    room = RoomFactory(title="Late night")
    room.topics.add(jazz)
    RoomFactory(title="Jazz talk", type="closed")  # not enterable: never found
    Club.objects.create(name="Jazz Club", slug="jazz-club")
    found = search(viewer=viewer, query="jazz")
    assert [u["username"] for u in found["users"]] == ["pianist"]
    assert [r["id"] for r in found["rooms"]] == [room.pk]
    assert [c["name"] for c in found["clubs"]] == ["Jazz Club"]


def test_search_hides_people_blocked_either_way() -> None:
    viewer = MemberFactory()
    hidden = MemberFactory(username="hidden-one")
    block(hidden, viewer)
    assert search(viewer=viewer, query="hidden")["users"] == []


def test_search_query_count_does_not_grow(django_assert_max_num_queries) -> None:
    viewer = MemberFactory()
    for _ in range(10):
        RoomFactory(title="Daily standup")
    with CaptureQueriesContext(connection) as ctx:
        search(viewer=viewer, query="standup")
    for _ in range(10):
        RoomFactory(title="Daily standup")
    with django_assert_max_num_queries(len(ctx.captured_queries)):
        found = search(viewer=viewer, query="standup")
    assert len(found["rooms"]) == 20
