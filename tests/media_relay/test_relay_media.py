"""Real aiortc clients through the relay: ICE, DTLS, SRTP and Opus end to end on the host address.

aioice skips 127.0.0.1 when gathering, so both sides use the host's interface address; nothing
to configure. Each test is bounded to a few seconds of media.
"""

from __future__ import annotations

import asyncio
import time

from media_relay.testing import SpeakerClient, wait_for
from tests.media_relay.conftest import SPEAKER, Stage

TONE_FRAMES = 15  # 0.3 s of tone


async def hears_tone(listeners, frames: int = TONE_FRAMES, timeout: float = 6.0) -> bool:  # type: ignore[no-untyped-def]
    start = [listener.tone_frames for listener in listeners]
    return await wait_for(
        lambda: all(c.tone_frames - s >= frames for c, s in zip(listeners, start, strict=True)),
        timeout,
    )


async def silent_for(listeners, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    await asyncio.sleep(0.8)  # what was already in flight, in jitter buffers and decoders
    start = [listener.tone_frames for listener in listeners]
    await asyncio.sleep(seconds)
    return [listener.tone_frames for listener in listeners] == start


async def test_speakers_tone_reaches_every_listener(stage: Stage) -> None:
    await stage.speaker()
    listeners = [await stage.listener(100 + i) for i in range(3)]
    assert await hears_tone(listeners), [c.tone_frames for c in listeners]
    metrics = stage.room.metrics()
    assert metrics["packets_in"] > 0
    assert metrics["packets_out"] >= 3 * TONE_FRAMES


async def test_speaking_event_reports_the_speaker(stage: Stage) -> None:
    await stage.speaker()
    await stage.listener(100)
    assert await wait_for(lambda: stage.speaking, 6.0)
    room_id, user_id, speaking, level = stage.speaking[0]
    assert (room_id, user_id, speaking) == (7, SPEAKER, True)
    assert level < 30  # a loud tone, in -dBov


async def test_mute_stops_the_tone_and_unmute_resumes_it(stage: Stage) -> None:
    await stage.speaker()
    listeners = [await stage.listener(100 + i) for i in range(2)]
    assert await hears_tone(listeners)
    stage.room.speaker_mute(SPEAKER)
    assert await silent_for(listeners, 1.0)
    assert stage.speaking[-1][1:3] == (SPEAKER, False)
    stage.room.speaker_mute(SPEAKER, muted=False)
    assert await hears_tone(listeners)


async def test_room_state_mute_stops_the_tone(stage: Stage) -> None:
    await stage.speaker()
    listener = await stage.listener(100)
    assert await hears_tone([listener])
    stage.room.room_state({SPEAKER}, {SPEAKER})
    assert await silent_for([listener], 1.0)


async def test_move_to_audience_stops_the_tone_and_keeps_the_member_listening(stage: Stage) -> None:
    await stage.speaker()
    listener = await stage.listener(100)
    assert await hears_tone([listener])
    stage.room.speaker_move_to_audience(SPEAKER)
    assert await silent_for([listener], 1.0)
    assert SPEAKER not in stage.room.forwarder.publishers
    assert SPEAKER in stage.room.peers  # still connected, as a listener


async def test_a_non_speaker_cannot_publish(stage: Stage) -> None:
    await stage.speaker(user_id=55)  # not in the room's speakers
    listener = await stage.listener(100)
    await asyncio.sleep(1.0)
    assert listener.tone_frames == 0
    assert stage.room.metrics()["packets_in"] == 0
    assert 55 not in stage.room.forwarder.publishers


async def test_removed_listener_is_disconnected_and_others_keep_hearing(stage: Stage) -> None:
    await stage.speaker()
    kept, removed = await stage.listener(100), await stage.listener(101)
    assert await hears_tone([kept, removed])
    await stage.room.peer_remove(101)
    assert await wait_for(lambda: removed.pc.connectionState == "closed", 5.0)
    assert (7, 101, "removed") in stage.closed
    assert 101 not in stage.room.forwarder.listeners
    assert await hears_tone([kept])


async def test_end_room_closes_every_connection(stage: Stage) -> None:
    speaker = await stage.speaker()
    listener = await stage.listener(100)
    assert await hears_tone([listener])
    await stage.room.close()
    assert await wait_for(
        lambda: {speaker.pc.connectionState, listener.pc.connectionState} == {"closed"}, 5.0
    )
    assert stage.room.peers == {}
    assert {e[1] for e in stage.closed} == {SPEAKER, 100}


async def test_a_speaker_hears_the_other_speaker(stage: Stage) -> None:
    stage.room.room_state({SPEAKER, 2}, set())
    await stage.speaker(SPEAKER)
    other = SpeakerClient(frequency=660.0, listen_frequency=440.0)
    stage.clients.append(other)
    await other.answer(await stage.room.peer_offer(2, await other.offer(slots=3)))
    assert await hears_tone([other])
    # both publish at once, each in its own slot
    slots = {p.slot.index for p in stage.room.forwarder.publishers.values() if p.slot}
    assert len(slots) == 2


async def test_rtcp_flows_both_ways(stage: Stage) -> None:
    speaker = await stage.speaker()
    listener = await stage.listener(100)
    assert await hears_tone([listener])
    deadline = time.monotonic() + 4.0
    remote_inbound = remote_outbound = None
    while time.monotonic() < deadline and not (remote_inbound and remote_outbound):
        await asyncio.sleep(0.25)
        # the relay's receiver reports reach the speaker's sender
        sender = next(t.sender for t in speaker.pc.getTransceivers() if t.sender.track)
        stats = await sender.getStats()
        remote_inbound = next((s for s in stats.values() if s.type == "remote-inbound-rtp"), None)
        # the relay's sender reports (with its forwarded counts) reach the listener's receiver
        for t in listener.pc.getTransceivers():
            stats = await t.receiver.getStats()
            found = [s for s in stats.values() if s.type == "remote-outbound-rtp"]
            if any(s.packetsSent > 0 for s in found):
                remote_outbound = found[0]
    assert remote_inbound is not None, "no RTCP receiver report from the relay to the speaker"
    assert remote_inbound.packetsReceived > 0
    assert remote_outbound is not None, "no RTCP sender report with packets from the relay"


async def test_trickled_ice_candidates_connect_an_offer_sent_without_them(stage: Stage) -> None:
    from aiortc.sdp import candidate_to_sdp

    from media_relay.testing import ListenerClient

    await stage.speaker()
    client = ListenerClient()
    stage.clients.append(client)
    offer = await client.offer()
    lines = offer.replace("\r\n", "\n").split("\n")
    bare = "\r\n".join(
        line for line in lines if not line.startswith(("a=candidate:", "a=end-of-candidates"))
    )
    await client.answer(await stage.room.peer_offer(100, bare))
    gatherer = client.pc.getTransceivers()[0].sender.transport.transport.iceGatherer
    for candidate in gatherer.getLocalCandidates():
        await stage.room.peer_ice(
            100,
            {
                "candidate": "candidate:" + candidate_to_sdp(candidate),
                "sdpMid": "0",
                "sdpMLineIndex": 0,
            },
        )
    await stage.room.peer_ice(100, {"candidate": ""})
    assert await hears_tone([client])
