"""The REST API keeps its own contract: schemathesis, with every check, against the product as
`make run` serves it, as a member, as a room's moderator and as nobody.

The run works on a copy of `make run`'s database served by a second daphne (so its clubs, rooms
and reports do not change what the other embedded tests see), with the write rate limits raised
(the fuzzer sends thousands of writes a minute; the limits themselves are tested in
tests/throttling/). Exceptions, each with its reason, are in tests/embedded/schemathesis.toml.
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
    schema: Path  # the server's own /api/schema/, fetched once (see `fuzz_server`)


@pytest.fixture(scope="module")
def fuzz_server(
    made_run: MadeRun, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FuzzServer]:
    database = tmp_path_factory.mktemp("fuzz") / "db.sqlite3"
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
    url = f"http://{HOST}:{port}"
    # The schema is built on every request to /api/schema/ (seconds on a busy machine), and
    # schemathesis gives a schema URL only 10 s: each run reads this copy of it instead.
    schema = database.with_name("openapi.yaml")
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/schema/", timeout=60) as answer:  # noqa: S310
                    schema.write_bytes(answer.read())
                break
            except OSError:
                assert server.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.5)
        yield FuzzServer(url=url, schema=schema)
    finally:
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


def test_a_member_finds_every_operation_true_to_its_schema(
    made_run: MadeRun, fuzz_server: FuzzServer
) -> None:
    emails, password = demo_logins(made_run.output())
    token = app_login(fuzz_server.url, emails[0], password)  # ada: a member, a club admin
    run = _schemathesis(fuzz_server, "--header", f"X-Session-Token: {token}", "-n", "10")
    assert run.returncode == 0, _verdict(run)
    # every operation of the schema was reached, none skipped or errored
    selected, tested = (
        re.search(r"Selected: (\d+)/(\d+)", run.stdout),
        re.search(r"Tested: (\d+)", run.stdout),
    )
    assert selected and tested, run.stdout[-3000:]
    assert int(selected[1]) == int(selected[2]) == int(tested[1]) > 100, run.stdout[-3000:]


def test_a_moderator_finds_the_room_and_club_operations_true_to_their_schema(
    made_run: MadeRun, fuzz_server: FuzzServer
) -> None:
    _, password = demo_logins(made_run.output())
    token = app_login(fuzz_server.url, "nina@example.com", password)  # moderates the live demo room
    run = _schemathesis(
        fuzz_server,
        "--header", f"X-Session-Token: {token}",
        "--include-path-regex", "^/api/v1/(rooms|events|clubs)/",
        "-n", "5",
    )  # fmt: skip
    assert run.returncode == 0, _verdict(run)


def test_nobody_logged_in_gets_the_documented_refusal_everywhere(
    fuzz_server: FuzzServer,
) -> None:
    run = _schemathesis(fuzz_server, "-n", "2")
    assert run.returncode == 0, _verdict(run)
