"""A room cascaded between relay workers on two hosts (issue #22, point 3).

Network namespaces made here (documentation addresses, removed afterwards; root): a router and
two relay hosts, A at 203.0.113.2 and B at 203.0.113.6. Redis runs on A; a relay worker
(`manage.py relay`, its own process) runs on each host with `RELAY_PIPE_HOST` set to its host's
address and room for two peers. A driver on A plays the web tier (places members through the
Redis registry, signals over the Redis channel layer) and the members (aiortc clients): a
speaker and a listener on the room's origin, a second listener overflowing to the other host's
worker, the edge. The edge's listener must hear the speaker's tone through the pipe between
the hosts. An on-path observer on the router captures one pipe datagram: its payload is sealed
(no RTP in the clear), and replaying it, or flipping one bit of it, adds nothing: the edge
counts a replay and a forgery in the metrics its heartbeat publishes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.netns import Internet, Process, python_env

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
HOST_A, HOST_B, REDIS_PORT = "203.0.113.2", "203.0.113.6", 6390
REDIS_PASSWORD = "a-test-redis-password"  # a throwaway server of this test's
REDIS_URL = f"redis://:{REDIS_PASSWORD}@{HOST_A}:{REDIS_PORT}/0"

DRIVER_SCRIPT = """
import asyncio, json, sys
import django
django.setup()
from channels.layers import get_channel_layer
from media_relay import protocol
from media_relay.placement import relay_registry, worker_channel
from media_relay.testing import ListenerClient, SpeakerClient, wait_for

ROOM, SPEAKER = 77, 1

def say(message):
    print(json.dumps(message), flush=True)

async def main():
    layer, registry = get_channel_layer(), relay_registry()
    ok = await wait_for(lambda: {w["worker_id"] for w in registry.workers() if w["alive"]}
                        >= {"a", "b"}, 30)
    assert ok, registry.workers()
    clients = []

    async def join(user_id, client, publishing=False):
        worker = registry.place_member(ROOM, user_id, publishing, 500)
        channel = await layer.new_channel()
        offer = await client.offer()
        await layer.send(worker_channel(worker), protocol.encode(
            protocol.Offer(room_id=ROOM, user_id=user_id, sdp=offer, reply_to=channel)))
        reply = protocol.decode(await asyncio.wait_for(layer.receive(channel), 20))
        assert isinstance(reply, protocol.Answer), reply
        await client.answer(reply.sdp)
        clients.append(client)
        return worker

    origin = registry.place_member(ROOM, SPEAKER, True, 500)
    await layer.send(worker_channel(origin), protocol.encode(
        protocol.RoomState(room_id=ROOM, speakers=(SPEAKER,))))
    await join(SPEAKER, SpeakerClient(), publishing=True)
    near = ListenerClient()
    await join(100, near)
    far = ListenerClient()
    edge = await join(101, far)
    heard = await wait_for(lambda: far.tone_frames >= 25 and near.tone_frames >= 25, 30)
    say({"origin": origin, "edge": edge, "heard": heard,
         "tone_frames": [near.tone_frames, far.tone_frames]})
    loop = asyncio.get_running_loop()
    while (line := await loop.run_in_executor(None, sys.stdin.readline)).strip():
        request = json.loads(line)
        if request["cmd"] == "workers":
            say({w["worker_id"]: w for w in registry.workers()})
        elif request["cmd"] == "tone":
            before = far.tone_frames
            say({"more": await wait_for(lambda: far.tone_frames >= before + 25, 15)})
    for client in clients:
        await client.close()

asyncio.run(main())
"""

# On the router: capture one datagram on its way to the edge's pipe (AF_PACKET, the IP and UDP
# headers parsed here), then on request send it again as it was and with one bit flipped.
SPY_SCRIPT = """
import json, socket, struct, sys
pipe_host, pipe_port = sys.argv[1], int(sys.argv[2])
raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0800))
raw.settimeout(20)
while True:
    frame = raw.recv(65535)
    ip = frame[14:]
    if ip[9] != 17 or socket.inet_ntoa(ip[16:20]) != pipe_host:
        continue
    ihl = (ip[0] & 0x0F) * 4
    dport = struct.unpack("!H", ip[ihl + 2:ihl + 4])[0]
    if dport != pipe_port:
        continue
    payload = bytes(ip[ihl + 8:])
    break
print(json.dumps({"datagram": payload.hex()}), flush=True)
sys.stdin.readline()
out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
out.sendto(payload, (pipe_host, pipe_port))  # a replay
tampered = bytearray(payload)
tampered[-20] ^= 0x01  # one bit of the sealed body
out.sendto(bytes(tampered), (pipe_host, pipe_port))
print(json.dumps({"sent": 2}), flush=True)
sys.stdin.readline()
"""


@pytest.fixture
def hosts() -> Iterator[Internet]:
    for tool in ("ip", "redis-server"):
        if shutil.which(tool) is None:
            pytest.fail(f"this test needs {tool}")
    if os.geteuid() != 0:
        pytest.fail("this test makes network namespaces: it needs root (CI has it)")
    net = Internet(os.urandom(3).hex()[:5])
    try:
        for name in ("router", "hosta", "hostb"):
            net.add(name)
        net.exec("router", "sysctl", "-qw", "net.ipv4.ip_forward=1")
        net.link("hosta", HOST_A, "router", "203.0.113.1")
        net.link("hostb", HOST_B, "router", "203.0.113.5")
        net.exec("hosta", "ip", "route", "add", "default", "via", "203.0.113.1")
        net.exec("hostb", "ip", "route", "add", "default", "via", "203.0.113.5")
        yield net
    finally:
        net.remove()


def _start(net: Internet, host: str, argv: list[str], log: Path, env: dict[str, str]) -> Any:
    return subprocess.Popen(  # noqa: S603 (our own programs, in our own namespaces)
        ["ip", "netns", "exec", net.ns(host), *argv],  # noqa: S607
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def _stop(process: Any) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_a_room_cascades_between_two_hosts_over_a_sealed_pipe(
    hosts: Internet, tmp_path: Path
) -> None:
    redis_server = shutil.which("redis-server")
    assert redis_server is not None
    env = {**python_env(), "REDIS_URL": REDIS_URL, "RELAY_WORKER_MAX_PEERS": "2",
           "RELAY_EMBEDDED": "0"}  # fmt: skip
    started = [
        _start(hosts, "hosta", [redis_server, "--bind", HOST_A, "--port", str(REDIS_PORT),
                                "--save", "", "--appendonly", "no", "--requirepass", REDIS_PASSWORD],
               tmp_path / "redis.log", env),
    ]  # fmt: skip
    deadline = time.monotonic() + 15
    probe = ["ip", "netns", "exec", hosts.ns("hosta"), "bash", "-c",
             f"exec 3<>/dev/tcp/{HOST_A}/{REDIS_PORT}"]  # fmt: skip
    while subprocess.run(probe, capture_output=True).returncode != 0:  # noqa: S603
        assert time.monotonic() < deadline, (tmp_path / "redis.log").read_text()
        time.sleep(0.1)
    for host, worker_id, address in (("hosta", "a", HOST_A), ("hostb", "b", HOST_B)):
        started.append(
            _start(
                hosts, host,
                [sys.executable, "manage.py", "relay", "--worker-id", worker_id],
                tmp_path / f"relay-{worker_id}.log",
                {**env, "RELAY_PIPE_HOST": address},
            )
        )  # fmt: skip
    driver = Process(hosts, "hosta", DRIVER_SCRIPT, tmp_path / "driver.log", env=env)
    spy: Process | None = None

    def logs() -> dict[str, str]:
        return {
            name: (tmp_path / f"{name}.log").read_text()[-2500:]
            for name in ("relay-a", "relay-b", "driver")
            if (tmp_path / f"{name}.log").exists()
        }

    try:
        first = driver.read()
        assert first["heard"], (first, logs())
        origin, edge = first["origin"], first["edge"]
        assert origin != edge  # the second listener overflowed to the other host
        driver.send({"cmd": "workers"})
        workers = driver.read()
        pipe = str(workers[edge]["pipe"])
        assert pipe.startswith(HOST_B if edge == "b" else HOST_A), workers
        pipe_host, _, pipe_port = pipe.rpartition(":")
        assert str(workers[origin]["pipe"]).split(":")[0] != pipe_host  # two hosts

        spy = Process(hosts, "router", SPY_SCRIPT, tmp_path / "spy.log", pipe_host, pipe_port)
        captured = bytes.fromhex(str(spy.read()["datagram"]))
        assert captured[:3] == b"RP\x02", captured[:8]
        assert len(captured) > 36 + 16 + 12  # the header, the sealed body and its tag
        before = workers[edge]
        spy.send({"cmd": "go"})
        assert spy.read() == {"sent": 2}

        def counted() -> dict[str, Any]:
            driver.send({"cmd": "workers"})
            return dict(driver.read()[edge])

        deadline = time.monotonic() + 15
        now = counted()
        while (now.get("pipe_replayed", 0), now.get("pipe_forged", 0)) < (
            before.get("pipe_replayed", 0) + 1, before.get("pipe_forged", 0) + 1,
        ) and time.monotonic() < deadline:  # fmt: skip
            time.sleep(0.5)
            now = counted()
        assert now["pipe_replayed"] >= before.get("pipe_replayed", 0) + 1, (before, now)
        assert now["pipe_forged"] >= before.get("pipe_forged", 0) + 1, (before, now)
        driver.send({"cmd": "tone"})
        assert driver.read()["more"], logs()  # and the edge's listener still hears the room
    finally:
        if spy is not None:
            spy.close()
        driver.close()
        for process in reversed(started):
            _stop(process)
