"""Redis restarts under a live room: a real daphne on a private Redis, several members with
open sockets in one room. While Redis is down the speaker unmutes (the change commits; its
event cannot be published); Redis comes back on the same port, empty.

With no client action, every socket's view of the room catches up (the server tells each socket
to re-sync once its subscription is back, and the client fetches a snapshot), and a stage event
published after the restart reaches everyone.

With audio: aiortc listeners connected through daphne's embedded relay keep hearing the
speaker's tone while Redis is down and after, and nobody is sent into a re-offer.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from media_relay.testing import ListenerClient, SpeakerClient, wait_for
from rooms.client import RoomClient
from rooms.models import Room
from tests.recovery.conftest import (
    Daphne,
    RestartableRedis,
    http_status,
    session_token,
    start_daphne,
)
from tests.rooms.factories import MemberFactory, RoomFactory, participant

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]

LISTENERS = 4
# The target in docs/operations.md ("Recovery") is 5 s after Redis answers again; the bound here
# is wider because the machine running the suite is small and shared.
RESUME_BOUND_S = 20.0


class View:
    """One member's view of the speaker's microphone, built only from what their socket got."""

    def __init__(self, client: RoomClient, speaker_id: int) -> None:
        self.client = client
        self.speaker_id = speaker_id
        self.muted: bool | None = None
        self.resyncs = 0
        self.events: list[dict[str, Any]] = []

    def take_snapshot(self, snapshot: dict[str, Any]) -> None:
        for seat in snapshot["stage"]:
            if seat["user"]["id"] == self.speaker_id:
                self.muted = seat["muted"]

    def drain(self) -> None:
        for item in self.client.pending_events():
            if item.get("type") == "client.resync":
                self.resyncs += 1
                self.take_snapshot(item["snapshot"])
            elif item.get("type") in ("room.speaker_muted", "room.speaker_unmuted"):
                if item["data"]["user_id"] == self.speaker_id:
                    self.muted = item["type"] == "room.speaker_muted"
                self.events.append(item)


async def until(check: Any, what: str, timeout: float) -> float:
    """Poll until `check()`; return how long it took."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def room_seq(room_id: int) -> int:
    return int(await sync_to_async(Room.objects.values_list("seq", flat=True).get)(pk=room_id))


def test_room_events_resume_and_sockets_catch_up_after_redis_restarts(
    private_redis: RestartableRedis, tmp_path: Path
) -> None:
    room = RoomFactory()
    speaker = MemberFactory()
    participant(room, speaker, "speaker")
    listeners = [MemberFactory() for _ in range(LISTENERS)]
    for listener in listeners:
        participant(room, listener, "listener")
    tokens = [session_token(user) for user in [speaker, room.created_by, *listeners]]
    server = start_daphne(tmp_path, REDIS_URL=private_redis.url, CHANNEL_PREFIX="recovery")
    try:
        asyncio.run(_scenario(server, private_redis, room.pk, speaker.pk, tokens))
    except BaseException:
        print(f"daphne's log:\n{server.child.output()[-6000:]}")  # noqa: T201
        raise
    finally:
        server.child.stop()


async def _scenario(
    server: Daphne, redis: RestartableRedis, room_id: int, speaker_id: int, tokens: list[str]
) -> None:
    clients = [await RoomClient.connect(server.ws_url, token=token) for token in tokens]
    try:
        views = [View(client, speaker_id) for client in clients]
        for view in views:
            view.take_snapshot(await view.client.join(room_id))
        speaker = clients[0]

        # Before: an event reaches every socket.
        await speaker.request("room.self_mute", room_id=room_id)
        seq = await room_seq(room_id)

        def everyone_at(expected_seq: int, muted: bool) -> bool:
            for view in views:
                view.drain()
            return all(v.client.seq >= expected_seq and v.muted is muted for v in views)

        await until(lambda: everyone_at(seq, True), "everyone hears the mute", RESUME_BOUND_S)

        # Redis goes away. The speaker unmutes meanwhile: committed, but nobody can be told.
        redis.stop()
        assert await asyncio.to_thread(http_status, f"{server.url}/readyz") == 503
        await speaker.request("room.self_unmute", room_id=room_id, timeout=30)
        missed_seq = await room_seq(room_id)
        assert missed_seq == seq + 1

        # Redis comes back (empty, same port). Nobody does anything.
        redis.start()
        took = await until(
            lambda: everyone_at(missed_seq, False),
            "every socket catches up with the unmute made while Redis was down",
            RESUME_BOUND_S,
        )
        assert all(view.resyncs >= 1 for view in views), "each caught up through a snapshot"
        assert await asyncio.to_thread(http_status, f"{server.url}/readyz") == 200

        # And events flow again: one published now reaches every socket as an event.
        before = [len(view.events) for view in views]
        await speaker.request("room.self_mute", room_id=room_id)
        after_seq = await room_seq(room_id)
        await until(lambda: everyone_at(after_seq, True), "the next event", RESUME_BOUND_S)
        assert all(
            any(e["seq"] == after_seq for e in view.events[count:])
            for view, count in zip(views, before, strict=True)
        ), "delivered as an event, not only through another snapshot"
        print(f"caught up {took:.1f} s after Redis answered again")  # noqa: T201
    finally:
        for client in clients:
            await client.close()


TONE_FRAMES = 15  # 0.3 s of decoded tone


async def hearing(listeners: list[ListenerClient], timeout: float) -> bool:
    start = [listener.tone_frames for listener in listeners]
    return await wait_for(
        lambda: all(
            listener.tone_frames - before >= TONE_FRAMES
            for listener, before in zip(listeners, start, strict=True)
        ),
        timeout,
    )


def test_listeners_keep_hearing_the_speaker_across_a_redis_restart(
    private_redis: RestartableRedis, tmp_path: Path
) -> None:
    room = RoomFactory()
    speaker = MemberFactory()
    participant(room, speaker, "speaker", muted=False)
    listeners = [MemberFactory() for _ in range(2)]
    for listener in listeners:
        participant(room, listener, "listener")
    tokens = [session_token(user) for user in [speaker, *listeners]]
    server = start_daphne(
        tmp_path,
        REDIS_URL=private_redis.url,
        CHANNEL_PREFIX="recovery-audio",
        RELAY_EMBEDDED="1",
        RELAY_ALLOW_LOOPBACK_CANDIDATES="1",
        # The relay heartbeats every 2 s and the web process checks its workers every 1 s: after
        # Redis comes back empty, a check always comes before the relay's next heartbeat.
        RELAY_HEARTBEAT_S="2",
        RELAY_WORKER_TTL_S="6",
    )
    try:
        asyncio.run(_audio_scenario(server, private_redis, room.pk, tokens))
    except BaseException:
        print(f"daphne's log:\n{server.child.output()[-8000:]}")  # noqa: T201
        raise
    finally:
        server.child.stop()


async def _audio_scenario(
    server: Daphne, redis: RestartableRedis, room_id: int, tokens: list[str]
) -> None:
    sockets = [await RoomClient.connect(server.ws_url, token=token) for token in tokens]
    peers: list[SpeakerClient | ListenerClient] = []
    try:
        for socket in sockets:
            await socket.join(room_id)
        mic = SpeakerClient()
        peers.append(mic)
        await mic.answer((await sockets[0].rtc_offer(await mic.offer(slots=3)))["sdp"])
        ears = [ListenerClient() for _ in sockets[1:]]
        for ear, socket in zip(ears, sockets[1:], strict=True):
            peers.append(ear)
            await ear.answer((await socket.rtc_offer(await ear.offer()))["sdp"])
        assert await hearing(ears, RESUME_BOUND_S), "listeners hear the speaker"
        marks = [len(socket.pushes) for socket in sockets]

        redis.stop()
        assert await hearing(ears, RESUME_BOUND_S), "audio flows while Redis is down"
        redis.start()
        assert await hearing(ears, RESUME_BOUND_S), "and after it is back"
        # Give the web process time to look at its relay workers a few times, then check that
        # the restart sent nobody into a needless re-offer and that they still hear.
        await asyncio.sleep(3)  # not a timing assertion: a window for a wrong push to show
        moved = [
            s.pushes_of("rtc.renegotiate", since=m) for s, m in zip(sockets, marks, strict=True)
        ]
        assert await hearing(ears, RESUME_BOUND_S), "still hearing"
        assert moved == [[]] * len(sockets), moved
    finally:
        for peer in peers:
            await peer.close()
        for socket in sockets:
            await socket.close()
