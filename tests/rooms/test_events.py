"""Every event type reaches the channel layer through rooms.realtime.broadcast, only after commit, with
the shape the transport expects. Uses the real (Redis) channel layer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer

from accounts import services as accounts_services
from rooms import events, services
from rooms.models import Room
from rooms.realtime.broadcast import room_group, user_group
from tests.factories import UserFactory
from tests.rooms.conftest import Stage
from tests.rooms.factories import MemberFactory, participant

pytestmark = [pytest.mark.django_db, pytest.mark.redis]


def collect(groups: list[str], action: Callable[[], Any], expect: int) -> list[dict[str, Any]]:
    """Subscribe a test channel to `groups`, run `action`, and return the events received, each
    as ``{"to": "room" | "user", "event": {...}}``.

    The only function here that knows how rooms.realtime.broadcast delivers (channel-layer groups
    `room.<id>` / `user.<id>` with `room.event` / `user.event` envelopes): if the transport
    changes, only this helper changes.
    """

    async def run() -> list[dict[str, Any]]:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        for group in groups:
            await layer.group_add(group, channel)
        try:
            await sync_to_async(action)()
            received = [
                await asyncio.wait_for(layer.receive(channel), timeout=3) for _ in range(expect)
            ]
            try:  # and nothing more
                extra = await asyncio.wait_for(layer.receive(channel), timeout=0.2)
                received.append(extra)
            except TimeoutError:
                pass
            kinds = {"room.event": "room", "user.event": "user"}
            return [{"to": kinds[m["type"]], "event": m["event"]} for m in received]
        finally:
            for group in groups:
                await layer.group_discard(group, channel)

    return async_to_sync(run)()


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    def committed(service: Callable[..., Any], **kwargs: Any) -> Callable[[], Any]:
        def call() -> Any:
            with django_capture_on_commit_callbacks(execute=True):
                return service(**kwargs)

        return call

    return committed


def room_events(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert all(m["to"] == "room" for m in messages)
    return [m["event"] for m in messages]


def test_events_wait_for_commit(stage: Stage, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.room_self_unmute(user=stage.speaker, room_id=stage.room.pk)
    assert len(callbacks) == 1  # queued, not sent: a rollback would have sent nothing


def test_speaker_added(stage: Stage, run) -> None:
    services.room_speaker_invite(
        user=stage.moderator, room_id=stage.room.pk, target_id=stage.listener.pk
    )
    got = collect(
        [room_group(stage.room.pk)],
        run(services.room_speaker_invite_accept, user=stage.listener, room_id=stage.room.pk),
        1,
    )
    [event] = room_events(got)
    assert event == {
        "type": "room.speaker_added",
        "room_id": stage.room.pk,
        "seq": Room.objects.get(pk=stage.room.pk).seq,
        "data": {
            "user": {
                "id": stage.listener.pk,
                "username": stage.listener.username,
                "name": stage.listener.display_name,
                "avatar_url": None,
            },
            "role": "speaker",
            "muted": True,
        },
    }


def test_speaker_removed_when_moved_to_audience(stage: Stage, run) -> None:
    got = collect(
        [room_group(stage.room.pk)],
        run(
            services.room_speaker_move_to_audience,
            user=stage.moderator,
            room_id=stage.room.pk,
            target_id=stage.speaker.pk,
        ),
        1,
    )
    [event] = room_events(got)
    assert event["type"] == "room.speaker_removed"
    assert event["seq"] == 1
    assert event["data"] == {
        "user_id": stage.speaker.pk,
        "reason": "moved_by_moderator",
        "by": stage.moderator.pk,
    }


def test_speaker_removed_when_leaving_the_stage_or_the_room(stage: Stage, run) -> None:
    got = collect(
        [room_group(stage.room.pk)],
        run(services.room_leave, user=stage.speaker, room_id=stage.room.pk),
        1,
    )
    [event] = room_events(got)
    assert event["type"] == "room.speaker_removed"
    assert event["data"]["reason"] == "left_room"


def test_moderator_added_and_removed(stage: Stage, run) -> None:
    got = collect(
        [room_group(stage.room.pk)],
        run(
            services.room_moderator_add,
            user=stage.moderator,
            room_id=stage.room.pk,
            target_id=stage.speaker.pk,
        ),
        1,
    )
    [added] = room_events(got)
    assert added["type"] == "room.moderator_added"
    assert added["seq"] == 1
    assert added["data"]["user"]["id"] == stage.speaker.pk
    got = collect(
        [room_group(stage.room.pk)],
        run(
            services.room_moderator_remove,
            user=stage.speaker,
            room_id=stage.room.pk,
            target_id=stage.moderator.pk,
        ),
        1,
    )
    [removed] = room_events(got)
    assert removed["type"] == "room.moderator_removed"
    assert removed["seq"] == 2
    assert removed["data"] == {"user_id": stage.moderator.pk, "by": stage.speaker.pk}


def test_moderator_added_when_the_last_moderator_leaves(stage: Stage, run) -> None:
    got = collect(
        [room_group(stage.room.pk)],
        run(services.room_leave, user=stage.moderator, room_id=stage.room.pk),
        2,
    )
    left, promoted = room_events(got)
    assert left["type"] == "room.speaker_removed"
    assert left["seq"] == 1
    assert promoted["type"] == "room.moderator_added"
    assert promoted["seq"] == 2
    assert promoted["data"]["reason"] == "last_moderator_left"


def test_speaker_muted_and_unmuted(stage: Stage, run) -> None:
    got = collect(
        [room_group(stage.room.pk)],
        run(services.room_self_unmute, user=stage.speaker, room_id=stage.room.pk),
        1,
    )
    [unmuted] = room_events(got)
    assert unmuted["type"] == "room.speaker_unmuted"
    assert unmuted["data"] == {"user_id": stage.speaker.pk, "muted": False, "by": stage.speaker.pk}
    got = collect(
        [room_group(stage.room.pk)],
        run(
            services.room_speaker_mute,
            user=stage.moderator,
            room_id=stage.room.pk,
            target_id=stage.speaker.pk,
        ),
        1,
    )
    [muted] = room_events(got)
    assert muted["type"] == "room.speaker_muted"
    assert muted["seq"] == unmuted["seq"] + 1
    assert muted["data"]["by"] == stage.moderator.pk


def test_hands_changed_for_everyone_and_hand_raised_for_moderators(stage: Stage, run) -> None:
    got = collect(
        [room_group(stage.room.pk), user_group(stage.moderator.pk)],
        run(services.room_hand_raise, user=stage.listener, room_id=stage.room.pk),
        2,
    )
    by_type = {m["event"]["type"]: m for m in got}
    assert set(by_type) == {"room.hands_changed", "room.hand_raised"}
    assert by_type["room.hands_changed"]["to"] == "room"
    assert by_type["room.hands_changed"]["event"]["data"] == {"count": 1}
    personal = by_type["room.hand_raised"]
    assert personal["to"] == "user"
    assert "seq" not in personal["event"]
    assert personal["event"]["data"]["user"]["id"] == stage.listener.pk


def test_hand_lowered_goes_to_moderators(stage: Stage, run) -> None:
    services.room_hand_raise(user=stage.listener, room_id=stage.room.pk)
    got = collect(
        [user_group(stage.moderator.pk)],
        run(services.room_hand_lower, user=stage.listener, room_id=stage.room.pk),
        1,
    )
    assert got[0]["event"]["type"] == "room.hand_lowered"


def test_hand_lowered_by_a_moderator_tells_its_owner(stage: Stage, run) -> None:
    services.room_hand_raise(user=stage.listener, room_id=stage.room.pk)
    got = collect(
        [user_group(stage.listener.pk)],
        run(
            services.room_hand_lower,
            user=stage.moderator,
            room_id=stage.room.pk,
            target_id=stage.listener.pk,
        ),
        1,
    )
    event = got[0]["event"]
    assert event["type"] == "room.hand_lowered"
    assert event["data"]["by"] == stage.moderator.pk


def test_hand_raised_is_not_sent_to_the_audience(stage: Stage, run) -> None:
    got = collect(
        [user_group(stage.speaker.pk)],
        run(services.room_hand_raise, user=stage.listener, room_id=stage.room.pk),
        0,
    )
    assert got == []


def test_hand_policy_changed(stage: Stage, run) -> None:
    got = collect(
        [room_group(stage.room.pk)],
        run(
            services.room_hand_policy_set,
            user=stage.moderator,
            room_id=stage.room.pk,
            policy="off",
        ),
        1,
    )
    [event] = room_events(got)
    assert event["type"] == "room.hand_policy_changed"
    assert event["data"] == {"policy": "off", "by": stage.moderator.pk}


def test_pinned_link_changed_when_set_and_when_cleared(stage: Stage, run) -> None:
    got = collect(
        [room_group(stage.room.pk)],
        run(
            services.room_pinned_link_set,
            user=stage.moderator,
            room_id=stage.room.pk,
            url="https://example.org/notes",
            title="Notes",
        ),
        1,
    )
    [event] = room_events(got)
    assert event["type"] == "room.pinned_link_changed"
    assert event["seq"] == 1
    link = event["data"]["pinned_link"]
    assert event["data"]["by"] == stage.moderator.pk
    assert (link["url"], link["title"], link["by"]) == (
        "https://example.org/notes",
        "Notes",
        stage.moderator.pk,
    )
    assert link["pinned_at"]

    got = collect(
        [room_group(stage.room.pk)],
        run(services.room_pinned_link_clear, user=stage.moderator, room_id=stage.room.pk),
        1,
    )
    [event] = room_events(got)
    assert event["type"] == "room.pinned_link_changed"
    assert event["data"] == {"pinned_link": None, "by": stage.moderator.pk}


def test_user_removed_to_the_room_and_removed_to_the_person(stage: Stage, run) -> None:
    got = collect(
        [room_group(stage.room.pk), user_group(stage.listener.pk)],
        run(
            services.room_user_remove,
            user=stage.moderator,
            room_id=stage.room.pk,
            target_id=stage.listener.pk,
        ),
        2,
    )
    by_type = {m["event"]["type"]: m["event"] for m in got}
    assert by_type["room.user_removed"]["data"]["user_id"] == stage.listener.pk
    assert by_type["room.user_removed"]["seq"] == 1
    assert by_type["room.removed"] == {"type": "room.removed", "room_id": stage.room.pk, "data": {}}


def test_a_ban_closes_the_persons_sockets_and_removes_them_from_the_room(stage: Stage, run) -> None:
    got = collect(
        [room_group(stage.room.pk), user_group(stage.listener.pk)],
        run(accounts_services.user_ban, user=stage.listener, staff=UserFactory(staff=True)),
        2,
    )
    by_type = {m["event"]["type"]: m for m in got}
    # To every socket of the person: the transport closes them (`account_disabled`, 4403).
    assert by_type["account.disabled"] == {
        "to": "user",
        "event": {"type": "account.disabled", "data": {}},
    }
    removed = by_type["room.user_removed"]
    assert removed["to"] == "room"
    assert removed["event"]["data"] == {
        "user_id": stage.listener.pk,
        "by": None,
        "was_on_stage": False,
        "reason": "account_disabled",
    }


def test_room_ended(stage: Stage, run) -> None:
    got = collect(
        [room_group(stage.room.pk)],
        run(services.room_end, user=stage.moderator, room_id=stage.room.pk),
        1,
    )
    [event] = room_events(got)
    assert event == {
        "type": "room.ended",
        "room_id": stage.room.pk,
        "seq": 1,
        "data": {"reason": "ended_by_moderator", "by": stage.moderator.pk},
    }


def test_speaker_invited_and_declined_are_personal(stage: Stage, run) -> None:
    got = collect(
        [user_group(stage.listener.pk)],
        run(
            services.room_speaker_invite,
            user=stage.moderator,
            room_id=stage.room.pk,
            target_id=stage.listener.pk,
        ),
        1,
    )
    assert got[0]["event"]["type"] == "room.speaker_invited"
    assert got[0]["event"]["data"]["by"]["id"] == stage.moderator.pk
    got = collect(
        [user_group(stage.moderator.pk)],
        run(services.room_speaker_invite_decline, user=stage.listener, room_id=stage.room.pk),
        1,
    )
    assert got[0]["event"]["type"] == "room.speaker_invite_declined"
    assert got[0]["event"]["data"]["user"]["id"] == stage.listener.pk


def test_pinged(stage: Stage, run) -> None:
    friend = MemberFactory()
    got = collect(
        [user_group(friend.pk)],
        run(services.room_ping, user=stage.listener, room_id=stage.room.pk, target_id=friend.pk),
        2,
    )
    # The ping's notification reaches the person's sockets too (accounts' notification.created).
    by_type = {g["event"]["type"]: g["event"] for g in got}
    assert set(by_type) == {"room.pinged", "notification.created"}
    assert by_type["notification.created"]["data"]["notification"]["kind"] == "room_ping"
    event = by_type["room.pinged"]
    assert event["room_id"] == stage.room.pk
    assert event["data"]["by"]["id"] == stage.listener.pk
    assert event["data"]["kind"] == "ping"


def test_listener_joins_and_leaves_are_not_broadcast_but_poke_the_audience_hook(
    stage: Stage, run, monkeypatch
) -> None:
    poked: list[int] = []
    monkeypatch.setattr("rooms.realtime.broadcast.room_audience_changed", poked.append)
    newcomer = MemberFactory()
    got = collect(
        [room_group(stage.room.pk)],
        run(services.room_join, user=newcomer, room_id=stage.room.pk),
        0,
    )
    assert got == []
    run(services.room_leave, user=newcomer, room_id=stage.room.pk)()
    assert poked == [stage.room.pk, stage.room.pk]


def test_the_audience_hook_is_safe_to_call() -> None:
    from rooms.realtime.broadcast import room_audience_changed

    assert room_audience_changed(123456) is None


def test_sequence_numbers_are_gapless_across_actions(stage: Stage, run) -> None:
    participant(stage.room, MemberFactory(), "speaker")

    def several() -> None:
        run(services.room_self_unmute, user=stage.speaker, room_id=stage.room.pk)()
        run(services.room_hand_raise, user=stage.listener, room_id=stage.room.pk)()
        run(
            services.room_moderator_add,
            user=stage.moderator,
            room_id=stage.room.pk,
            target_id=stage.speaker.pk,
        )()

    got = collect([room_group(stage.room.pk)], several, 3)
    assert [m["event"]["seq"] for m in got] == [1, 2, 3]


def test_every_event_type_is_covered_here() -> None:
    import pathlib

    source = pathlib.Path(__file__).read_text()
    missing = [t for t in events.EVENT_TYPES if t.removeprefix("room.") not in source]
    assert missing == []
