"""What one member can make the relay do is bounded (issue #12, point 10): remote ICE
candidates per connection, and only addresses a real client can offer (never the relay's own
loopback, link-local, multicast or unspecified addresses: the relay would send STUN there)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from media_relay.sessions import RelayError, RelayRoom
from media_relay.testing import ListenerClient

ROOM = 9
USER = 2


class Probe:
    """A UDP socket on 127.0.0.1 standing for a local service (Redis on 6379): records every
    datagram that reaches it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def received(self) -> int:
        count = 0
        while True:
            try:
                self.sock.recv(2048)
            except BlockingIOError:
                return count
            count += 1


@pytest.fixture
async def probe() -> AsyncIterator[Probe]:
    made = Probe()
    yield made
    made.sock.close()


@pytest.fixture
async def relay() -> AsyncIterator[RelayRoom]:
    room = RelayRoom(ROOM, slots=3)
    yield room
    await room.close()


@pytest.fixture
async def client() -> AsyncIterator[ListenerClient]:
    made = ListenerClient()
    yield made
    await made.close()


def candidate(host: str, port: int, foundation: str = "1") -> dict[str, Any]:
    return {
        "candidate": f"candidate:{foundation} 1 udp 2130706431 {host} {port} typ host",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    }


def without_candidates(offer: str) -> str:
    """The offer of a client that trickles all its candidates: the relay has none to check
    until they come (so its ICE checks are still running when the trickled one arrives)."""
    dropped = ("a=candidate:", "a=end-of-candidates")
    return "".join(line for line in offer.splitlines(True) if not line.startswith(dropped))


def with_candidates(offer: str, lines: list[str]) -> str:
    """The offer with these candidate lines in every m-section (aiortc, like browsers, repeats
    a bundled transport's candidates in each; it reads those of the last)."""
    out = []
    for line in offer.splitlines(True):
        out.append(line)
        if line.startswith("a=mid:"):
            out.extend(f"a={candidate_line}\r\n" for candidate_line in lines)
    return "".join(out)


async def stun_reaches(probe: Probe, seconds: float) -> bool:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if probe.received():
            return True
        await asyncio.sleep(0.1)
    return False


async def test_a_candidate_naming_a_loopback_service_is_refused_and_gets_no_stun(
    relay: RelayRoom, client: ListenerClient, probe: Probe, settings: Any
) -> None:
    settings.RELAY_ALLOW_LOOPBACK_CANDIDATES = None  # auto: this relay has a real address
    await relay.peer_offer(USER, without_candidates(await client.offer()))

    with pytest.raises(RelayError) as refused:
        await relay.peer_ice(USER, candidate("127.0.0.1", probe.port))

    assert refused.value.code == "candidate_refused"
    assert not await stun_reaches(probe, 4.0)


async def test_the_same_candidate_gets_stun_when_loopback_is_allowed(
    relay: RelayRoom, client: ListenerClient, probe: Probe, settings: Any
) -> None:
    """The control for the test above: a relay on loopback (here forced by the setting) does
    check a loopback candidate, and the probe sees it."""
    settings.RELAY_ALLOW_LOOPBACK_CANDIDATES = True
    await relay.peer_offer(USER, without_candidates(await client.offer()))
    await relay.peer_ice(USER, candidate("127.0.0.1", probe.port))
    assert await stun_reaches(probe, 10.0)


@pytest.mark.parametrize("allowed", [False, True])
async def test_a_loopback_candidate_inside_the_offer_gets_stun_only_where_allowed(
    relay: RelayRoom, client: ListenerClient, probe: Probe, settings: Any, allowed: bool
) -> None:
    """Dropped from the offer on a relay with a real address (the offer is still answered);
    the same offer to a relay on loopback is checked (the control)."""
    settings.RELAY_ALLOW_LOOPBACK_CANDIDATES = allowed
    line = candidate("127.0.0.1", probe.port, foundation="99")["candidate"]
    injected = with_candidates(without_candidates(await client.offer()), [line])

    answer = await relay.peer_offer(USER, injected)

    assert "m=audio" in answer
    assert await stun_reaches(probe, 6.0 if not allowed else 10.0) is allowed


@pytest.mark.parametrize(
    "host",
    [
        "0.0.0.0",  # noqa: S104 (a candidate naming it, not a bind)
        "169.254.1.1",
        "224.0.0.251",
        "255.255.255.255",
        "::1",
        "fe80::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "redis.internal",
    ],
)
async def test_addresses_no_client_can_offer_are_refused(
    relay: RelayRoom, client: ListenerClient, settings: Any, host: str
) -> None:
    settings.RELAY_ALLOW_LOOPBACK_CANDIDATES = False
    await relay.peer_offer(USER, await client.offer())
    with pytest.raises(RelayError) as refused:
        await relay.peer_ice(USER, candidate(host, 5000))
    assert refused.value.code == "candidate_refused"


async def test_private_and_public_addresses_are_accepted(
    relay: RelayRoom, client: ListenerClient, settings: Any
) -> None:
    settings.RELAY_ALLOW_LOOPBACK_CANDIDATES = False
    await relay.peer_offer(USER, await client.offer())
    for n, host in enumerate(["192.168.1.20", "10.1.2.3", "203.0.113.7", "2001:db8::5", "fd00::9"]):
        await relay.peer_ice(USER, candidate(host, 5000 + n, foundation=str(n)))


async def test_remote_candidates_per_connection_are_capped(
    relay: RelayRoom, client: ListenerClient, settings: Any
) -> None:
    settings.RELAY_MAX_REMOTE_CANDIDATES = 5
    offer = without_candidates(await client.offer())
    await relay.peer_offer(
        USER, with_candidates(offer, [candidate("203.0.113.7", 5999)["candidate"]])
    )
    for n in range(4):
        await relay.peer_ice(USER, candidate("203.0.113.7", 6000 + n, foundation=str(n)))

    with pytest.raises(RelayError) as refused:
        await relay.peer_ice(USER, candidate("203.0.113.7", 7000, foundation="x"))

    assert refused.value.code == "too_many_candidates"


async def test_an_offer_with_too_many_candidates_is_refused(
    relay: RelayRoom, client: ListenerClient, settings: Any
) -> None:
    settings.RELAY_MAX_REMOTE_CANDIDATES = 3
    lines = [candidate("203.0.113.7", 6000 + n, str(n))["candidate"] for n in range(4)]
    with pytest.raises(RelayError) as refused:
        await relay.peer_offer(
            USER, with_candidates(without_candidates(await client.offer()), lines)
        )
    assert refused.value.code == "too_many_candidates"
    assert USER not in relay.peers
