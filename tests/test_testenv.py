"""tests/testenv.py: `make test` needs no environment. It finds the machine's PostgreSQL and Redis
or starts private ones, and a test whose service is missing fails, never skips."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import psycopg
import pytest
import redis
from django.conf import settings

from tests import testenv


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
def test_a_private_postgresql_starts_answers_and_is_gone_after_stop() -> None:
    service = testenv.start_private_postgres()
    try:
        assert service.port != 5432
        with psycopg.connect(
            host="127.0.0.1", port=service.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE scratch")
            assert conn.execute("SELECT current_setting('fsync')").fetchone() == ("off",)
    finally:
        service.stop()
    assert not _port_open(service.port)
    assert not service.directory.exists()


def test_a_private_redis_starts_answers_and_is_gone_after_stop() -> None:
    service = testenv.start_private_redis()
    try:
        client = redis.Redis(host="127.0.0.1", port=service.port)
        client.set("k", "v")
        assert client.get("k") == b"v"
        client.close()
    finally:
        service.stop()
    assert not _port_open(service.port)
    assert not service.directory.exists()


def test_urls_already_set_are_used_as_they_are() -> None:
    chosen = testenv.provide(
        {"DATABASE_URL": "postgres://u@db.example:5432/x", "REDIS_URL": "redis://r.example:1/2"}
    )
    assert (chosen.database_url, chosen.redis_url) == (
        "postgres://u@db.example:5432/x",
        "redis://r.example:1/2",
    )
    assert chosen.started == []


def test_without_urls_the_machines_services_are_used_or_private_ones_started() -> None:
    """A newcomer's machine may or may not run PostgreSQL and Redis on the usual ports: either
    way `provide` gives working URLs of our own, never anyone's database."""
    machine_pg = testenv.postgres_answers(*testenv.MACHINE_POSTGRES)
    machine_redis = testenv.redis_answers(*testenv.MACHINE_REDIS)
    chosen = testenv.provide({})
    try:
        assert chosen.database_url.rsplit("/", 1)[1] == testenv.database_name()
        assert str(os.getpid()) in testenv.database_name()  # two runs never share one
        if machine_pg:
            assert chosen.database_url.startswith("postgres://postgres@127.0.0.1:5432/")
        if machine_redis:
            assert chosen.redis_url == f"redis://127.0.0.1:6379/{testenv.TEST_REDIS_DB}"
        assert len(chosen.started) == (not machine_pg) + (not machine_redis)
    finally:
        chosen.stop()


def test_a_killed_runs_test_database_is_dropped_and_a_live_runs_is_kept() -> None:
    host, port = testenv.MACHINE_POSTGRES
    dead = subprocess.Popen(["true"])  # noqa: S607  (a pid that is surely gone after wait)
    dead.wait()
    stale, live = (f"test_{testenv.database_name(pid)}" for pid in (dead.pid, os.getppid()))
    with psycopg.connect(
        host=host, port=port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        for name in (stale, live):
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            assert stale in testenv.drop_stale_test_databases(host, port)
            names = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
            assert stale not in names
            assert live in names
        finally:
            for name in (stale, live):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def test_this_run_is_on_postgresql_and_redis() -> None:
    assert settings.IS_POSTGRES
    assert settings.REDIS_URL


@pytest.mark.slow
def test_a_test_whose_service_is_missing_fails_and_says_what_is_missing() -> None:
    env = {**os.environ, "DATABASE_URL": "sqlite:///:memory:"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
         "tests/accounts/test_quota_race.py"],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout[-2000:]
    assert "needs PostgreSQL" in result.stdout
    summary = result.stdout.splitlines()[-1]
    assert "skipped" not in summary
    assert "4 errors" in summary  # each of the module's 4 tests fails in its set-up
