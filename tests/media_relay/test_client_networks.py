"""Listeners on the networks real people sit behind (issue #22, tests (a), (b) and (c)).

The test builds a small internet out of network namespaces (documentation ranges only, all
removed afterwards; needs root, which CI has): a router; a relay host at 203.0.113.2 with a
speaker playing a tone; a coturn host at 203.0.113.6 (`use-auth-secret`, credentials minted by
the web tier's own code); and three listeners, each an aiortc client in a namespace of its own:
- (a) a plain client on 198.51.100.2, routed to the relay;
- (b) a client at 198.51.100.14 behind a symmetric NAT (MASQUERADE with random ports at
  198.51.100.10), unreachable from outside except through the NAT's mappings;
- (c) a client on 198.51.100.6 whose namespace drops every UDP packet and any TCP except to the
  TURN port and the web server's (an office firewall): its audio can only come through TURN over
  TCP. (The network itself is tests/netns.py's.)
Each must hear the speaker's tone (decoded and counted by the client), and the winning candidate
pair must be the kind that network allows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netns import Internet, Process, coturn_started, internet_built, turn_servers

pytestmark = [pytest.mark.slow]

RELAY_SCRIPT = """
import asyncio, json, logging, sys
logging.basicConfig(level=logging.WARNING)
from media_relay.aiortc_internals.stats import selected_candidate_types
from media_relay.sessions import RelayRoom
from media_relay.testing import SpeakerClient

async def main():
    room = RelayRoom(1, slots=3)
    room.room_state({1}, set())
    speaker = SpeakerClient()
    await speaker.answer(await room.peer_offer(1, await speaker.offer()))
    print(json.dumps({"ready": True}), flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line.strip():
            break
        request = json.loads(line)
        if "offer" in request:
            answer = await room.peer_offer(request["user_id"], request["offer"])
            print(json.dumps({"answer": answer}), flush=True)
        else:  # which pair won, as the relay sees it
            peer = room.peers.get(request["user_id"])
            types = selected_candidate_types(peer.pc) if peer else None
            print(json.dumps({"types": types, "metrics": room.metrics()}), flush=True)
    await room.close()
    await speaker.close()

asyncio.run(main())
"""

CLIENT_SCRIPT = """
import asyncio, json, logging, sys
logging.basicConfig(level=logging.WARNING)
from aiortc import RTCConfiguration, RTCIceServer
from media_relay.aiortc_internals.stats import selected_candidate_types
from media_relay.testing import ListenerClient, wait_for

async def main():
    servers = json.loads(sys.argv[1])
    config = RTCConfiguration(iceServers=[RTCIceServer(**server) for server in servers])
    client = ListenerClient(config=config)
    print(json.dumps({"offer": await client.offer()}), flush=True)
    loop = asyncio.get_running_loop()
    await client.answer(json.loads(await loop.run_in_executor(None, sys.stdin.readline)))
    await wait_for(lambda: client.tone_frames >= 25, timeout=25)
    print(json.dumps({"tone_frames": client.tone_frames,
                      "types": selected_candidate_types(client.pc)}), flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # until the test is done
    await client.close()

asyncio.run(main())
"""


@pytest.fixture
def internet() -> Iterator[Internet]:
    with internet_built() as net:
        yield net


CLIENTS = {
    # network: (namespace, user id, what the relay may see as the listener's candidate)
    "plain": ("plain", 2, {"host"}),  # reached at its own address
    "symmetric_nat": ("natted", 3, {"srflx", "prflx"}),  # only through the NAT's mapping
    "udp_blocked": ("udpless", 4, {"relay"}),  # only through coturn
}


def test_listeners_on_a_plain_link_behind_a_symmetric_nat_and_behind_a_udp_firewall_hear_the_room(
    internet: Internet, tmp_path: Path
) -> None:
    with coturn_started(internet, tmp_path) as turn_log_path:
        _hear_the_room(internet, tmp_path, turn_log_path)


def _hear_the_room(internet: Internet, tmp_path: Path, turn_log_path: Path) -> None:
    relay = Process(internet, "relay", RELAY_SCRIPT, tmp_path / "relay.log")
    clients: dict[str, Process] = {}
    try:
        assert relay.read() == {"ready": True}
        for network, (ns, user_id, _types) in CLIENTS.items():
            client = clients[network] = Process(
                internet, ns, CLIENT_SCRIPT, tmp_path / f"{network}.log",
                json.dumps(turn_servers(user_id, tcp_first=network == "udp_blocked")),
            )  # fmt: skip
            offer = client.read()["offer"]
            relay.send({"user_id": user_id, "offer": offer})
            client.send(relay.read()["answer"])
        heard = {network: client.read() for network, client in clients.items()}
        for network, (_ns, user_id, allowed) in CLIENTS.items():
            result = heard[network]
            logs = (clients[network].log.read_text()[-2000:], relay.log.read_text()[-2000:])
            assert result["tone_frames"] >= 25, (network, result, logs)
            assert result["types"] is not None, (network, logs)
            relay.send({"user_id": user_id})
            reply = relay.read()
            at_relay, metrics = reply["types"], reply["metrics"]
            assert at_relay is not None, (network, logs)
            assert at_relay[1] in allowed, (network, at_relay)
        # operators see the three joins by path: one direct, one through a NAT, one by TURN
        assert metrics["ice_connected_host"] == 2  # the plain listener, and the speaker
        assert metrics["ice_connected_srflx"] + metrics["ice_connected_prflx"] == 1
        assert metrics["ice_connected_relay"] == 1
        # (c) really came through coturn: TCP from the client, an allocation for it
        assert heard["udp_blocked"]["types"][0] == "relay"
        turn_log = turn_log_path.read_text()
        allocated = [
            line for line in turn_log.splitlines() if "ALLOCATE processed, success" in line
        ]
        assert any(":4>" in line for line in allocated), turn_log[-3000:]  # user 4's credential
    finally:
        for client in clients.values():
            client.close()
        relay.close()
