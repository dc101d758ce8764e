"""Audio that never connects is counted for operators (issue #22, point 5): per candidate type
the member's client offered, in the relay's metrics (and so in /healthz/details)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from media_relay.health import relay_health
from media_relay.placement import MemoryRegistry
from media_relay.sessions import RelayRoom
from media_relay.testing import ListenerClient, SpeakerClient, wait_for

SPEAKER, LISTENER = 1, 2


@pytest.fixture
async def room() -> AsyncIterator[RelayRoom]:
    made = RelayRoom(13, slots=3)
    made.room_state({SPEAKER}, set())
    yield made
    await made.close()


async def test_a_connection_that_never_connected_is_counted_per_offered_type(
    settings, room: RelayRoom
) -> None:
    settings.RELAY_ICE_FAILURE_AFTER_S = 0
    stuck = ListenerClient()
    retry = ListenerClient()
    try:
        offer = await stuck.offer()
        await room.peer_offer(LISTENER, offer)  # the client never gets the answer: no ICE
        assert room.metrics()["ice_failed_host"] == 0
        # The page retries with a new offer, which replaces the stuck connection.
        await retry.answer(await room.peer_offer(LISTENER, await retry.offer()))
    finally:
        await stuck.close()
        await retry.close()
    metrics = room.metrics()
    offered = {line.split()[7] for line in offer.splitlines() if line.startswith("a=candidate:")}
    assert offered  # aiortc without STUN offers host candidates
    for kind in offered:
        assert metrics[f"ice_failed_{kind}"] == 1
    assert metrics["ice_failed_relay"] == 0


async def test_a_connection_that_carried_audio_is_not_counted(settings, room: RelayRoom) -> None:
    settings.RELAY_ICE_FAILURE_AFTER_S = 0
    speaker = SpeakerClient()
    listener = ListenerClient()
    try:
        await speaker.answer(await room.peer_offer(SPEAKER, await speaker.offer()))
        await listener.answer(await room.peer_offer(LISTENER, await listener.offer()))
        assert await wait_for(lambda: listener.tone_frames >= 10, timeout=15)
    finally:
        await listener.close()
        await speaker.close()
    await room.close()
    metrics = room.metrics()
    assert sum(v for k, v in metrics.items() if k.startswith("ice_failed_")) == 0
    # each connection counted once, by the member's side of its selected pair (loopback: host)
    assert metrics["ice_connected_host"] == 2
    assert metrics["ice_connected_relay"] == metrics["ice_connected_srflx"] == 0


async def test_a_quick_renegotiation_is_not_a_failure(room: RelayRoom) -> None:
    first = ListenerClient()
    second = ListenerClient()
    try:
        await room.peer_offer(LISTENER, await first.offer())
        await room.peer_offer(LISTENER, await second.offer())  # well within 10 s
    finally:
        await first.close()
        await second.close()
    assert sum(v for k, v in room.metrics().items() if k.startswith("ice_failed_")) == 0


def test_health_sums_the_failures_of_live_workers(settings, monkeypatch) -> None:
    """What /healthz/details shows operators: the workers' heartbeats summed."""
    settings.REDIS_URL = ""
    registry = MemoryRegistry()
    monkeypatch.setattr("media_relay.placement._memory", registry)
    registry.heartbeat("a", {"rooms": 1, "peers": 2, "ice_failed_host": 3, "ice_failed_relay": 1,
                             "ice_connected_relay": 4})  # fmt: skip
    registry.heartbeat("b", {"rooms": 1, "peers": 2, "ice_failed_host": 2,
                             "ice_connected_relay": 1, "ice_connected_prflx": 7})  # fmt: skip
    health = relay_health()
    assert (health["ice_connected_relay"], health["ice_connected_prflx"]) == (5, 7)
    assert health["ice_connected_host"] == 0
    assert health["ice_failed_host"] == 5
    assert health["ice_failed_relay"] == 1
    assert health["ice_failed_srflx"] == 0
