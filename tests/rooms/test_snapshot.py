"""The snapshot a client draws a room from, and audience pages."""

from __future__ import annotations

import json

import pytest

from clubhouse.errors import ApplicationError
from rooms import selectors, services
from rooms.models import Room
from tests.rooms.conftest import Stage
from tests.rooms.factories import MemberFactory, block, participant

pytestmark = pytest.mark.django_db


def test_snapshot_is_json_and_shows_stage_audience_and_seq(stage: Stage) -> None:
    services.room_self_unmute(user=stage.speaker, room_id=stage.room.pk)
    snap = selectors.room_snapshot(room_id=stage.room.pk, viewer=stage.listener)
    json.dumps(snap)
    assert snap["seq"] == 1
    assert snap["room"]["id"] == stage.room.pk
    assert snap["room"]["status"] == "live"
    assert snap["room"]["capacity"] == 5000
    assert snap["room"]["hand_raise_policy"] == "everyone"
    assert [(s["user"]["id"], s["role"], s["muted"]) for s in snap["stage"]] == [
        (stage.moderator.pk, "moderator", False),
        (stage.speaker.pk, "speaker", False),
    ]
    assert snap["audience_count"] == 1
    assert snap["audience"]["items"][0]["user"]["id"] == stage.listener.pk
    assert snap["you"] == {
        "role": "listener",
        "hand_raised": False,
        "muted": None,
        "speaker_invited": False,
    }


def test_hands_are_visible_to_moderators_and_only_your_own_to_others(stage: Stage) -> None:
    other = MemberFactory()
    participant(stage.room, other)
    services.room_hand_raise(user=stage.listener, room_id=stage.room.pk)
    services.room_hand_raise(user=other, room_id=stage.room.pk)
    as_moderator = selectors.room_snapshot(room_id=stage.room.pk, viewer=stage.moderator)
    assert [h["user"]["id"] for h in as_moderator["hands"]] == [stage.listener.pk, other.pk]
    as_listener = selectors.room_snapshot(room_id=stage.room.pk, viewer=stage.listener)
    assert [h["user"]["id"] for h in as_listener["hands"]] == [stage.listener.pk]
    assert as_listener["hands_count"] == 2
    as_speaker = selectors.room_snapshot(room_id=stage.room.pk, viewer=stage.speaker)
    assert as_speaker["hands"] == []


def test_snapshot_warns_when_someone_the_viewer_blocked_is_on_stage(stage: Stage) -> None:
    viewer = MemberFactory()
    block(viewer, stage.speaker)
    snap = selectors.room_snapshot(room_id=stage.room.pk, viewer=viewer)
    assert snap["blocked_on_stage"] is True
    flags = {s["user"]["id"]: s["is_blocked_by_viewer"] for s in snap["stage"]}
    assert flags == {stage.moderator.pk: False, stage.speaker.pk: True}


def test_snapshot_refuses_people_who_may_not_enter(stage: Stage) -> None:
    Room.objects.filter(pk=stage.room.pk).update(type="closed")
    with pytest.raises(ApplicationError) as excinfo:
        selectors.room_snapshot(room_id=stage.room.pk, viewer=MemberFactory())
    assert excinfo.value.code == "closed_room_invite_only"


def test_audience_pages_follow_the_cursor_to_the_end(stage: Stage) -> None:
    listeners = [MemberFactory() for _ in range(4)]
    for person in listeners:
        participant(stage.room, person)
    expected = [stage.listener.pk] + [p.pk for p in listeners]
    seen: list[int] = []
    cursor = None
    while True:
        page = selectors.room_audience_page(
            room_id=stage.room.pk, viewer=stage.listener, cursor=cursor, limit=2
        )
        seen += [item["user"]["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert page["audience_count"] == 5


def test_snapshot_audience_page_size_comes_from_settings(stage: Stage, settings) -> None:
    settings.ROOM_AUDIENCE_PAGE_SIZE = 1
    participant(stage.room, MemberFactory())
    snap = selectors.room_snapshot(room_id=stage.room.pk, viewer=stage.moderator)
    assert len(snap["audience"]["items"]) == 1
    assert snap["audience"]["next_cursor"]


def test_a_bad_cursor_is_invalid_input(stage: Stage) -> None:
    with pytest.raises(ApplicationError) as excinfo:
        selectors.room_audience_page(room_id=stage.room.pk, viewer=stage.listener, cursor="x")
    assert excinfo.value.code == "invalid"
    assert "cursor" in excinfo.value.fields


def test_audience_count_selector_counts_listeners_only(stage: Stage) -> None:
    participant(stage.room, MemberFactory())
    assert selectors.room_audience_count(room_id=stage.room.pk) == 2


@pytest.mark.parametrize("listeners", [3, 30])
def test_snapshot_and_audience_page_query_counts_do_not_grow(
    stage: Stage, listeners: int, django_assert_num_queries
) -> None:
    for _ in range(listeners):
        participant(stage.room, MemberFactory())
    for _ in range(3):
        participant(stage.room, MemberFactory(), "speaker")
    # savepoints, room lock, you, blocks, stage, hands, audience count, audience page, hands
    # count, topics
    with django_assert_num_queries(11):
        snap = selectors.room_snapshot(room_id=stage.room.pk, viewer=stage.moderator)
    assert len(snap["stage"]) == 5
    # room, topics, membership check, your row, the page, the count
    with django_assert_num_queries(6):
        page = selectors.room_audience_page(room_id=stage.room.pk, viewer=stage.listener)
    assert len(page["items"]) == listeners + 1
