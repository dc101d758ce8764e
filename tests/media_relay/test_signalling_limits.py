"""Limits a member meets on the room socket's audio frames (issue #12, point 10): offers per
socket, and remote ICE candidates the relay refuses, each as an `error` frame with its code."""

from __future__ import annotations

from typing import Any

import pytest

from media_relay.testing import ListenerClient
from rooms.client import ProtocolError
from tests.media_relay.test_signalling import Scene, memory_scene

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.slow]

__all__ = ["memory_scene"]  # fixtures


def candidate(host: str, port: int, foundation: str = "1") -> dict[str, Any]:
    return {
        "candidate": f"candidate:{foundation} 1 udp 2130706431 {host} {port} typ host",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    }


async def test_offers_past_the_per_socket_limit_are_refused(
    memory_scene: Scene, settings: Any
) -> None:
    settings.REALTIME_RTC_OFFERS_PER_MINUTE = 2
    worker = await memory_scene.worker()
    await memory_scene.stage(listeners=0)  # the speaker's socket made one offer
    assert memory_scene.room is not None
    person = await memory_scene.person()
    await person.listen()
    await person.listen()

    client = ListenerClient()
    try:
        with pytest.raises(ProtocolError) as refused:
            await person.ws.rtc_offer(await client.offer())
    finally:
        await client.close()

    assert refused.value.code == "too_many_offers"
    assert person.user.pk in worker.rooms[memory_scene.room.pk].peers  # the last one stays


async def test_a_candidate_naming_a_local_service_gets_an_error_frame(
    memory_scene: Scene, settings: Any
) -> None:
    settings.RELAY_ALLOW_LOOPBACK_CANDIDATES = None  # auto: the relay has a real address
    settings.RELAY_MAX_REMOTE_CANDIDATES = 20
    await memory_scene.worker()
    await memory_scene.stage(listeners=0)
    person = await memory_scene.person()
    await person.listen()

    with pytest.raises(ProtocolError) as refused:
        await person.ws.rtc_ice(candidate("127.0.0.1", 6379))
    assert refused.value.code == "candidate_refused"
    assert await person.ws.rtc_ice(candidate("203.0.113.9", 5000)) == {}


async def test_candidates_past_the_per_connection_limit_get_an_error_frame(
    memory_scene: Scene, settings: Any
) -> None:
    await memory_scene.worker()
    await memory_scene.stage(listeners=0)
    person = await memory_scene.person()
    await person.listen()
    assert person.peer is not None
    settings.RELAY_MAX_REMOTE_CANDIDATES = 4
    in_offer = max(
        section.count("a=candidate:")
        for section in person.peer.pc.localDescription.sdp.split("m=audio")[1:]
    )
    for n in range(4 - in_offer):
        await person.ws.rtc_ice(candidate("203.0.113.9", 5000 + n, str(n)))

    with pytest.raises(ProtocolError) as refused:
        await person.ws.rtc_ice(candidate("203.0.113.9", 6000, "x"))
    assert refused.value.code == "too_many_candidates"
