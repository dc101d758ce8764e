"""Listeners' loss reaches speakers' encoders (issue #22, point 6): the relay's answer offers
Opus in-band FEC (as it did), and its receiver reports to a speaker carry the loss the room's listeners
report (a high percentile), not only the relay's own, so the speaker's encoder adds FEC when
listeners lose packets. Real aiortc peers; a listener whose receiver drops one packet in five
before counting it (as a lossy link would; what it hears is not checked here), and a speaker
reading its own `remote-inbound-rtp`."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from media_relay.loss import percentile_loss
from media_relay.sessions import RelayRoom
from media_relay.testing import ListenerClient, SpeakerClient, wait_for

SPEAKER, LOSSY, CLEAN = 1, 2, 3


def test_the_percentile_is_nearest_rank_and_zero_switches_it_off() -> None:
    assert percentile_loss([], 90) == 0
    assert percentile_loss([40], 90) == 40
    losses = [0] * 18 + [25, 200]  # one listener in ten loses 10 %, one in twenty 78 %
    assert percentile_loss(losses, 90) == 0
    assert percentile_loss(losses, 95) == 25
    assert percentile_loss(losses, 100) == 200
    assert percentile_loss(losses, 0) == 0


def lossy(listener: ListenerClient, every: int = 5) -> None:
    """Drop one incoming RTP packet in `every` before aiortc's receiver counts it."""
    for transceiver in listener.pc.getTransceivers():
        receiver = transceiver.receiver
        handle = receiver._handle_rtp_packet
        counter = itertools.count(1)

        async def dropping(packet: Any, arrival_time_ms: int, handle: Any = handle,
                           counter: Any = counter) -> None:  # fmt: skip
            if next(counter) % every:
                await handle(packet, arrival_time_ms)

        receiver._handle_rtp_packet = dropping  # type: ignore[method-assign]


async def remote_fraction_lost(speaker: SpeakerClient) -> int:
    """The fraction lost (0-255) in the latest receiver report the speaker got from the relay."""
    worst = 0
    for transceiver in speaker.pc.getTransceivers():
        report = await transceiver.sender.getStats()
        for stats in report.values():
            if stats.type == "remote-inbound-rtp":
                worst = max(worst, int(stats.fractionLost))
    return worst


@pytest.fixture
async def room() -> AsyncIterator[RelayRoom]:
    made = RelayRoom(17, slots=3)
    made.room_state({SPEAKER}, set())
    yield made
    await made.close()


async def _scene(room: RelayRoom) -> tuple[SpeakerClient, ListenerClient, ListenerClient]:
    speaker, bad, good = SpeakerClient(), ListenerClient(), ListenerClient()
    answer = await room.peer_offer(SPEAKER, await speaker.offer())
    assert "useinbandfec=1" in answer  # the speaker's encoder may add FEC
    await speaker.answer(answer)
    for user_id, client in ((LOSSY, bad), (CLEAN, good)):
        await client.answer(await room.peer_offer(user_id, await client.offer()))
    lossy(bad)
    assert await wait_for(lambda: good.tone_frames >= 25, 15)
    return speaker, bad, good


async def test_a_speaker_is_told_the_loss_its_listeners_see(settings, room: RelayRoom) -> None:
    settings.RELAY_LOSS_REPORT_PERCENTILE = 90
    room.loss_percentile = 90
    speaker, bad, good = await _scene(room)
    try:
        seen: list[int] = []

        async def told() -> bool:
            seen.append(await remote_fraction_lost(speaker))
            return seen[-1] > 0

        for _ in range(40):  # receiver reports come every 0.5-1.5 s on each side
            if await told():
                break
            await wait_for(lambda: False, 0.25)
        assert seen[-1] >= 25, seen  # ~20 % of 256, give or take the interval's packets
        assert room.metrics()["listeners_loss"] >= 25
    finally:
        for client in (speaker, bad, good):
            await client.close()


async def test_with_reporting_off_the_speaker_hears_only_the_relays_own_loss(
    room: RelayRoom,
) -> None:
    room.loss_percentile = 0
    speaker, bad, good = await _scene(room)
    try:
        await wait_for(lambda: False, 5.0)  # several reports on each side
        assert await remote_fraction_lost(speaker) == 0  # loopback: the relay loses nothing
        assert room.metrics()["listeners_loss"] == 0
    finally:
        for client in (speaker, bad, good):
            await client.close()
