"""Room-events benchmark: N WebSocket members in one room on one daphne process with Redis.

For each size N: start `manage.py realtime_bench_server` (one daphne process, the real consumer
and fan-out hub; see that command for what stands in), connect N members from separate client
processes, join them to one room, then have a moderator socket send `bench.action` 25 times.
Latency of an event = the moment the LAST member received it minus the moment the moderator
sent the action (one clock: everything runs on this machine). Memory per connection = daphne's
RSS growth from one connection to N, divided by N.

    python -m bench.room_events --sizes 1000,2000,3000      # or `make bench`

Results: bench/results/room_events.json. Needs REDIS_URL (the transport under test is the
Redis one); bounded: each size takes well under a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results"
ROOM = 1
TARGET_P99_MS = 250.0


def _raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- a member process ---------------------------------------------------------------------------


async def _member_worker(port: int, first_user: int, count: int) -> None:
    from rooms.client import WebSocket

    received: dict[int, float] = {}
    done = asyncio.Event()

    async def member(user_id: int, ready: asyncio.Semaphore) -> None:
        async with ready:
            ws = await WebSocket.connect(f"ws://127.0.0.1:{port}/ws/?bench_user={user_id}")
            await ws.send_text(json.dumps({"id": "j", "type": "room.join", "room_id": ROOM}))
            while True:
                text = await ws.recv()
                assert text is not None, "closed before the join reply"
                if '"reply"' in text:
                    break
                if '"error"' in text:
                    raise RuntimeError(f"join refused: {text}")
        joined.append(ws)
        while True:
            text = await ws.recv()
            if text is None:
                return
            now = time.time()
            if '"room.bench"' in text:
                event = json.loads(text)
                seq = event["seq"]
                if now > received.get(seq, 0.0):
                    received[seq] = now
                if event["data"].get("last"):
                    return

    joined: list[Any] = []
    gate = asyncio.Semaphore(50)  # connect in waves, as a crowd arriving would
    tasks = [asyncio.create_task(member(first_user + n, gate)) for n in range(count)]
    while len(joined) < count:
        await asyncio.sleep(0.05)
        for task in tasks:
            if task.done() and task.exception():
                raise task.exception()  # type: ignore[misc]
    print("READY", flush=True)
    await asyncio.gather(*tasks)
    done.set()
    print(json.dumps({str(seq): at for seq, at in received.items()}), flush=True)
    for ws in joined:
        await ws.close()


# --- the driver -----------------------------------------------------------------------------------


async def _run_size(members: int, events: int, workers: int) -> dict[str, Any]:
    from rooms.client import RoomClient

    port = _free_port()
    env = dict(os.environ, CHANNEL_PREFIX=f"bench{os.getpid()}", DJANGO_DEBUG="1")
    server = subprocess.Popen(  # noqa: ASYNC220 - starting a process does not block the loop
        [sys.executable, "manage.py", "realtime_bench_server", "--port", str(port)],
        cwd=ROOT,
        env=env,
    )
    procs: list[subprocess.Popen[str]] = []
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                await asyncio.sleep(0.1)
        moderator = await RoomClient.connect(f"ws://127.0.0.1:{port}/ws/?bench_user=1")
        await moderator.join(ROOM)
        await asyncio.sleep(0.5)
        rss_before = _rss_kib(server.pid)

        per_worker = [
            members // workers + (1 if n < members % workers else 0) for n in range(workers)
        ]
        first = 1000
        for count in per_worker:
            procs.append(
                subprocess.Popen(  # noqa: ASYNC220 - starting a process does not block the loop
                    [
                        sys.executable,
                        "-m",
                        "bench.room_events",
                        "--worker",
                        str(port),
                        str(first),
                        str(count),
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
            first += count
        connect_started = time.monotonic()
        for proc in procs:
            assert proc.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 120)
            if line.strip() != "READY":
                raise RuntimeError(f"a member process failed: {line!r}")
        connect_seconds = time.monotonic() - connect_started
        await asyncio.sleep(1.0)
        rss_after = _rss_kib(server.pid)

        sent: dict[int, float] = {}
        cpu_start = _cpu_seconds(server.pid)
        for n in range(events + 1):
            last = n == events
            at = time.time()
            reply = await moderator.request(
                "bench.action", room_id=ROOM, data={"n": n, "last": last}
            )
            sent[reply["seq"]] = at
            await asyncio.sleep(0.3)
        cpu_used = _cpu_seconds(server.pid) - cpu_start
        last_seen: dict[int, float] = {}
        for proc in procs:
            out, _ = await asyncio.to_thread(proc.communicate, timeout=60)
            for seq, at in json.loads(out.strip().splitlines()[-1]).items():
                last_seen[int(seq)] = max(last_seen.get(int(seq), 0.0), at)
        await moderator.close()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()

    measured = sorted(sent)[:-1]  # the final "last" event only tells members to stop
    missing = [seq for seq in measured if seq not in last_seen]
    latencies = sorted((last_seen[seq] - sent[seq]) * 1000 for seq in measured if seq in last_seen)
    p99_index = max(0, round(0.99 * len(latencies)) - 1)
    result = {
        "members": members,
        "events": len(measured),
        "events_missing_somewhere": len(missing),
        "last_member_latency_ms": {
            "p50": round(statistics.median(latencies), 1) if latencies else None,
            "p99": round(latencies[p99_index], 1) if latencies else None,
            "max": round(latencies[-1], 1) if latencies else None,
        },
        "daphne_rss_mib": {
            "before": round(rss_before / 1024, 1),
            "after": round(rss_after / 1024, 1),
        },
        "memory_per_connection_kib": round((rss_after - rss_before) / members, 1),
        "daphne_cpu_ms_per_event": round(cpu_used * 1000 / (events + 1), 1),
        "connect_and_join_seconds": round(connect_seconds, 1),
    }
    p99 = result["last_member_latency_ms"]["p99"]
    result["holds_target"] = bool(not missing and p99 is not None and p99 <= TARGET_P99_MS)
    return result


async def _main(sizes: list[int], events: int, workers: int) -> dict[str, Any]:
    runs = []
    for members in sizes:
        print(f"room_events: {members} members ...", flush=True)
        run = await _run_size(members, events, workers)
        print(json.dumps(run), flush=True)
        runs.append(run)
    holding = [run["members"] for run in runs if run["holds_target"]]
    return {
        "benchmark": "room_events",
        "ran_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count()},
        "target": {"members": 2000, "p99_ms": TARGET_P99_MS},
        "transport": "one Redis subscription per process, event encoded once (rooms/realtime)",
        "stand_ins": "bench auth (?bench_user=) and bench room domain; see realtime_bench_server",
        "largest_size_holding_target": max(holding) if holding else None,
        "runs": runs,
    }


def run(sizes: list[int] | None = None, events: int = 25, workers: int = 4) -> dict[str, Any]:
    _raise_nofile()
    if not os.environ.get("REDIS_URL"):
        return {"benchmark": "room_events", "skipped": "REDIS_URL is not set"}
    summary = asyncio.run(_main(sizes or [1000, 2000, 3000], events, workers))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "room_events.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,2000,3000")
    parser.add_argument("--events", type=int, default=25)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--worker", nargs=3, type=int, metavar=("PORT", "FIRST", "COUNT"))
    args = parser.parse_args()
    if args.worker:
        _raise_nofile()
        asyncio.run(_member_worker(*args.worker))
        return 0
    sizes = [int(size) for size in args.sizes.split(",")]
    print(json.dumps(run(sizes, args.events, args.workers), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
