"""Join-storm benchmark (issue #18): N members with real sessions arrive in one room through the
real stack, and the same scenario runs against a baseline commit, side by side in one run.

Real: daphne (1 or 2 processes, each `daphne -e tcp:...:backlog=N clubhouse.asgi:application`),
the session middleware (half the members send the browser's session cookie, half the app's
`X-Session-Token`), `RoomConsumer`, `room.join` on the PostgreSQL room domain, the Redis fan-out.
Nothing stands in. The members are spread over 2-4 client processes; member i arrives at
t0 + i / rate, on server i mod S. A member answered `room_busy` joins again after its
`retry_after`, as the web client does.

Per (checkout, servers, rate) it reports: joined, errors by kind (an error code the server sent,
or `reset`, `timeout`, `handshake`), connect + join p50/p99 (from the member's arrival to its
snapshot, retries included), sustained joins/s (joined / (last snapshot - first arrival)),
database queries and daphne CPU per join (every query of the daphne processes is counted by an
execute wrapper installed before daphne starts; CPU from /proc), and after the storm the
last-member latency of a stage action (`room.hand_policy_set` by the moderator; the moment the
last member received `room.hand_policy_changed` minus the moment it was sent; one clock).

    python -m bench.join_storm --members 1000 --rates 30,100 --servers 1,2 --baseline bd86a55

The baseline is a `git worktree` of the given commit (in a temporary directory), started with
the same environment; `--baseline ''` runs only this checkout. Each run uses its own PostgreSQL
database (created, migrated, dropped) and Redis key prefix. Results: bench/results/join_storm.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from asgiref.sync import sync_to_async

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results"
JOIN_TIMEOUT_S = 30.0
STAGE_ACTIONS = 5

# Runs in each daphne process (its cwd is the checkout under test): counts every database query
# the process makes, writes the count to a file twice a second, then starts daphne.
SERVER = r"""
import os, sys, threading, time
sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clubhouse.settings")
import django
django.setup()
from django.db.backends.signals import connection_created
port, backlog, out = sys.argv[1], sys.argv[2], sys.argv[3]
count = [0]
lock = threading.Lock()
def counted(execute, sql, params, many, context):
    with lock:
        count[0] += 1
    return execute(sql, params, many, context)
def on_connect(sender, connection, **kwargs):
    if counted not in connection.execute_wrappers:
        connection.execute_wrappers.append(counted)
connection_created.connect(on_connect)
def dump():
    while True:
        time.sleep(0.5)
        with open(out + ".tmp", "w") as f:
            f.write(str(count[0]))
        os.replace(out + ".tmp", out)
threading.Thread(target=dump, daemon=True).start()
from daphne.cli import CommandLineInterface
CommandLineInterface().run(
    ["-e", f"tcp:port={port}:interface=127.0.0.1:backlog={backlog}", "clubhouse.asgi:application"]
)
"""


def _raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, round(q * len(ordered)) - 1)], 1)


class _ClosedBeforeAnswer(Exception):
    pass


# --- a client process ---------------------------------------------------------------------------


async def _client_worker(spec_path: str, index: int) -> None:
    """Arrive, join, then listen for stage events until the driver writes STOP on stdin."""
    from rooms.client import WebSocket

    spec = json.loads(await asyncio.to_thread(Path(spec_path).read_text))
    ports: list[int] = spec["ports"]
    rate: float = spec["rate"]
    t0: float = spec["t0"]
    room_id: int = spec["room_id"]
    mine = [(i, m) for i, m in enumerate(spec["members"]) if i % spec["workers"] == index]
    outcomes: list[dict[str, Any]] = []
    seen: dict[int, float] = {}
    sockets: list[Any] = []

    async def listen(ws: Any) -> None:
        while True:
            text = await ws.recv()
            if text is None:
                return
            if '"room.hand_policy_changed"' in text:
                at = time.time()
                seq = json.loads(text)["seq"]
                if at > seen.get(seq, 0.0):
                    seen[seq] = at

    async def member(i: int, who: dict[str, Any]) -> None:
        arrival = t0 + i / rate
        await asyncio.sleep(max(0.0, arrival - time.time()))
        started = time.time()
        outcome: dict[str, Any] = {"busy": 0}
        headers = (
            {"Cookie": f"sessionid={who['key']}"}
            if who["auth"] == "cookie"
            else {"X-Session-Token": who["key"]}
        )
        ws = None
        try:
            ws = await WebSocket.connect(
                f"ws://127.0.0.1:{ports[i % len(ports)]}/ws/",
                headers=headers,
                subprotocols=["clubhouse.v1"],
                timeout=JOIN_TIMEOUT_S,
            )
            while True:
                await ws.send_text(json.dumps({"id": "j", "type": "room.join", "room_id": room_id}))
                answer = None
                while answer is None:
                    remaining = started + JOIN_TIMEOUT_S - time.time()
                    text = await asyncio.wait_for(ws.recv(), max(0.01, remaining))
                    if text is None:
                        raise _ClosedBeforeAnswer
                    frame = json.loads(text)
                    if frame.get("id") == "j" or (
                        frame.get("type") == "error" and frame.get("id") is None
                    ):
                        answer = frame
                if answer["type"] == "reply":
                    outcome["kind"] = "joined"
                    break
                if answer.get("code") == "room_busy":
                    outcome["busy"] += 1
                    await asyncio.sleep((answer.get("retry_after") or 1000) / 1000)
                    continue
                outcome["kind"] = answer.get("code") or "error"
                break
        except TimeoutError:
            outcome["kind"] = "timeout"
        except _ClosedBeforeAnswer:
            # The server closed the socket without answering (daphne closes a socket whose
            # application has not accepted it within --websocket_connect_timeout, 5 s).
            outcome["kind"] = "closed_unanswered"
        except asyncio.IncompleteReadError:
            outcome["kind"] = "closed_unanswered"
        except (ConnectionResetError, BrokenPipeError):
            outcome["kind"] = "reset"
        except ConnectionRefusedError:
            outcome["kind"] = "refused"
        except (ConnectionError, OSError) as exc:
            outcome["kind"] = "handshake" if "handshake" in str(exc) else "reset"
        outcome["arrival"] = started
        outcome["answered"] = time.time()
        outcome["ms"] = (outcome["answered"] - started) * 1000
        outcomes.append(outcome)
        if len(outcomes) == len(mine):
            all_answered.set()
        if outcome["kind"] == "joined" and ws is not None:
            sockets.append(ws)
            await listen(ws)
        elif ws is not None:
            await ws.close()

    all_answered = asyncio.Event()
    tasks = [asyncio.create_task(member(i, who)) for i, who in mine]
    if mine:
        await all_answered.wait()
    print(json.dumps({"outcomes": outcomes}), flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # STOP
    print(json.dumps({"seen": {str(k): v for k, v in seen.items()}}), flush=True)
    for ws in sockets:
        await ws.close()
    for task in tasks:
        task.cancel()


# --- the driver: database, sessions, servers ----------------------------------------------------


class Database:
    """A PostgreSQL database of the benchmark's own (`joinstorm_bench`) on the server of
    DATABASE_URL: created and migrated once, kept between runs (migrating from nothing takes
    minutes on a loaded machine); each run adds members of its own. `--drop-db` drops it."""

    def __init__(self, server_url: str) -> None:
        parsed = urlparse(server_url)
        self.name = "joinstorm_bench"
        self.admin = parsed._replace(path="/postgres").geturl()
        self.url = parsed._replace(path=f"/{self.name}").geturl()

    def _sql(self, statement: str) -> list[Any]:
        import psycopg

        with psycopg.connect(self.admin, autocommit=True) as conn:
            cursor = conn.execute(statement)
            return cursor.fetchall() if cursor.description else []

    def create(self, env: dict[str, str]) -> None:
        if not self._sql(f"SELECT 1 FROM pg_database WHERE datname = '{self.name}'"):
            self._sql(f'CREATE DATABASE "{self.name}"')
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
        )

    def drop(self) -> None:
        self._sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def _django(env: dict[str, str]) -> None:
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clubhouse.settings")
    import django

    django.setup()


def _members_with_sessions(count: int) -> tuple[Any, list[dict[str, Any]]]:
    """`count` members and a host, each logged in (a session whose key is both the browser's
    cookie and the app's session token); every other member uses the token."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from accounts.models import User

    tag = secrets.token_hex(3)
    users = User.objects.bulk_create(
        [
            User(
                username=f"storm{tag}_{n}",
                email=f"storm{tag}_{n}@bench.test",
                status=User.Status.MEMBER,
                password="!unusable",
            )
            for n in range(count + 1)
        ]
    )
    members = []
    for n, user in enumerate(users):
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        members.append(
            {"user_id": user.pk, "key": session.session_key, "auth": ("cookie", "token")[n % 2]}
        )
    return users[0], members[1:]


def _room_for(host: Any, capacity: int) -> int:
    from rooms import services
    from rooms.models import Room

    room = services.room_create(user=host, title="Join storm")
    Room.objects.filter(pk=room.pk).update(capacity=capacity)  # everyone fits: no room_full
    return int(room.pk)


class Servers:
    def __init__(self, checkout: Path, count: int, backlog: int, env: dict[str, str]) -> None:
        self.checkout = checkout
        self.ports = [_free_port() for _ in range(count)]
        self.backlog = backlog
        self.env = env
        self.dir = Path(tempfile.mkdtemp(prefix="joinstorm-"))
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        for n, port in enumerate(self.ports):
            log = (self.dir / f"daphne{n}.log").open("wb")
            self.procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        SERVER,
                        str(port),
                        str(self.backlog),
                        str(self.dir / f"queries{n}"),
                    ],
                    cwd=self.checkout,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        for port, proc in zip(self.ports, self.procs, strict=True):
            deadline = time.monotonic() + 120
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"daphne exited: {(self.dir / 'daphne0.log').read_text()}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("daphne did not listen within 120 s") from None
                    time.sleep(0.2)

    def cpu(self) -> float:
        return sum(_cpu_seconds(p.pid) for p in self.procs)

    def queries(self) -> int:
        time.sleep(0.6)  # the counters are written twice a second
        total = 0
        for n in range(len(self.procs)):
            path = self.dir / f"queries{n}"
            total += int(path.read_text() or 0) if path.exists() else 0
        return total

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


async def _storm(
    servers: Servers, room_id: int, host_key: str, members: list[dict[str, Any]], rate: float,
    workers: int, env: dict[str, str],
) -> dict[str, Any]:  # fmt: skip
    from rooms.client import RoomClient

    moderator = await RoomClient.connect(
        f"ws://127.0.0.1:{servers.ports[0]}/ws/", session_cookie=host_key
    )
    await moderator.join(room_id)
    queries_before, cpu_before = servers.queries(), servers.cpu()
    spec = {
        "ports": servers.ports,
        "rate": rate,
        "t0": time.time() + 3.0,
        "room_id": room_id,
        "workers": workers,
        "members": members,
    }
    spec_path = servers.dir / "spec.json"
    spec_path.write_text(json.dumps(spec))
    procs = [
        subprocess.Popen(  # noqa: ASYNC220 - starting our own client processes
            [sys.executable, "-m", "bench.join_storm", "--client", str(spec_path), str(w)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in range(workers)
    ]
    outcomes: list[dict[str, Any]] = []
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = await asyncio.wait_for(
                asyncio.to_thread(proc.stdout.readline), len(members) / rate + 120
            )
            outcomes += json.loads(line)["outcomes"]
        cpu_used = servers.cpu() - cpu_before
        queries = servers.queries() - queries_before
        await asyncio.sleep(1.0)
        sent: dict[int, float] = {}
        for n in range(STAGE_ACTIONS):
            at = time.time()
            await moderator.request(
                "room.hand_policy_set", room_id=room_id, policy=("off", "everyone")[n % 2]
            )
            event = await moderator.next_event(timeout=10)
            while event.get("type") != "room.hand_policy_changed":
                event = await moderator.next_event(timeout=10)
            sent[event["seq"]] = at
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)
        seen: dict[int, list[float]] = {}
        for proc in procs:
            assert proc.stdin is not None
            assert proc.stdout is not None
            proc.stdin.write("STOP\n")
            proc.stdin.flush()
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)
            for seq, at in json.loads(line)["seen"].items():
                seen.setdefault(int(seq), []).append(at)
        await moderator.request("room.end", room_id=room_id)
        await moderator.close()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()

    joined = [o for o in outcomes if o["kind"] == "joined"]
    errors: dict[str, int] = {}
    for o in outcomes:
        if o["kind"] != "joined":
            errors[o["kind"]] = errors.get(o["kind"], 0) + 1
    ms = [o["ms"] for o in joined]
    first_arrival = min((o["arrival"] for o in outcomes), default=0.0)
    last_join = max((o["answered"] for o in joined), default=first_arrival)
    stage_ms = [
        (max(seen[seq]) - at) * 1000
        for seq, at in sent.items()
        if seq in seen and len(seen[seq]) == workers
    ]
    return {
        "arrivals": len(members),
        "rate_per_s": rate,
        "joined": len(joined),
        "errors": errors,
        "answered_room_busy": sum(o["busy"] for o in outcomes),
        "connect_join_ms": {"p50": _percentile(ms, 0.5), "p99": _percentile(ms, 0.99)},
        "sustained_joins_per_s": round(len(joined) / (last_join - first_arrival), 1)
        if joined and last_join > first_arrival
        else None,
        "queries_per_join": round(queries / len(joined), 1) if joined else None,
        "daphne_cpu_ms_per_join": round(cpu_used * 1000 / len(joined), 1) if joined else None,
        "stage_event_last_member_ms": {
            "p50": round(statistics.median(stage_ms), 1) if stage_ms else None,
            "p99": _percentile(stage_ms, 0.99),
            "events": len(sent),
            "reached_every_client_process": len(stage_ms),
        },
    }


def _forget_prefix(redis_url: str, prefix: str) -> int:
    """Delete a run's Redis keys: presence marks of sockets whose daphne was stopped have no TTL."""
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])
    client.close()
    return len(keys)


def _baseline_checkout(commit: str) -> Path:
    where = Path(tempfile.mkdtemp(prefix="joinstorm-baseline-"))
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(where), commit],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    for built in ROOT.glob("media_relay/_fastpath*.so"):
        shutil.copy(built, where / "media_relay" / built.name)
    return where


def _remove_checkout(where: Path) -> None:
    subprocess.run(["git", "worktree", "remove", "--force", str(where)], cwd=ROOT, check=False)


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    server_env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    db = Database(os.environ["DATABASE_URL"])
    env = dict(
        server_env,
        DATABASE_URL=db.url,
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
        # Nothing consumes tasks here; keep them off the (maybe shared) Redis.
        CELERY_BROKER_URL="memory://",
        CELERY_TASK_ALWAYS_EAGER="0",
        # As `make deploy-check`: a fake test key (nothing here contacts Stripe).
        STRIPE_LIVE_MODE="false",
        STRIPE_TEST_SECRET_KEY="sk_test_join-storm-bench-not-a-real-key",
    )
    env.update(json.loads(args.server_env or "{}"))
    targets: list[tuple[str, Path, int]] = [("result", ROOT, args.backlog)]
    baseline = None
    if args.baseline:
        baseline = _baseline_checkout(args.baseline)
        targets.insert(0, (f"baseline {args.baseline}", baseline, args.baseline_backlog))
    runs = []
    try:
        db.create(env)
        _django(env)

        host, members = await sync_to_async(_members_with_sessions)(args.members)
        from django.contrib.sessions.backends.db import SessionStore

        host_session = SessionStore()
        from django.conf import settings
        from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

        host_session[SESSION_KEY] = str(host.pk)
        host_session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
        host_session[HASH_SESSION_KEY] = host.get_session_auth_hash()
        await sync_to_async(host_session.create)()
        for label, checkout, backlog in targets:
            for count in args.servers:
                for rate in args.rates:
                    run_env = dict(env, CHANNEL_PREFIX=f"storm{secrets.token_hex(4)}")
                    servers = Servers(checkout, count, backlog, run_env)
                    print(f"join_storm: {label}, {count} daphne, {rate}/s ...", flush=True)
                    servers.start()
                    try:
                        room_id = await sync_to_async(_room_for)(host, args.members + 1)
                        result = await _storm(
                            servers, room_id, str(host_session.session_key), members, rate,
                            args.workers, run_env,
                        )  # fmt: skip
                    finally:
                        servers.stop()
                        _forget_prefix(env["REDIS_URL"], run_env["CHANNEL_PREFIX"])
                    result = {"checkout": label, "daphne_processes": count,
                              "backlog": backlog, **result}  # fmt: skip
                    print(json.dumps(result), flush=True)
                    runs.append(result)
    finally:
        from django.db import connections

        await sync_to_async(connections.close_all)()  # in the thread that opened them
        if args.drop_db:
            db.drop()
        if baseline is not None:
            _remove_checkout(baseline)
    return {
        "benchmark": "join_storm",
        "ran_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "loadavg_at_end": os.getloadavg()},
        "members": args.members,
        "client_processes": args.workers,
        "target": {
            "rate_per_s": 100,
            "members": 5000,
            "connect_join_p99_ms": 1000,
            "stage_event_p99_ms": 250,
        },
        "runs": runs,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--rates", default="100,200", help="arrivals per second, comma-separated")
    parser.add_argument("--servers", default="1,2", help="daphne processes, comma-separated")
    parser.add_argument("--workers", type=int, default=4, help="client processes (2-4)")
    parser.add_argument("--baseline", default="bd86a55", help="commit to compare ('' for none)")
    parser.add_argument("--backlog", type=int, default=4096, help="this checkout's listen backlog")
    parser.add_argument(
        "--baseline-backlog", type=int, default=50, help="the baseline's (main's -b/-p: 50)"
    )
    parser.add_argument("--drop-db", action="store_true", help="drop joinstorm_bench after")
    parser.add_argument("--server-env", default="", help="extra env for daphne, as JSON")
    parser.add_argument("--client", nargs=2, metavar=("SPEC", "INDEX"))
    args = parser.parse_args()
    _raise_nofile()
    if args.client:
        asyncio.run(_client_worker(args.client[0], int(args.client[1])))
        return 0
    if not os.environ.get("REDIS_URL") or not os.environ.get("DATABASE_URL", "").startswith(
        "postgres"
    ):
        skipped = (
            "needs REDIS_URL and a PostgreSQL DATABASE_URL (a server it may create a database on)"
        )
        print(f"join_storm: skipped, {skipped}")
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "join_storm.json").write_text(
            json.dumps({"benchmark": "join_storm", "skipped": skipped}, indent=2) + "\n"
        )
        return 0
    if not 2 <= args.workers <= 4:
        parser.error("--workers: 2 to 4 client processes")
    args.rates = [float(r) for r in args.rates.split(",")]
    args.servers = [int(s) for s in args.servers.split(",")]
    summary = asyncio.run(_main(args))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "join_storm.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
