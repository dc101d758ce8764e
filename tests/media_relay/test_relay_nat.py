"""Relays on real hosts (issue #22, point 2): behind a 1:1 NAT the relay announces its public
address (RELAY_PUBLIC_IP) in place of its interfaces', and its ICE sockets keep to the UDP port
range a firewall opens (RELAY_UDP_PORT_MIN..MAX)."""

from __future__ import annotations

import random
import socket
from collections.abc import AsyncIterator

import pytest

from media_relay.candidates import answer_announce_public_ip
from media_relay.sessions import RelayRoom
from media_relay.testing import ListenerClient, SpeakerClient, wait_for

SPEAKER, LISTENER = 1, 2
PUBLIC_IP = "203.0.113.7"  # documentation range: announced, never reached


def host_candidates(sdp: str) -> list[list[str]]:
    return [
        line[len("a=candidate:") :].split()
        for line in sdp.splitlines()
        if line.startswith("a=candidate:") and " typ host" in line
    ]


@pytest.fixture
async def room() -> AsyncIterator[RelayRoom]:
    made = RelayRoom(11, slots=3)
    made.room_state({SPEAKER}, set())
    yield made
    await made.close()


async def test_with_a_public_ip_the_answer_names_only_it_in_host_candidates(
    settings, room: RelayRoom
) -> None:
    settings.RELAY_PUBLIC_IP = PUBLIC_IP
    listener = ListenerClient()
    try:
        answer = await room.peer_offer(LISTENER, await listener.offer())
    finally:
        await listener.close()
    hosts = host_candidates(answer)
    assert hosts
    assert {fields[4] for fields in hosts} == {PUBLIC_IP}
    connection_lines = [line for line in answer.splitlines() if line.startswith("c=")]
    assert connection_lines
    assert all(line == f"c=IN IP4 {PUBLIC_IP}" for line in connection_lines)


async def test_without_a_public_ip_the_answer_names_the_interfaces(room: RelayRoom) -> None:
    listener = ListenerClient()
    try:
        answer = await room.peer_offer(LISTENER, await listener.offer())
    finally:
        await listener.close()
    assert PUBLIC_IP not in answer
    assert host_candidates(answer)


def test_the_public_address_keeps_each_port_and_leaves_out_the_other_family() -> None:
    answer = (
        "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 192.0.2.2\r\n"
        "a=candidate:1 1 udp 2130706431 192.0.2.2 40001 typ host\r\n"
        "a=candidate:2 1 udp 2130706431 fd00::2 40002 typ host\r\n"
        "a=candidate:3 1 udp 1694498815 198.51.100.9 40001 typ srflx raddr 192.0.2.2 rport 40001\r\n"
    )
    out = answer_announce_public_ip(answer, PUBLIC_IP)
    assert f"a=candidate:1 1 udp 2130706431 {PUBLIC_IP} 40001 typ host\r\n" in out
    assert "fd00::2" not in out
    assert "198.51.100.9 40001 typ srflx" in out  # what STUN found is left as it is
    assert f"c=IN IP4 {PUBLIC_IP}\r\n" in out


def _free_udp_range(width: int) -> tuple[int, int]:
    """`width` consecutive UDP ports free on every address right now (a test's own range)."""
    while True:
        low = random.randrange(20_000, 60_000 - width)
        held = []
        try:
            for port in range(low, low + width):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                held.append(sock)
                sock.bind(("0.0.0.0", port))  # noqa: S104 (probing that the port is free)
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
        return low, low + width - 1


def relay_bound_ports(room: RelayRoom) -> list[int]:
    """The UDP ports the relay's ICE sockets are actually bound to (from the sockets)."""
    ports = []
    for peer in room.peers.values():
        for transceiver in peer.pc.getTransceivers():
            ice = transceiver.receiver.transport.transport
            for protocol in ice._connection._protocols:
                sock = protocol.transport.get_extra_info("socket")
                ports.append(int(sock.getsockname()[1]))
    return ports


async def test_with_a_port_range_every_socket_the_relay_binds_is_in_it(
    settings, room: RelayRoom
) -> None:
    low, high = _free_udp_range(40)
    settings.RELAY_UDP_PORT_MIN = str(low)
    settings.RELAY_UDP_PORT_MAX = str(high)
    speaker = SpeakerClient()
    listener = ListenerClient()
    try:
        await speaker.answer(await room.peer_offer(SPEAKER, await speaker.offer()))
        answer = await room.peer_offer(LISTENER, await listener.offer())
        await listener.answer(answer)
        # Audio still flows through sockets bound this way.
        assert await wait_for(lambda: listener.tone_frames >= 25, timeout=15)
        ports = relay_bound_ports(room)
        assert ports
        assert all(low <= port <= high for port in ports), (ports, low, high)
        assert all(low <= int(fields[5]) <= high for fields in host_candidates(answer))
    finally:
        await listener.close()
        await speaker.close()
