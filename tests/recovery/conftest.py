"""Recovery tests (issue #15, point 5): real processes against services that go away and come
back. Each test starts what it restarts itself (a private Redis, a private PostgreSQL cluster)
and the processes that must survive the restart (daphne, a Celery worker) as subprocesses, and
stops and removes all of them at the end. The machine's shared PostgreSQL and Redis are never
stopped.

Waits are bounded and poll for a condition: the machine is small and shared.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection

from tests.testenv import (
    _as_postgres_user,
    free_port,
    postgres_answers,
    postgres_bindir,
    redis_answers,
    redis_server_binary,
)

HOST = "127.0.0.1"
START_TIMEOUT_S = 120.0  # a daphne or a worker importing Django on a loaded two-core machine


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.postgres)


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll `check` until it returns something truthy; fail saying `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.1)


@dataclass
class RestartableRedis:
    """A private redis-server on a fixed port that a test can stop and start again (no
    persistence: a restart comes back empty, as a Redis without AOF/RDB does)."""

    port: int = field(default_factory=free_port)
    directory: Path = field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix="recovery-redis-"))
    )
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603
            [redis_server_binary(), "--bind", HOST, "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.directory), "--daemonize", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(lambda: redis_answers(HOST, self.port, timeout=1), "the private Redis answers")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def private_redis() -> Iterator[RestartableRedis]:
    redis = RestartableRedis()
    redis.start()
    try:
        yield redis
    finally:
        redis.remove()


def database_url(name: str | None = None, port: int | None = None) -> str:
    """The test database as a URL a child process can use (pytest-django renamed it)."""
    db = connection.settings_dict
    host = db.get("HOST") or HOST
    return (
        f"postgres://{db.get('USER') or 'postgres'}@{host}:{port or db.get('PORT') or 5432}"
        f"/{name or db['NAME']}"
    )


def session_token(user: Any) -> str:
    """A logged-in session's key: the app's session token (and the browser's cookie)."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    assert session.session_key
    return str(session.session_key)


def child_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTEST_CURRENT_TEST"}}
    env.update(
        DATABASE_URL=database_url(),
        DJANGO_DEBUG="1",
        DJANGO_SETTINGS_MODULE="clubhouse.settings",
        BEAT_EMBEDDED="0",
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


@dataclass
class ChildProcess:
    """A subprocess with its output in a log file; `stop()` ends it (SIGTERM, then SIGKILL)."""

    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        # whatever it forked (a worker's pool children) goes with it
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


def spawn(command: list[str], env: dict[str, str], log: Path) -> ChildProcess:
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            command,
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() takes its children too
        )
    return ChildProcess(process, log)


def http_status(url: str, timeout: float = 10.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (our server)
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


@dataclass
class Daphne:
    child: ChildProcess
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}/ws/"


def start_daphne(directory: Path, **env: str) -> Daphne:
    """daphne serving the project's ASGI app, as a web process in production runs it."""
    port = free_port()
    child = spawn(
        [sys.executable, "-m", "daphne", "-b", HOST, "-p", str(port),
         "clubhouse.asgi:application"],
        child_env(**env),
        directory / f"daphne-{port}.log",
    )  # fmt: skip
    try:
        wait_for(
            lambda: not child.alive() or http_status(f"http://{HOST}:{port}/livez") == 200,
            "daphne serves /livez",
            START_TIMEOUT_S,
        )
        assert child.alive(), f"daphne exited:\n{child.output()[-4000:]}"
    except BaseException:
        child.stop()
        raise
    return Daphne(child, port)


@dataclass
class RestartablePostgres:
    """A private PostgreSQL cluster (initdb in a temporary directory) on a fixed port that a
    test can stop (`immediate`: connections are cut as when the server dies) and start again."""

    port: int = field(default_factory=free_port)
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="recovery-pg-")))

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def _run(self, command: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 (installed PostgreSQL binaries, our own arguments)
            _as_postgres_user(command), capture_output=True, text=True, check=False, timeout=120
        )

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        result = self._run(
            [str(postgres_bindir() / "initdb"), "-D", str(self.data), "-U", "postgres",
             "--auth=trust", "-E", "UTF8"]
        )  # fmt: skip
        assert result.returncode == 0, f"initdb failed:\n{result.stdout}\n{result.stderr}"
        self.start()

    def start(self) -> None:
        options = f"-h {HOST} -p {self.port} -k {self.directory} -c fsync=off"
        result = self._run(
            [str(postgres_bindir() / "pg_ctl"), "-D", str(self.data), "-l",
             str(self.directory / "log"), "-o", options, "-w", "start"]
        )  # fmt: skip
        assert result.returncode == 0, f"PostgreSQL did not start:\n{result.stderr}"
        wait_for(lambda: postgres_answers(HOST, self.port, timeout=2), "the private PostgreSQL")

    def stop(self, mode: str = "immediate") -> None:
        self._run([str(postgres_bindir() / "pg_ctl"), "-D", str(self.data), "-m", mode, "stop"])

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    def copy_database(self, name: str) -> str:
        """A copy of the test database `name` (schema and committed rows) in this cluster;
        returns its URL."""
        source = connection.settings_dict
        bindir = postgres_bindir()
        dump = self.directory / "dump"
        subprocess.run(  # noqa: S603
            [str(bindir / "pg_dump"), "-h", source.get("HOST") or HOST,
             "-p", str(source.get("PORT") or 5432), "-U", "postgres", "-Fc", "-f", str(dump),
             source["NAME"]],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        subprocess.run(  # noqa: S603
            [str(bindir / "createdb"), "-h", HOST, "-p", str(self.port), "-U", "postgres", name],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        subprocess.run(  # noqa: S603
            [str(bindir / "pg_restore"), "-h", HOST, "-p", str(self.port), "-U", "postgres",
             "--no-owner", "-d", name, str(dump)],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        return f"postgres://postgres@{HOST}:{self.port}/{name}"


@pytest.fixture
def private_postgres() -> Iterator[RestartablePostgres]:
    postgres = RestartablePostgres()
    try:
        postgres.init()
        yield postgres
    finally:
        postgres.remove()
