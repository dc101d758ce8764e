"""A relay behind a 1:1 NAT, in network namespaces this test makes (issue #22, point 2).

Two namespaces joined by a veth pair in 198.51.100.0/24 (a documentation range): the relay's
host (its interface has a "private" address) and a client's. In the client's namespace the
relay's public address 203.0.113.7 is a 1:1 NAT onto the relay's interface address (iptables
DNAT, ports kept), and the interface address itself is unreachable except through that NAT. A
relay with RELAY_PUBLIC_IP=203.0.113.7 runs in its namespace with a speaker playing a tone; an
aiortc listener in the client's namespace hears it. Both run as processes of their own
(`ip netns exec`); everything made here is removed afterwards. Needs root (CI has it).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_IP = "203.0.113.7"

RELAY_SCRIPT = """
import asyncio, json, logging, sys
logging.basicConfig(level=logging.INFO)
from media_relay.sessions import RelayRoom
from media_relay.testing import SpeakerClient

async def main():
    room = RelayRoom(1, slots=3)
    room.room_state({1}, set())
    speaker = SpeakerClient()
    await speaker.answer(await room.peer_offer(1, await speaker.offer()))
    loop = asyncio.get_running_loop()
    offer = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
    print(json.dumps(await room.peer_offer(2, offer)), flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # until the test is done
    await room.close()
    await speaker.close()

asyncio.run(main())
"""

CLIENT_SCRIPT = """
import asyncio, json, logging, sys
logging.basicConfig(level=logging.INFO)
from media_relay.testing import ListenerClient, wait_for

async def main():
    client = ListenerClient()
    print(json.dumps(await client.offer()), flush=True)
    loop = asyncio.get_running_loop()
    await client.answer(json.loads(await loop.run_in_executor(None, sys.stdin.readline)))
    await wait_for(lambda: client.tone_frames >= 25, timeout=20)
    print(json.dumps({"tone_frames": client.tone_frames}), flush=True)
    await client.close()

asyncio.run(main())
"""


def run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)  # noqa: S603 (ip/iptables, fixed)


@dataclass
class Hosts:
    relay_ns: str
    client_ns: str
    relay_ip: str
    client_ip: str


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("iptables") is None:
        pytest.fail("this test makes network namespaces: it needs root, ip and iptables")
    tag = uuid.uuid4().hex[:6]
    relay_ns, client_ns = f"relay-{tag}", f"client-{tag}"
    base = 4 * random.randrange(1, 63)  # a /30 of 198.51.100.0/24 of this run's own
    relay_ip, client_ip = f"198.51.100.{base + 1}", f"198.51.100.{base + 2}"
    made: list[str] = []
    try:
        for ns in (relay_ns, client_ns):
            run("ip", "netns", "add", ns)
            made.append(ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "link", "add", f"r{tag}", "netns", relay_ns, "type", "veth", "peer", "name",
            f"c{tag}", "netns", client_ns)  # fmt: skip
        run("ip", "-n", relay_ns, "addr", "add", f"{relay_ip}/30", "dev", f"r{tag}")
        run("ip", "-n", client_ns, "addr", "add", f"{client_ip}/30", "dev", f"c{tag}")
        run("ip", "-n", relay_ns, "link", "set", f"r{tag}", "up")
        run("ip", "-n", client_ns, "link", "set", f"c{tag}", "up")
        # The client reaches the public address through the link (the NAT is on it).
        run("ip", "-n", client_ns, "route", "add", f"{PUBLIC_IP}/32", "via", relay_ip)
        nat = ["ip", "netns", "exec", client_ns, "iptables"]
        # The 1:1 NAT: the public address is the relay's interface address, port for port,
        # both ways (what the relay sends comes from the public address)...
        run(*nat, "-t", "nat", "-A", "OUTPUT", "-d", PUBLIC_IP, "-j", "DNAT",
            "--to-destination", relay_ip)  # fmt: skip
        run(*nat, "-t", "nat", "-A", "INPUT", "-s", relay_ip, "-j", "SNAT",
            "--to-source", PUBLIC_IP)  # fmt: skip
        # ...and the interface address is reachable only through it.
        run(*nat, "-A", "OUTPUT", "-d", relay_ip, "-m", "conntrack", "!", "--ctstate",
            "DNAT,SNAT", "-j", "DROP")  # fmt: skip
        yield Hosts(relay_ns, client_ns, relay_ip, client_ip)
    finally:
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], check=False)  # noqa: S603, S607


def in_namespace(ns: str, script: str, env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 (this interpreter in our own namespace)
        ["ip", "netns", "exec", ns, sys.executable, "-c", script],  # noqa: S607
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
    )


def test_a_listener_reaches_a_relay_behind_a_1_to_1_nat_by_its_public_address(
    hosts: Hosts, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "clubhouse.settings",
        "DJANGO_DEBUG": "1",
        "REDIS_URL": "",
        "RELAY_PUBLIC_IP": PUBLIC_IP,
    }
    relay_log, client_log = tmp_path / "relay.log", tmp_path / "client.log"
    relay = in_namespace(hosts.relay_ns, RELAY_SCRIPT, env, relay_log)
    client = in_namespace(hosts.client_ns, CLIENT_SCRIPT, env, client_log)
    try:
        assert client.stdout is not None
        assert client.stdin is not None
        assert relay.stdout is not None
        assert relay.stdin is not None
        offer = client.stdout.readline()
        relay.stdin.write(offer)
        relay.stdin.flush()
        answer_line = relay.stdout.readline()
        answer = json.loads(answer_line)
        hosts_named = {
            line.split()[4]
            for line in answer.splitlines()
            if line.startswith("a=candidate:") and " typ host" in line
        }
        assert hosts_named == {PUBLIC_IP}
        client.stdin.write(answer_line)
        client.stdin.flush()
        result = json.loads(client.stdout.readline())
        assert result["tone_frames"] >= 25, (
            result,
            relay_log.read_text()[-3000:],
            client_log.read_text()[-3000:],
        )
    finally:
        for process in (client, relay):
            if process.stdin is not None:
                process.stdin.close()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
