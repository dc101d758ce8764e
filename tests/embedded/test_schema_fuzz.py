"""The REST API keeps its own contract: schemathesis, with every check, against the product as
`make run` serves it, as a member, as a room's moderator and as nobody.

The runs work on copies of `make run`'s database, each served by a daphne of its own (so their
clubs, rooms and reports do not change what the other embedded tests see), with the write rate
limits raised (the fuzzer sends thousands of writes a minute; the limits themselves are tested in
tests/throttling/): the member's run on one, the moderator's and then nobody's on the other,
alongside the member's. Exceptions, each with its reason, are in tests/embedded/schemathesis.toml.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

from tests.embedded.conftest import HOST, NOT_A_NEWCOMERS, MadeRun, app_login, demo_logins
from tests.testenv import free_port

CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = "20261206"


def _copy_database(source: Path, target: Path) -> Path:
    """A consistent copy of a live SQLite database (the backup API, not a file copy), with the
    Stripe stand-in's state that goes with it (its file is named after the database:
    payouts.conf.standin_state_file), so the copy's subscriptions and customers exist there."""
    with sqlite3.connect(source) as live, sqlite3.connect(target) as copy:
        live.backup(copy)
    state = Path(tempfile.gettempdir()) / "clubhouse-stripe-standin-{}.json"
    original = Path(str(state).format(str(source).replace("/", "_")))
    assert original.exists(), f"`make run` left no stand-in state at {original}"
    copied = Path(str(state).format(str(target).replace("/", "_")))
    shutil.copyfile(original, copied)
    return copied


@dataclass(frozen=True)
class FuzzServer:
    url: str
    schema: Path  # the server's own /api/schema/, fetched once (see `fuzz_servers`)


def _start_server(
    made_run: MadeRun, database: Path
) -> tuple[subprocess.Popen[bytes], str, Path, Path]:
    """A daphne on a copy of `make run`'s database: (process, url, log, stand-in state)."""
    standin_state = _copy_database(made_run.database, database)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in NOT_A_NEWCOMERS}
    env.update(DATABASE_URL=f"sqlite:///{database}", BEAT_EMBEDDED="0")
    env.update({f"THROTTLE_RATE_{scope.upper()}": "100000/m" for scope in settings.THROTTLE_RATES})
    log = database.with_name("daphne.log")
    with log.open("wb") as out:
        server = subprocess.Popen(  # noqa: S603 (our own server)
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                HOST,
                "-p",
                str(port),
                "clubhouse.asgi:application",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return server, f"http://{HOST}:{port}", log, standin_state


def _first_answer(server: subprocess.Popen[bytes], url: str, log: Path) -> bytes:
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(url, timeout=60) as answer:  # noqa: S310 (our server)
                return bytes(answer.read())
        except OSError:
            assert server.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)


@pytest.fixture(scope="module")
def fuzz_servers(
    made_run: MadeRun, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[FuzzServer, FuzzServer]]:
    """Two servers, each on its own copy of `make run`'s database: the member's run has one,
    the moderator's and nobody's runs share the other, alongside it (`alongside`)."""
    started: list[tuple[subprocess.Popen[bytes], str, Path, Path]] = []
    try:
        for name in ("member", "others"):
            database = tmp_path_factory.mktemp(f"fuzz-{name}") / "db.sqlite3"
            started.append(_start_server(made_run, database))
        # The schema is built on every request to /api/schema/ (seconds on a busy machine), and
        # schemathesis gives a schema URL only 10 s: each run reads this copy of it instead
        # (the same code serves both servers, so the same schema).
        (server, url, log, _), (other, other_url, other_log, _) = started
        schema = log.with_name("openapi.yaml")
        schema.write_bytes(_first_answer(server, f"{url}/api/schema/", log))
        _first_answer(other, f"{other_url}/healthz", other_log)
        yield FuzzServer(url=url, schema=schema), FuzzServer(url=other_url, schema=schema)
    finally:
        for server, _, _, standin_state in started:
            server.terminate()
            server.wait(timeout=30)
            standin_state.unlink(missing_ok=True)


def _schemathesis(server: FuzzServer, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file", str(CONFIG),
        "run", str(server.schema), "--url", server.url,
        "--checks", "all",
        "--phases", "examples,coverage,fuzzing",
        "--seed", SEED,
        "--generation-deterministic",
        "--no-shrink",
        # One worker: schemathesis's workers are threads, and hypothesis parses lambdas' source
        # with `ast.parse`, which CPython 3.11 does not make thread-safe (gh-106905): two
        # threads at once fail at random with "AST constructor recursion depth mismatch" (seen
        # once, on a loaded machine).
        "--workers", "1",
        "--request-timeout", "60",
        "--no-color",
        *args,
    ]  # fmt: skip
    # in a directory of its own: schemathesis keeps a cache of examples where it runs
    with tempfile.TemporaryDirectory() as workdir:
        return subprocess.run(  # noqa: S603
            command, cwd=workdir, capture_output=True, text=True, timeout=1200, check=False
        )


def _verdict(run: subprocess.CompletedProcess[str]) -> str:
    return run.stdout[-12000:] + run.stderr[-3000:]


def _moderators_run(made_run: MadeRun, server: FuzzServer) -> subprocess.CompletedProcess[str]:
    _, password = demo_logins(made_run.output())
    token = app_login(server.url, "nina@example.com", password)  # moderates the live demo room
    return _schemathesis(
        server,
        "--header", f"X-Session-Token: {token}",
        "--include-path-regex", "^/api/v1/(rooms|events|clubs)/",
        "-n", "5",
    )  # fmt: skip


def _nobodys_run(made_run: MadeRun, server: FuzzServer) -> subprocess.CompletedProcess[str]:
    return _schemathesis(server, "-n", "2")


# The runs that go alongside the member's, in this order, and the test that reads each.
ALONGSIDE = {
    "moderator": (
        "test_a_moderator_finds_the_room_and_club_operations_true_to_their_schema",
        _moderators_run,
    ),
    "nobody": ("test_nobody_logged_in_gets_the_documented_refusal_everywhere", _nobodys_run),
}


@pytest.fixture(scope="module")
def alongside(
    request: pytest.FixtureRequest,
    made_run: MadeRun,
    fuzz_servers: tuple[FuzzServer, FuzzServer],
) -> Iterator[dict[str, Future[subprocess.CompletedProcess[str]]]]:
    """The moderator's run and then nobody's, on their own server while the member's runs: the
    fuzzing is mostly the servers' work, and each daphne uses one core. (Each schemathesis is a
    process of its own, with one worker: see `_schemathesis`.) Only the runs of the tests
    selected."""
    selected = {item.name for item in request.session.items}
    _, other = fuzz_servers
    with ThreadPoolExecutor(max_workers=1) as runner:
        yield {
            who: runner.submit(run, made_run, other)
            for who, (test, run) in ALONGSIDE.items()
            if test in selected
        }


@pytest.mark.usefixtures("alongside")  # started first, so that they run alongside this one
def test_a_member_finds_every_operation_true_to_its_schema(
    made_run: MadeRun, fuzz_servers: tuple[FuzzServer, FuzzServer]
) -> None:
    server, _ = fuzz_servers
    emails, password = demo_logins(made_run.output())
    token = app_login(server.url, emails[0], password)  # ada: a member, a club admin
    run = _schemathesis(server, "--header", f"X-Session-Token: {token}", "-n", "10")
    assert run.returncode == 0, _verdict(run)
    # every operation of the schema was reached, none skipped or errored
    selected, tested = (
        re.search(r"Selected: (\d+)/(\d+)", run.stdout),
        re.search(r"Tested: (\d+)", run.stdout),
    )
    assert selected, run.stdout[-3000:]
    assert tested, run.stdout[-3000:]
    assert int(selected[1]) == int(selected[2]) == int(tested[1]) > 100, run.stdout[-3000:]


def test_a_moderator_finds_the_room_and_club_operations_true_to_their_schema(
    alongside: dict[str, Future[subprocess.CompletedProcess[str]]],
) -> None:
    run = alongside["moderator"].result()
    assert run.returncode == 0, _verdict(run)


def test_nobody_logged_in_gets_the_documented_refusal_everywhere(
    alongside: dict[str, Future[subprocess.CompletedProcess[str]]],
) -> None:
    run = alongside["nobody"].result()
    assert run.returncode == 0, _verdict(run)
