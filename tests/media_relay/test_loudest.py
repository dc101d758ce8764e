"""Loudest-N forwarding (issue #22, point 4) with real aiortc clients: speakers play tones at
different levels (aiortc puts each frame's level in the RFC 6464 extension, as browsers do), and a
listener with 3 slots decodes what it hears and tells the speakers apart by their tones."""

from __future__ import annotations

import asyncio
import time

from media_relay.testing import ListenerClient, SpeakerClient, wait_for
from tests.media_relay.conftest import Stage

# One tone per speaker (whole periods per 20 ms frame, 150 Hz apart) and its amplitude: three
# loud ones (-4, -7 and -11 dBov) and five quiet ones (-21 to -35 dBov).
TONES = {1: 300.0, 2: 450.0, 3: 600.0, 4: 750.0, 5: 900.0, 6: 1050.0, 7: 1200.0, 8: 1350.0}
LOUD = {6: 0.9, 7: 0.6, 8: 0.4}
QUIET = {1: 0.025, 2: 0.035, 3: 0.05, 4: 0.08, 5: 0.12}


async def on_stage(stage: Stage, amplitudes: dict[int, float]) -> dict[int, SpeakerClient]:
    stage.room.room_state(set(amplitudes), set())
    speakers: dict[int, SpeakerClient] = {}
    # quiet ones first: they take the free slots, and the loud ones must out-talk them
    for user_id in sorted(amplitudes, key=lambda u: amplitudes[u]):
        client = SpeakerClient(frequency=TONES[user_id], amplitude=amplitudes[user_id])
        stage.clients.append(client)
        await client.answer(await stage.room.peer_offer(user_id, await client.offer()))
        speakers[user_id] = client
    return speakers


async def tone_listener(stage: Stage, user_id: int = 100) -> ListenerClient:
    client = ListenerClient(slots=3, tones=list(TONES.values()))
    stage.clients.append(client)
    await client.answer(await stage.room.peer_offer(user_id, await client.offer()))
    return client


async def heard_over(listener: ListenerClient, seconds: float) -> dict[float, int]:
    """Frames of each tone the listener decoded during the next `seconds`."""
    before = listener.tone_counts()
    await asyncio.sleep(seconds)
    after = listener.tone_counts()
    return {tone: after[tone] - before[tone] for tone in after if after[tone] > before[tone]}


def holders(stage: Stage) -> set[int]:
    return {s.owner.user_id for s in stage.room.forwarder.slots if s.owner is not None}


async def test_with_eight_speakers_talking_a_listener_hears_the_three_loudest(
    stage: Stage,
) -> None:
    await on_stage(stage, {**QUIET, **LOUD})
    listener = await tone_listener(stage)
    assert await wait_for(lambda: holders(stage) == set(LOUD), 8.0), holders(stage)
    await asyncio.sleep(1.0)  # what the quiet ones sent before is out of the jitter buffers
    heard = await heard_over(listener, 2.0)
    assert set(heard) == {TONES[u] for u in LOUD}, heard
    # each of the three all along (50 frames a second; a few lost to start-up is fine)
    assert all(frames >= 80 for frames in heard.values()), heard


async def test_a_quiet_speaker_who_becomes_the_loudest_is_heard_within_a_second(
    stage: Stage,
) -> None:
    speakers = await on_stage(stage, {**QUIET, **LOUD})
    listener = await tone_listener(stage)
    assert await wait_for(lambda: holders(stage) == set(LOUD), 8.0), holders(stage)
    await asyncio.sleep(1.0)
    quiet = TONES[1]
    assert quiet not in await heard_over(listener, 1.0)
    start = listener.tone_counts()[quiet]
    raised = time.monotonic()
    speakers[1].track.amplitude = 1.0  # -3 dBov: now the loudest of all
    assert await wait_for(lambda: 1 in holders(stage), 1.0, interval=0.01)
    took_slot = time.monotonic() - raised
    assert await wait_for(lambda: listener.tone_counts()[quiet] - start >= 3, 3.0, interval=0.01)
    heard_after = time.monotonic() - raised
    assert took_slot < 1.0, took_slot
    # the listener's ears: the relay's decision plus the network, jitter buffer and decoder
    assert heard_after < 1.0, (took_slot, heard_after)
    # the quietest of the three it out-talked gave way
    assert holders(stage) == {1, 6, 7}
    await asyncio.sleep(1.0)
    heard = await heard_over(listener, 1.5)
    assert set(heard) == {quiet, TONES[6], TONES[7]}, heard


async def test_two_speakers_close_in_level_do_not_flap(stage: Stage) -> None:
    """Two speakers each louder than the other in turn, by 2 dB every 300 ms: the slot they
    compete for stays with whoever has it, and the listener hears one of them throughout."""
    speakers = await on_stage(stage, {6: 0.9, 7: 0.6, 3: 0.2, 4: 0.2})
    listener = await tone_listener(stage)
    assert await wait_for(lambda: {6, 7} <= holders(stage) and len(holders(stage)) == 3, 8.0)
    await asyncio.sleep(1.5)
    handovers = stage.room.forwarder.stats.slot_handovers
    (holder,) = holders(stage) - {6, 7}
    other = 4 if holder == 3 else 3

    async def alternate() -> None:
        for turn in range(14):  # 4.2 s
            louder, softer = (3, 4) if turn % 2 else (4, 3)
            speakers[louder].track.amplitude = 0.25
            speakers[softer].track.amplitude = 0.2
            await asyncio.sleep(0.3)

    heard, _ = await asyncio.gather(heard_over(listener, 4.0), alternate())
    assert stage.room.forwarder.stats.slot_handovers == handovers
    assert holders(stage) == {6, 7, holder}
    assert TONES[other] not in heard, heard
    assert heard.get(TONES[holder], 0) >= 150, heard  # 4 s of it, without a break
