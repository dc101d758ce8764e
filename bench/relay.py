"""`python -m bench.relay`: the project relay and Janus VideoRoom side by side, same clients.

One aiortc publisher (a tone, Opus, 50 packets/s) and N aiortc listeners, in processes separate
from the relay under test. Listeners count RTP without decoding (they tap their receivers), so
the clients stay light. For each relay and each N we measure, over a fixed window:

* relay CPU (user+system from /proc/<pid>/stat) per packet delivered to a listener;
* delivery per listener: publisher packets sent in the window that the listener received;
* publisher-send -> listener-receive latency through the relay, p50/p99 (same host clock);
* relay RSS at the end, and join rate (listeners connected per second of setup).

The project relay runs `media_relay.sessions.RelayRoom` in one process behind a tiny HTTP
signalling endpoint; Janus (Debian package `janus`) runs with `event_loops` equal to that process
count (1), audio-only VideoRoom, driven over its HTTP API. Both are reached on the host's interface
address (aioice skips 127.0.0.1, libnice gathers no loopback candidates).

Results: bench/results/relay.json. Options: --sizes 10,50,100 --window 10 --no-janus.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
JANUS_ROOM = 4242
RELAY_NICE = -10
# The clients too, below the relay but above the rest of a shared host: a starved publisher or
# listener shows up as relay latency and loss, and would land on whichever relay ran then.
CLIENT_NICE = -5
IDLE_WINDOW_S = 8.0


# --- helpers ---------------------------------------------------------------------------------
def host_address() -> str:
    """The host's own interface address (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, contextlib.suppress(OSError):
        s.connect(("192.0.2.1", 9))
        return s.getsockname()[0]
    return socket.gethostbyname(socket.gethostname())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_cpu_s(pid: int) -> float:
    user, system = proc_cpu_split_s(pid)
    return user + system


def proc_cpu_split_s(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process, all its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


def host_cpu_busy() -> tuple[int, int]:
    """(busy, total) jiffies over every CPU of the host, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(x) for x in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def _busy_percent(a: tuple[int, int], b: tuple[int, int]) -> float | None:
    total = b[1] - a[1]
    return round(100 * (b[0] - a[0]) / total, 1) if total else None


def proc_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE / 1e6


def renice(pid: int, value: int) -> bool:
    """Raise the relay under test above the client processes sharing its cores (both relays
    alike): otherwise every local sendto wakes a listener that preempts the relay mid fan-out,
    which a relay with remote clients never suffers. New threads inherit their creator's value."""
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            os.setpriority(os.PRIO_PROCESS, int(tid), value)
    except (OSError, PermissionError):
        return False
    return True


def http_json(url: str, body: dict[str, Any] | None = None, timeout: float = 30) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


# --- the project relay, one process behind a minimal HTTP signalling endpoint -----------------
def project_relay_main(port: int, ready: Any) -> None:
    from media_relay.sessions import RelayRoom

    profiler = None
    if os.environ.get("BENCH_RELAY_PROFILE"):  # a developer's switch: where the relay spends CPU
        import cProfile

        profiler = cProfile.Profile()

    async def main() -> None:
        from media_relay.worker import relay_gc_freeze

        room = RelayRoom(1, slots=1)
        room.room_state({1}, set())
        relay_gc_freeze()  # what `manage.py relay` does when it starts serving

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            length = next(
                (int(x.split(":")[1]) for x in lines if x.lower().startswith("content-length")), 0
            )
            body = json.loads(await reader.readexactly(length)) if length else {}
            if lines[0].startswith("POST /offer"):
                reply = {"sdp": await room.peer_offer(int(body["user_id"]), body["sdp"])}
            elif lines[0].startswith("GET /profile/start") and profiler is not None:
                profiler.enable()
                reply = {}
            elif lines[0].startswith("GET /profile/stop") and profiler is not None:
                profiler.disable()
                profiler.dump_stats(os.environ["BENCH_RELAY_PROFILE"])
                reply = {}
            else:
                slot = room.forwarder.slots[0]
                states = Counter(p.pc.connectionState for p in room.peers.values())
                reply = {**room.metrics(), "seq_off": slot.seq_off, "pc_states": states}
            data = json.dumps(reply).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                b"Connection: close\r\n\r\n%s" % (len(data), data)
            )
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=512)
        ready.set()
        async with server:
            await server.serve_forever()

    if _project_loop() == "uvloop":  # as `manage.py relay` runs
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


# --- Janus -------------------------------------------------------------------------------------
def janus_binary() -> str | None:
    return shutil.which("janus")


def janus_start(
    workdir: Path, address: str, event_loops: int
) -> tuple[subprocess.Popen[bytes], str]:
    lib = Path("/usr/lib/x86_64-linux-gnu/janus")
    folders = {}
    for name, keep in (
        ("plugins", "libjanus_videoroom.so"),
        ("transports", "libjanus_http.so"),
        ("events", None),
        ("loggers", None),
    ):
        folder = workdir / name
        folder.mkdir()
        if keep:
            (folder / keep).symlink_to(lib / name / keep)
        folders[name] = folder
    port = free_port()
    (workdir / "janus.jcfg").write_text(
        f"""general: {{
  configs_folder = "{workdir}"
  plugins_folder = "{folders["plugins"]}"
  transports_folder = "{folders["transports"]}"
  events_folder = "{folders["events"]}"
  loggers_folder = "{folders["loggers"]}"
  debug_level = 2
  session_timeout = 0
  event_loops = {event_loops}
}}
media: {{
  rtp_port_range = "40000-59999"
}}
nat: {{
  ice_enforce_list = "{address}"
  ignore_mdns = true
}}
"""
    )
    (workdir / "janus.transport.http.jcfg").write_text(
        f'general: {{\n  json = "plain"\n  base_path = "/janus"\n  http = true\n  port = {port}\n'
        f'  ip = "127.0.0.1"\n  https = false\n}}\nadmin: {{\n  admin_http = false\n}}\n'
    )
    (workdir / "janus.plugin.videoroom.jcfg").write_text("general: {\n}\n")
    proc = subprocess.Popen(
        [janus_binary() or "janus", "-F", str(workdir), "-C", str(workdir / "janus.jcfg")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/janus"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            http_json(url + "/info", timeout=2)
            return proc, url
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("janus did not start")


class JanusSession:
    """A Janus session with a long-poll thread: results by transaction, events by handle."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = http_json(url, {"janus": "create", "transaction": self._tx()})["data"]["id"]
        self.base = f"{url}/{self.session}"
        self.events: dict[int, asyncio.Queue[dict[str, Any]]] = {}
        self.closed = False
        self.loop = asyncio.get_running_loop()
        self._poller = self.loop.run_in_executor(None, self._poll)

    @staticmethod
    def _tx() -> str:
        return f"{random.getrandbits(48):x}"

    def _poll(self) -> None:
        while not self.closed:
            try:
                events = http_json(f"{self.base}?maxev=10&rid={time.time()}", timeout=35)
            except OSError:
                if self.closed:
                    return
                time.sleep(0.1)
                continue
            for event in events if isinstance(events, list) else [events]:
                sender = event.get("sender")
                if sender in self.events:
                    self.loop.call_soon_threadsafe(self.events[sender].put_nowait, event)

    async def attach(self) -> int:
        reply = await asyncio.to_thread(
            http_json,
            self.base,
            {"janus": "attach", "plugin": "janus.plugin.videoroom", "transaction": self._tx()},
        )
        handle = int(reply["data"]["id"])
        self.events[handle] = asyncio.Queue()
        return handle

    async def message(
        self, handle: int, body: dict[str, Any], jsep: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        msg: dict[str, Any] = {"janus": "message", "body": body, "transaction": self._tx()}
        if jsep:
            msg["jsep"] = jsep
        reply = await asyncio.to_thread(http_json, f"{self.base}/{handle}", msg)
        if reply.get("janus") == "success":
            return reply
        while True:  # "ack": the result comes as an event
            event = await asyncio.wait_for(self.events[handle].get(), 30)
            if event.get("janus") == "event":
                return event

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            http_json(self.base, {"janus": "destroy", "transaction": self._tx()}, timeout=3)


# --- clients (separate processes) -------------------------------------------------------------
def _client_setup() -> None:
    import logging

    logging.basicConfig(level=logging.ERROR)
    from media_relay.aiortc_internals.process import opus_enable_fec_dtx

    opus_enable_fec_dtx()


def publisher_main(kind: str, url: str, conn: Any) -> None:
    _client_setup()
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from media_relay.testing import ToneTrack, client_config

    class GatedTone(ToneTrack):
        """Sends nothing until the "start" command: the join phase measures joins alone."""

        def __init__(self) -> None:
            super().__init__()
            self.go = asyncio.Event()

        async def recv(self) -> Any:
            await self.go.wait()
            return await super().recv()

    async def main() -> None:
        pc = RTCPeerConnection(client_config())
        track = GatedTone()
        pc.addTransceiver(track, direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        sends: list[tuple[int, float]] = []
        feed = None
        if kind == "project":
            reply = await asyncio.to_thread(
                http_json, url + "/offer", {"user_id": 1, "sdp": pc.localDescription.sdp}
            )
            answer = reply["sdp"]
        else:
            janus = JanusSession(url)
            handle = await janus.attach()
            await janus.message(
                handle,
                {
                    "request": "create",
                    "room": JANUS_ROOM,
                    "publishers": 1,
                    "audiocodec": "opus",
                    "audiolevel_ext": True,
                },
            )
            joined = await janus.message(
                handle, {"request": "join", "ptype": "publisher", "room": JANUS_ROOM}
            )
            feed = joined["plugindata"]["data"]["id"]
            event = await janus.message(
                handle,
                {"request": "publish", "audio": True, "video": False},
                {"type": "offer", "sdp": pc.localDescription.sdp, "trickle": False},
            )
            answer = event["jsep"]["sdp"]
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        dtls = pc.getTransceivers()[0].sender.transport
        original = dtls._send_rtp

        async def recording_send(data: bytes) -> None:
            if not (192 <= data[1] <= 223):  # RTP, not RTCP
                sends.append((int.from_bytes(data[2:4], "big"), time.time()))
            await original(data)

        dtls._send_rtp = recording_send
        conn.send({"ready": True, "feed": feed})
        while True:
            command = await asyncio.to_thread(conn.recv)
            if command == "sends":
                conn.send(sends)
            elif command == "start":
                track.go.set()
            elif command == "pause":
                track.go.clear()
            elif command == "stop":
                break
        await pc.close()

    asyncio.run(main())


def listeners_main(kind: str, url: str, first_id: int, count: int, feed: Any, conn: Any) -> None:
    _client_setup()
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from media_relay.aiortc_internals.receive import tap_receiver
    from media_relay.testing import client_config

    async def join(user_id: int, arrivals: list[tuple[int, float]], janus: Any) -> Any:
        pc = RTCPeerConnection(client_config())

        def on_packet(packet: Any, arrival_ms: int) -> None:
            arrivals.append((packet.sequence_number, time.time()))

        if kind == "project":
            pc.addTransceiver("audio", direction="recvonly")
            tap_receiver(pc.getTransceivers()[0].receiver, on_packet)
            await pc.setLocalDescription(await pc.createOffer())
            reply = await asyncio.to_thread(
                http_json, url + "/offer", {"user_id": user_id, "sdp": pc.localDescription.sdp}
            )
            await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
        else:
            handle = await janus.attach()
            event = await janus.message(
                handle,
                {
                    "request": "join",
                    "ptype": "subscriber",
                    "room": JANUS_ROOM,
                    "streams": [{"feed": feed}],
                },
            )
            await pc.setRemoteDescription(
                RTCSessionDescription(sdp=event["jsep"]["sdp"], type="offer")
            )
            for transceiver in pc.getTransceivers():
                tap_receiver(transceiver.receiver, on_packet)
            await pc.setLocalDescription(await pc.createAnswer())
            await janus.message(
                handle,
                {"request": "start", "room": JANUS_ROOM},
                {"type": "answer", "sdp": pc.localDescription.sdp, "trickle": False},
            )
        return pc

    async def main() -> None:
        from concurrent.futures import ThreadPoolExecutor

        # Signalling is blocking HTTP in threads: enough of them that every join runs at once.
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max(8, count + 4)))
        janus = JanusSession(url) if kind == "janus" else None
        arrivals: list[list[tuple[int, float]]] = [[] for _ in range(count)]
        conn.send({"prepared": True})
        await asyncio.to_thread(conn.recv)  # "join": every process starts at once
        pcs = await asyncio.gather(*(join(first_id + i, arrivals[i], janus) for i in range(count)))
        connected = await _wait_connected(list(pcs), 120)
        conn.send({"ready": True, "connected": connected})
        while True:
            command = await asyncio.to_thread(conn.recv)
            if command == "arrivals":
                conn.send(arrivals)
            elif command == "count":
                conn.send(sum(len(a) for a in arrivals))
            elif command == "stop":
                break
        for pc in pcs:
            await pc.close()
        if janus is not None:
            janus.close()

    asyncio.run(main())


async def _wait_connected(pcs: list[Any], timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(pc.connectionState in ("connected", "failed", "closed") for pc in pcs):
            break
        await asyncio.sleep(0.02)
    return sum(pc.connectionState == "connected" for pc in pcs)


# --- one case: a relay, a publisher, N listeners ----------------------------------------------
def run_case(kind: str, listeners: int, window_s: float, procs: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-relay-{kind}-"))
    children: list[Any] = []
    janus_proc = None
    try:
        if kind == "project":
            port = free_port()
            ready = ctx.Event()
            relay = ctx.Process(target=project_relay_main, args=(port, ready), daemon=True)
            relay.start()
            children.append(relay)
            if not ready.wait(30):
                raise RuntimeError("project relay did not start")
            relay_pid, url = relay.pid, f"http://127.0.0.1:{port}"
        else:
            janus_proc, url = janus_start(workdir, host_address(), event_loops=1)
            relay_pid = janus_proc.pid
        reniced = renice(relay_pid, RELAY_NICE)

        pub_conn, pub_child = ctx.Pipe()
        publisher = ctx.Process(target=publisher_main, args=(kind, url, pub_child), daemon=True)
        publisher.start()
        children.append(publisher)
        renice(publisher.pid, CLIENT_NICE)
        if not pub_conn.poll(30):
            raise RuntimeError("publisher did not connect")
        feed = pub_conn.recv()["feed"]

        conns = []
        per = [listeners // procs + (1 if i < listeners % procs else 0) for i in range(procs)]
        first = 100
        for count in per:
            if not count:
                continue
            parent, child = ctx.Pipe()
            p = ctx.Process(
                target=listeners_main, args=(kind, url, first, count, feed, child), daemon=True
            )
            p.start()
            children.append(p)
            renice(p.pid, CLIENT_NICE)
            conns.append(parent)
            first += count
        for parent in conns:
            if not parent.poll(120):
                raise RuntimeError("listener processes did not start")
            parent.recv()
        # Joins: every listener process starts all its joins at once (offer, ICE, DTLS, SRTP).
        join_spy = _pyspy_start(relay_pid, kind, listeners, 600, phase="joins")
        join_cpu0, join_start = proc_cpu_s(relay_pid), time.monotonic()
        for parent in conns:
            parent.send("join")
        connected = 0
        for parent in conns:
            if not parent.poll(240):
                raise RuntimeError("listeners did not connect")
            connected += parent.recv()["connected"]
        join_s = time.monotonic() - join_start
        join_cpu_s = proc_cpu_s(relay_pid) - join_cpu0
        if join_spy is not None:
            join_spy.send_signal(signal.SIGINT)  # py-spy writes what it sampled and exits
            join_spy.wait(30)

        # Idle: every listener connected, no media yet: the relay's fixed cost per connection
        # (ICE consent, RTCP, timers), which is what its CPU per packet carries at small N.
        time.sleep(1.0)
        idle_cpu0, idle_t0 = proc_cpu_s(relay_pid), time.monotonic()
        time.sleep(IDLE_WINDOW_S)
        idle_cpu_s = proc_cpu_s(relay_pid) - idle_cpu0
        idle_s = time.monotonic() - idle_t0

        pub_conn.send("start")
        time.sleep(3.0)  # warm-up: media flows, jitter settles
        profiling = kind == "project" and os.environ.get("BENCH_RELAY_PROFILE")
        if profiling:
            http_json(url + "/profile/start")
        forwarded0 = http_json(url + "/stats")["packets_out"] if kind == "project" else None
        spy = _pyspy_start(relay_pid, kind, listeners, window_s)
        load0, busy0 = os.getloadavg()[0], host_cpu_busy()
        split0, t0 = proc_cpu_split_s(relay_pid), time.time()
        time.sleep(window_s)
        split1, t1 = proc_cpu_split_s(relay_pid), time.time()
        busy1, load1 = host_cpu_busy(), os.getloadavg()[0]
        if spy is not None:
            spy.wait(30)
        forwarded1 = http_json(url + "/stats")["packets_out"] if kind == "project" else None
        if profiling:
            http_json(url + "/profile/stop")
        rss = proc_rss_mb(relay_pid)
        # Drain: the publisher stops, and the listeners get until their counts stop growing to
        # take what the relay already sent (a client backlogged on a busy host is not a loss).
        pub_conn.send("pause")
        drain_start, last = time.monotonic(), -1
        while time.monotonic() - drain_start < 20:
            time.sleep(0.5)
            total = 0
            for parent in conns:
                parent.send("count")
                total += parent.recv()
            if total == last:
                break
            last = total
        drain_s = time.monotonic() - drain_start

        pub_conn.send("sends")
        sends = pub_conn.recv()
        arrivals: list[list[tuple[int, float]]] = []
        for parent in conns:
            parent.send("arrivals")
            arrivals.extend(parent.recv())
        for parent in [*conns, pub_conn]:
            parent.send("stop")
    finally:
        for p in children:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
        if janus_proc is not None:
            janus_proc.terminate()
            try:
                janus_proc.wait(5)
            except subprocess.TimeoutExpired:
                janus_proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)

    window = [(seq, ts) for seq, ts in sends if t0 <= ts < t1]
    sent_at = dict(window)
    all_sent = dict(sends)
    delivered_total = 0
    ratios: list[float] = []
    latencies: list[float] = []
    for got in arrivals:
        offset = _seq_offset(sends, got)
        received = set()
        for seq, ts in got:
            origin = (seq - offset) & 0xFFFF if offset is not None else None
            if origin in sent_at:
                received.add(origin)
            if origin in all_sent and t0 <= ts < t1:
                latencies.append((ts - all_sent[origin]) * 1000)
        delivered_total += sum(1 for seq, ts in got if t0 <= ts < t1)
        ratios.append(len(received) / len(sent_at) if sent_at else 0.0)
    user_s, system_s = split1[0] - split0[0], split1[1] - split0[1]
    cpu_s = user_s + system_s
    return {
        "listeners": listeners,
        "connected": connected,
        "window_s": round(t1 - t0, 2),
        "published_packets": len(window),
        # The clients share the relay's cores: below 49/s the publisher itself was starved,
        # so the row measures the test host, not the relay.
        "harness_saturated": len(window) / (t1 - t0) < 49,
        "delivered_packets": delivered_total,
        "relay_cpu_s": round(cpu_s, 3),
        "relay_cpu_percent": round(100 * cpu_s / (t1 - t0), 1),
        # The kernel's share: mostly UDP send, which on loopback includes delivering to the
        # listener's socket and waking it (both relays pay it alike).
        "relay_system_share": round(system_s / cpu_s, 2) if cpu_s else None,
        "cpu_us_per_delivered_packet": round(1e6 * cpu_s / delivered_total, 1)
        if delivered_total
        else None,
        "forwarded_packets": None if forwarded0 is None else forwarded1 - forwarded0,  # type: ignore[operator]
        "cpu_us_per_forwarded_packet": round(1e6 * cpu_s / (forwarded1 - forwarded0), 1)  # type: ignore[operator]
        if forwarded0 is not None and forwarded1 != forwarded0
        else None,
        "delivery_min": round(min(ratios), 5) if ratios else 0.0,
        "delivery_mean": round(statistics.fmean(ratios), 5) if ratios else 0.0,
        "latency_ms_p50": _round(percentile(latencies, 50)),
        "latency_ms_p99": _round(percentile(latencies, 99)),
        "relay_rss_mb": round(rss, 1),
        "drain_s": round(drain_s, 1),
        "idle_cpu_percent": round(100 * idle_cpu_s / idle_s, 2),
        "idle_cpu_us_per_connection_s": round(1e6 * idle_cpu_s / idle_s / (listeners + 1), 1),
        "relay_nice": RELAY_NICE if reniced else 0,
        # Joins started all at once; the clients' own DTLS runs on the same cores, so the wall
        # figure is a floor; the relay's CPU per join is its own cost.
        "join_s": round(join_s, 2),
        "joins_per_s": round(connected / join_s, 1) if join_s else None,
        "relay_cpu_ms_per_join": round(1000 * join_cpu_s / connected, 2) if connected else None,
        "joins_per_relay_cpu_s": round(connected / join_cpu_s, 1) if join_cpu_s else None,
        "host": {
            "load_1m_start": round(load0, 2),
            "load_1m_end": round(load1, 2),
            "cpu_busy_percent": _busy_percent(busy0, busy1),
        },
    }


def _pyspy_start(
    pid: int, kind: str, listeners: int, window_s: float, phase: str = "window"
) -> Any:
    """A developer's switch: BENCH_RELAY_PYSPY=<dir> samples the relay under test (py-spy, with
    native frames) over the joins and over the window, as collapsed stacks in
    <dir>/<kind>-<N>-<phase>.txt (BENCH_RELAY_PYSPY_RATE: samples per second, default 250)."""
    folder = os.environ.get("BENCH_RELAY_PYSPY")
    spy = shutil.which("py-spy")
    if not folder or not spy or kind != "project":
        return None
    out = Path(folder) / f"{kind}-{listeners}-{phase}.txt"
    return subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(window_s)),
            "--native",
            "--rate",
            os.environ.get("BENCH_RELAY_PYSPY_RATE", "250"),
            "--format",
            "raw",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _project_loop() -> str:
    """The project relay's event loop: uvloop, as `manage.py relay` runs it, unless
    BENCH_RELAY_LOOP=asyncio (to compare)."""
    return "asyncio" if os.environ.get("BENCH_RELAY_LOOP") == "asyncio" else "uvloop"


def _send_loop() -> str:
    """Which send loop the project relay runs: "c" (media_relay/fastpath.c), or why Python."""
    from media_relay import fastpath

    return fastpath.status()


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One relay at one size over its repeats: medians, worst delivery, largest RSS."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"error": "; ".join(str(r.get("error")) for r in runs)}

    def median(key: str) -> Any:
        values = [r[key] for r in ok if r.get(key) is not None]
        return round(statistics.median(values), 2) if values else None

    cpu = [r["cpu_us_per_delivered_packet"] for r in ok if r.get("cpu_us_per_delivered_packet")]
    return {
        "runs": len(ok),
        "failed_runs": len(runs) - len(ok),
        "connected_min": min(r["connected"] for r in ok),
        "cpu_us_per_delivered_packet": median("cpu_us_per_delivered_packet"),
        "cpu_us_per_delivered_packet_range": [min(cpu), max(cpu)] if cpu else None,
        "relay_cpu_percent": median("relay_cpu_percent"),
        "relay_system_share": median("relay_system_share"),
        "delivery_min": min(r["delivery_min"] for r in ok),
        "latency_ms_p50": median("latency_ms_p50"),
        "latency_ms_p99": median("latency_ms_p99"),
        "relay_rss_mb": max(r["relay_rss_mb"] for r in ok),
        "joins_per_s": median("joins_per_s"),
        "relay_cpu_ms_per_join": median("relay_cpu_ms_per_join"),
        "idle_cpu_percent": median("idle_cpu_percent"),
        "idle_cpu_us_per_connection_s": median("idle_cpu_us_per_connection_s"),
        "joins_per_relay_cpu_s": median("joins_per_relay_cpu_s"),
        "harness_saturated": any(r.get("harness_saturated") for r in ok),
        "host_load_1m": [r["host"]["load_1m_start"] for r in ok],
        "host_cpu_busy_percent": [r["host"]["cpu_busy_percent"] for r in ok],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _seq_offset(sends: list[tuple[int, float]], got: list[tuple[int, float]]) -> int | None:
    """Relays rewrite sequence numbers by a constant per stream; find it from timing.

    Candidates: for each arrival, the offset against the publisher's latest send before it, and
    neighbours. The right offset maps every arrival to a packet sent before it (an offset one
    too small maps to the next packet, sent after the arrival); among offsets that do, the
    smallest latency wins (one too large maps to the previous packet, 20 ms earlier)."""
    if not sends or not got:
        return None
    sent_at = dict(sends)
    sample = got[:500]
    candidates: Counter[int] = Counter()
    j = 0
    for seq, ts in sample:
        while j + 1 < len(sends) and sends[j + 1][1] <= ts:
            j += 1
        if sends[j][1] <= ts:
            candidates[(seq - sends[j][0]) & 0xFFFF] += 1
    options = {(k + d) & 0xFFFF for k, _ in candidates.most_common(5) for d in (-2, -1, 0, 1, 2)}
    best: tuple[int, float, int] | None = None
    for k in options:
        latencies = [
            ts - sent_at[(seq - k) & 0xFFFF] for seq, ts in sample if (seq - k) & 0xFFFF in sent_at
        ]
        valid = sum(1 for x in latencies if 0 <= x < 2)
        median = statistics.median(latencies) if latencies else 1e9
        key = (-valid, median, k)
        if best is None or key < best:
            best = key
    return best[2] if best else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.relay")
    parser.add_argument("--sizes", default="10,50,100,200,300", help="listener counts to sweep")
    parser.add_argument("--window", type=float, default=20.0, help="measured seconds per case")
    parser.add_argument("--repeats", type=int, default=2, help="runs per relay and size")
    parser.add_argument("--procs", type=int, default=4, help="listener processes")
    parser.add_argument("--no-janus", action="store_true")
    parser.add_argument("--budget", type=float, default=2400.0, help="stop the sweep after (s)")
    args = parser.parse_args(argv)

    janus = None if args.no_janus else janus_binary()
    if janus is None and not args.no_janus:
        print(
            "Janus is NOT installed: measuring the project relay only. "
            "Install it with: apt-get install -y janus"
        )
    started = time.monotonic()
    kinds = ["project", "janus"] if janus else ["project"]
    rows = []
    for n in [int(x) for x in args.sizes.split(",")]:
        if time.monotonic() - started > args.budget:
            print(f"time budget reached; stopping before N={n}")
            break
        runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
        for repeat in range(args.repeats):
            # Alternate which relay goes first, so a load change on the shared host during a
            # size does not always fall on the same relay.
            for kind in kinds if repeat % 2 == 0 else kinds[::-1]:
                print(f"N={n} {kind} (run {repeat + 1}/{args.repeats}) ...", flush=True)
                try:
                    result = run_case(kind, n, args.window, min(args.procs, n))
                except Exception as exc:  # noqa: BLE001 - a failed case is a result, not a crash of the sweep
                    result = {"error": f"{type(exc).__name__}: {exc}"}
                print(f"  {json.dumps(result)}", flush=True)
                runs[kind].append(result)
        row: dict[str, Any] = {"listeners": n}
        for kind in kinds:
            row[kind] = summarize(runs[kind])
        p, j = row.get("project", {}), row.get("janus", {})
        if p.get("cpu_us_per_delivered_packet") and j.get("cpu_us_per_delivered_packet"):
            row["cpu_ratio_project_over_janus"] = round(
                p["cpu_us_per_delivered_packet"] / j["cpu_us_per_delivered_packet"], 2
            )
            pairs = zip(runs["project"], runs["janus"], strict=False)
            row["cpu_ratio_per_repeat"] = [
                round(a["cpu_us_per_delivered_packet"] / b["cpu_us_per_delivered_packet"], 2)
                for a, b in pairs
                if a.get("cpu_us_per_delivered_packet") and b.get("cpu_us_per_delivered_packet")
            ]
        if p.get("relay_cpu_ms_per_join") and j.get("relay_cpu_ms_per_join"):
            row["join_cpu_ratio_project_over_janus"] = round(
                p["relay_cpu_ms_per_join"] / j["relay_cpu_ms_per_join"], 2
            )
        row["runs"] = runs
        rows.append(row)
        print(
            f"N={n}: "
            + json.dumps({k: v for k, v in row.items() if k not in ("runs", "listeners")}),
            flush=True,
        )
        below = [k for k in kinds if row[k].get("delivery_min", 0) < 0.999]
        if len(below) == len(kinds):
            print(f"every relay below 99.9% delivery at N={n}: saturated, stopping")
            break

    RESULTS.mkdir(exist_ok=True)
    result = {
        "ran_at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "janus": "installed" if janus else "not installed",
        "setup": {
            "publisher": "aiortc, Opus 48 kHz tone, 20 ms packets (50/s)",
            "listeners": f"aiortc, {args.procs} processes, counting RTP without decoding",
            "project_relay": "media_relay RelayRoom, 1 process, slots=1",
            "project_send_loop": _send_loop(),
            "project_event_loop": _project_loop(),
            "janus_relay": "janus 1.1.2 VideoRoom, event_loops=1, HTTP API",
            "window_s": args.window,
            "repeats": args.repeats,
            "nice": f"relay {RELAY_NICE}, clients {CLIENT_NICE} (both relays alike)",
            "joins": "all listeners of a process join at once (4 processes at once), before the "
            "publisher sends media; join_s runs from the start until every one is connected",
        },
        "host_load_1m_at_end": round(os.getloadavg()[0], 2),
        "rows": rows,
    }
    (RESULTS / "relay.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS / 'relay.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
