"""The embedded leg: the product exactly as `make run` serves it (SQLite, the in-memory channel
layer, the relay and beat in-process, the Stripe stand-in, demo data and the demo bots), started
by running `make run` itself, then driven over HTTP, /ws/ and a browser as a newcomer would.

`make run` gets the environment a newcomer has: none of the suite's service URLs, only a free
port (so a developer's own `make run` on 8000 is left alone) and a SQLite file in a temporary
directory (so their demo database is too).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.testenv import free_port

HOST = "127.0.0.1"
# The suite's own variables, which a newcomer does not have.
NOT_A_NEWCOMERS = {
    "DATABASE_URL",
    "REDIS_URL",
    "CHANNEL_PREFIX",
    "PYTEST_CURRENT_TEST",
    "DJANGO_SETTINGS_MODULE",
}
# The monitoring token for /healthz/details (what an operator sets; docs/operations.md "Health").
HEALTH_TOKEN = "embedded-test-monitor"
START_TIMEOUT_S = 600  # a fresh SQLite migration on a loaded two-core machine


@dataclass
class MadeRun:
    url: str
    ws_url: str
    url_printed_at: float  # time.monotonic() when `make run` printed its URL
    log: Path
    database: Path  # its SQLite file
    env: dict[str, str]  # the environment it was started with (a newcomer's)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _wait_for_url(process: subprocess.Popen[bytes], log: Path, url: str) -> float:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if f"Serving on {url}/" in log.read_text(errors="replace"):
            return time.monotonic()
        if process.poll() is not None:
            pytest.fail(f"`make run` exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        time.sleep(0.2)
    pytest.fail(f"`make run` printed no URL within {START_TIMEOUT_S} s:\n{log.read_text()[-4000:]}")


def _web_process(group: int) -> int | None:
    """The pid of `make run`'s daphne (the web process) in the process group `group`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            pgrp = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2])
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if pgrp == group and any(arg.endswith(b"/daphne") for arg in argv[:2]):
            return int(entry.name)
    return None


def _stop(process: subprocess.Popen[bytes], log: Path) -> None:
    """SIGTERM to the web process, what a supervisor sends: it stops its beat and exits 0, and
    `make run` (which waits for it) with it. Ctrl-C's SIGINT takes the same path, but a test
    run in the background may have SIGINT ignored, and its children with it."""
    web = _web_process(process.pid) if process.poll() is None else None
    try:
        assert web is not None, f"`make run` has no daphne:\n{log.read_text()[-4000:]}"
        os.kill(web, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`make run` still runs 60 s after SIGTERM:\n{log.read_text()[-4000:]}")
        output = log.read_text(errors="replace")
        assert process.returncode == 0, f"`make run` exited {process.returncode}:\n{output[-4000:]}"
        assert "beat: embedded, stopped" in output, output[-4000:]
    finally:
        _kill(process)


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Anything of `make run`'s process group still there (after a clean stop, nothing)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.fixture(scope="session")
def made_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MadeRun]:
    directory = tmp_path_factory.mktemp("make-run")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in NOT_A_NEWCOMERS}
    env.update(
        PORT=str(port),
        DATABASE_URL=f"sqlite:///{directory / 'db.sqlite3'}",
        HEALTH_TOKEN=HEALTH_TOKEN,
    )
    log = directory / "make-run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "run"],  # noqa: S607
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = f"http://{HOST}:{port}"
    try:
        printed_at = _wait_for_url(process, log, url)
    except BaseException:
        _kill(process)
        raise
    try:
        yield MadeRun(
            url, f"ws://{HOST}:{port}/ws/", printed_at, log, directory / "db.sqlite3", env
        )
    finally:
        _stop(process, log)


def demo_logins(output: str) -> tuple[list[str], str]:
    """The demo members' e-mails and password as `make run` prints them
    ("Demo members: ada@example.com … hedy@example.com, password clubhouse-demo")."""
    match = re.search(r"Demo members: (\S+@\S+) … (\S+@\S+), password ([^\s;,]+)", output)
    assert match, f"`make run` did not print the demo logins:\n{output[-3000:]}"
    from accounts.demo import DEMO_PEOPLE

    emails = [f"{username}@example.com" for username, _ in DEMO_PEOPLE]
    assert (emails[0], emails[-1]) == (match[1], match[2]), "the printed range is the demo people"
    return emails, match[3]


def http(
    url: str,
    *,
    body: dict[str, Any] | None = None,
    token: str | None = None,
    bearer: str | None = None,
) -> tuple[int, Any]:
    """One JSON request; returns (status, decoded body)."""
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["X-Session-Token"] = token
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 (our server)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def app_login(base_url: str, email: str, password: str) -> str:
    """Log in as the mobile apps do (allauth headless) and return the session token."""
    status, body = http(
        f"{base_url}/_allauth/app/v1/auth/login", body={"email": email, "password": password}
    )
    assert status == 200, (email, status, body)
    return str(body["meta"]["session_token"])
