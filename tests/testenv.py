"""The services the test suite needs, found or started before Django reads its settings.

Loaded as a pytest plugin (`-p tests.testenv` in pyproject's addopts), so a plain `pytest` on a
fresh machine needs no environment:

- `DATABASE_URL` / `REDIS_URL` already set: used as they are (CI on other hosts, a developer's
  own services).
- Otherwise the machine's PostgreSQL on 127.0.0.1:5432 (user `postgres`, trust auth) and Redis
  on 127.0.0.1:6379 are used when they answer, with a database name of this run's own (pytest
  creates `test_<name>` and drops it after; test databases of this checkout's killed runs are
  dropped at the next start) and a Redis database number (13) and key prefix of its own, so the
  suite never touches anyone's data and two runs never touch each other's.
- Where one does not answer (or with `CLUBHOUSE_TEST_SERVICES=private`), a private throwaway
  instance is started from the installed binaries (installed with apt when missing and running
  as root) on a free loopback port, in a temporary directory, and stopped and removed when
  pytest exits.

Nothing here skips: a service that can be neither found nor started stops the run with a message
that says what is missing.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MACHINE_POSTGRES = ("127.0.0.1", 5432)
MACHINE_REDIS = ("127.0.0.1", 6379)
TEST_REDIS_DB = 13
APT_INSTALL = ["apt-get", "install", "-y", "-q", "--no-install-recommends"]


class ServiceUnavailable(RuntimeError):
    """A service the suite needs could be neither found nor started; the message says why."""


def database_name(pid: int | None = None) -> str:
    """This run's database name: two checkouts, or two runs in one checkout, never share a test
    database (pytest-django would drop one under the other)."""
    digest = hashlib.sha1(str(REPO).encode(), usedforsecurity=False).hexdigest()[:8]
    return f"clubhouse_{digest}_{os.getpid() if pid is None else pid}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def drop_stale_test_databases(host: str, port: int) -> list[str]:
    """Test databases this checkout's killed runs left behind (their pid is gone)."""
    import psycopg

    prefix = "test_" + database_name(0).rsplit("_", 1)[0] + "_"
    dropped = []
    with psycopg.connect(
        host=host, port=port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", [prefix]
            )
        ]
        for name in names:
            pid = name.removeprefix(prefix)
            if pid.isdigit() and not _alive(int(pid)):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                dropped.append(name)
    return dropped


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_answers(host: str, port: int, timeout: float = 3.0) -> bool:
    """True when PostgreSQL at host:port accepts user `postgres` without a password."""
    import psycopg

    try:
        with psycopg.connect(
            host=host, port=port, user="postgres", dbname="postgres", connect_timeout=timeout
        ) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def redis_answers(host: str, port: int, timeout: float = 3.0) -> bool:
    import redis

    client = redis.Redis(host=host, port=port, socket_timeout=timeout)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _wait_until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise ServiceUnavailable(f"{what} did not answer within {timeout:.0f} s")
        time.sleep(0.1)


def _apt_install(packages: list[str], why: str) -> None:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise ServiceUnavailable(
            f"{why}; install {' '.join(packages)} (not root, or no apt-get here)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=False, env=env, capture_output=True)  # noqa: S607
    result = subprocess.run(  # noqa: S603
        [*APT_INSTALL, *packages], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ServiceUnavailable(
            f"{why}; apt-get install {' '.join(packages)} failed:\n{result.stderr}"
        )


def postgres_bindir() -> Path:
    """The newest installed PostgreSQL server's bin directory (Debian: /usr/lib/postgresql/N)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3])
    )
    if not found and (initdb := shutil.which("initdb")):
        found = [initdb]
    if not found:
        _apt_install(["postgresql"], "no PostgreSQL server binaries (initdb) are installed")
        return postgres_bindir()
    return Path(found[-1]).parent


def redis_server_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        _apt_install(["redis-server"], "no redis-server is installed")
        binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceUnavailable("redis-server is not on PATH after installing it")
    return binary


@dataclass
class PrivateService:
    """A throwaway server on 127.0.0.1:port, living in `directory` until `stop()`."""

    name: str
    port: int
    directory: Path
    stop_command: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        if self.stop_command:
            subprocess.run(self.stop_command, capture_output=True, check=False, timeout=60)  # noqa: S603
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def _as_postgres_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the `postgres` system user."""
    if os.geteuid() != 0:
        return command
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise ServiceUnavailable(
            "running as root and there is no `postgres` user to run a private PostgreSQL as"
        ) from exc
    return ["runuser", "-u", "postgres", "--", *command]


def start_private_postgres() -> PrivateService:
    """initdb into a temporary directory and start it on a free port, durability off (tests
    never need their data after a crash)."""
    bindir = postgres_bindir()
    directory = Path(tempfile.mkdtemp(prefix="clubhouse-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    data, port = directory / "data", free_port()

    def run(command: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603  (installed PostgreSQL binaries, our own arguments)
            _as_postgres_user(command), capture_output=True, text=True, check=False, timeout=120
        )

    result = run(
        [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
    )
    if result.returncode != 0:
        shutil.rmtree(directory, ignore_errors=True)
        raise ServiceUnavailable(f"initdb failed:\n{result.stdout}\n{result.stderr}")
    options = (
        f"-h 127.0.0.1 -p {port} -k {directory} -c fsync=off -c synchronous_commit=off "
        "-c full_page_writes=off -c max_connections=200"
    )
    ctl = str(bindir / "pg_ctl")
    result = run([ctl, "-D", str(data), "-l", str(directory / "log"), "-o", options, "-w", "start"])
    service = PrivateService(
        "PostgreSQL",
        port,
        directory,
        _as_postgres_user([ctl, "-D", str(data), "-m", "fast", "stop"]),
    )
    if result.returncode != 0:
        log = (directory / "log").read_text() if (directory / "log").exists() else ""
        service.stop()
        raise ServiceUnavailable(f"a private PostgreSQL did not start:\n{result.stderr}\n{log}")
    _wait_until(lambda: postgres_answers("127.0.0.1", port), "the private PostgreSQL")
    return service


def start_private_redis() -> PrivateService:
    binary = redis_server_binary()
    directory = Path(tempfile.mkdtemp(prefix="clubhouse-redis-"))
    port = free_port()
    process = subprocess.Popen(  # noqa: S603
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", str(directory), "--daemonize", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    service = PrivateService("Redis", port, directory, process=process)
    try:
        _wait_until(lambda: redis_answers("127.0.0.1", port), "the private Redis")
    except ServiceUnavailable:
        service.stop()
        raise
    return service


@dataclass
class TestServices:
    """What `provide()` chose, and the private instances to stop at the end."""

    database_url: str
    redis_url: str
    started: list[PrivateService] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def stop(self) -> None:
        for service in reversed(self.started):
            with contextlib.suppress(Exception):
                service.stop()
        self.started.clear()


def provide(environ: dict[str, str] | os._Environ[str] = os.environ) -> TestServices:
    """Choose (or start) PostgreSQL and Redis for this run; see the module docstring."""
    mode = environ.get("CLUBHOUSE_TEST_SERVICES", "auto")
    if mode not in {"auto", "private"}:
        raise ServiceUnavailable(f"CLUBHOUSE_TEST_SERVICES must be auto or private, not {mode!r}")
    services = TestServices(environ.get("DATABASE_URL", ""), environ.get("REDIS_URL", ""))
    try:
        if services.database_url:
            services.notes.append("PostgreSQL: DATABASE_URL as set")
        elif mode == "auto" and postgres_answers(*MACHINE_POSTGRES):
            host, port = MACHINE_POSTGRES
            services.database_url = f"postgres://postgres@{host}:{port}/{database_name()}"
            services.notes.append(f"PostgreSQL: this machine's, {host}:{port}")
            if dropped := drop_stale_test_databases(host, port):
                services.notes.append(f"dropped {len(dropped)} stale test database(s)")
        else:
            pg = start_private_postgres()
            services.started.append(pg)
            services.database_url = f"postgres://postgres@127.0.0.1:{pg.port}/{database_name()}"
            services.notes.append(f"PostgreSQL: a private instance on 127.0.0.1:{pg.port}")
        if services.redis_url:
            services.notes.append("Redis: REDIS_URL as set")
        elif mode == "auto" and redis_answers(*MACHINE_REDIS):
            host, port = MACHINE_REDIS
            services.redis_url = f"redis://{host}:{port}/{TEST_REDIS_DB}"
            services.notes.append(f"Redis: this machine's, {host}:{port} database {TEST_REDIS_DB}")
        else:
            rd = start_private_redis()
            services.started.append(rd)
            services.redis_url = f"redis://127.0.0.1:{rd.port}/0"
            services.notes.append(f"Redis: a private instance on 127.0.0.1:{rd.port}")
    except BaseException:
        services.stop()
        raise
    return services


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> Generator[None, None, None]:
    """Runs around pytest-django's own hook, which reads the settings: the URLs must be in the
    environment before that."""
    try:
        services = provide()
    except ServiceUnavailable as exc:
        raise pytest.UsageError(f"the test suite needs PostgreSQL and Redis: {exc}") from exc
    early_config.add_cleanup(services.stop)
    os.environ["DATABASE_URL"] = services.database_url
    os.environ["REDIS_URL"] = services.redis_url
    # Channel and realtime keys of this run only: a second run on the same Redis never sees them.
    os.environ.setdefault("CHANNEL_PREFIX", f"t{os.getpid()}")
    early_config.stash[NOTES] = services.notes
    return (yield)


NOTES = pytest.StashKey[list[str]]()


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"services: {'; '.join(config.stash.get(NOTES, []))}"]
