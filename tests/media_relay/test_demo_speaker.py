"""The `make run` bot speaker: an ordinary client (room socket + WebRTC) playing generated music."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from media_relay.demo_audio import PARTS, SAMPLE_RATE, Turns, render
from media_relay.management.commands import demo_speaker
from media_relay.testing import wait_for
from rooms.client import RoomClient
from rooms.models import Room
from tests.media_relay.test_signalling import Scene, memory_scene  # noqa: F401 - fixture
from tests.rooms.factories import MemberFactory
from tests.rooms.test_realtime_support import open_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.slow]


@pytest.mark.parametrize("part", range(len(PARTS)))
def test_generated_music_is_audible_and_changes_over_time(part: int) -> None:
    second = [render(n * SAMPLE_RATE, SAMPLE_RATE, part=part) for n in range(4)]
    for samples in second:
        rms = math.sqrt(sum(x * x for x in samples) / len(samples))
        assert 2_000 < rms < 20_000
        assert max(abs(x) for x in samples) < 32_767  # no clipping
    assert len({bytes(s) for s in second}) == 4  # notes move on: not one stuck tone
    assert render(12_345, 960, part=part) == render(12_345, 960, part=part)  # a function of time


def test_each_bot_plays_its_own_part() -> None:
    parts = {bytes(render(0, SAMPLE_RATE, part=part)) for part in range(len(PARTS))}
    assert len(parts) == len(PARTS)


def test_players_take_turns_one_at_a_time_with_a_rest_between() -> None:
    turns = Turns(players=3, turn_s=4.0, rest_s=1.0)

    def players_at(seconds: float) -> list[int]:
        return [p for p in range(3) if turns.playing(p, int(seconds * SAMPLE_RATE))]

    assert [players_at(t) for t in (0.0, 2.9, 3.5, 4.0, 8.5, 11.5, 12.0)] == [
        [0], [0], [], [1], [2], [], [0],
    ]  # fmt: skip
    assert all(Turns().playing(0, n * SAMPLE_RATE) for n in range(20))  # alone: all the time


async def test_the_bot_opens_its_room_and_a_listener_hears_it(
    memory_scene: Scene,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scene = memory_scene
    await scene.worker()
    bot_user = await sync_to_async(MemberFactory)(username="radio")

    async def connect(url: str, *, token: str | None = None, **kw: Any) -> RoomClient:
        assert token  # the bot logs in with a session token, like any app
        client, communicator = await open_socket(scene.hub, bot_user)
        scene.sockets.append(communicator)
        assert client is not None
        return client

    monkeypatch.setattr(demo_speaker.RoomClient, "connect", connect)
    lines: list[str] = []
    bot = demo_speaker.Bot("ws://test/ws/", "radio", "Demo radio", lines.append)
    running = asyncio.create_task(bot.run())
    try:
        assert await wait_for(lambda: any("playing music" in line for line in lines), 20), lines
        room = await sync_to_async(Room.objects.get)(title="Demo radio", status=Room.Status.LIVE)
        scene.room = room
        # At the relay: the bot publishes as a speaker, loud enough to count as voice. (Decoding
        # it in this process as well trips a CPython 3.11 compiler bug at the end of the pytest
        # session; `make run` was checked by hand with a listener hearing it, see the report.)
        (worker,) = scene.workers.values()
        assert await wait_for(lambda: room.pk in worker.rooms, 10)
        forwarder = worker.rooms[room.pk].forwarder
        assert await wait_for(
            lambda: (
                bot_user.pk in forwarder.publishers and forwarder.publishers[bot_user.pk].speaking
            ),
            10,
        )
        before = forwarder.stats.packets_in
        assert await wait_for(lambda: forwarder.stats.packets_in - before >= 25, 5)  # 50/s
    finally:
        bot.stopping.set()
        await asyncio.wait_for(running, 10)
    assert bot.pc is None  # stopped cleanly, its connection closed
