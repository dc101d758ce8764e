"""Database connection pooling (DATABASE_POOL_MAX; docs/operations.md, "Database connections").

Each case starts a fresh process with the settings a deployment would give it, against this
run's real PostgreSQL test database, and counts the server backends that served it.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

BASE_DIR = Path(__file__).resolve().parent.parent

# 40 queries from 8 threads, each thread giving its connection back after every query (what
# Django does at the end of a request and channels after each database_sync_to_async call).
QUERIES = 40
SCRIPT = f"""
import json
from concurrent.futures import ThreadPoolExecutor

import django

django.setup()
from django.db import connection


def one(_):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    connection.close()
    return pid


with ThreadPoolExecutor(8) as threads:
    pids = list(threads.map(one, range({QUERIES})))
print(json.dumps({{"backends": len(set(pids)), "queries": len(pids)}}))
"""


def _run(env: dict[str, str], code: str = SCRIPT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "clubhouse.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _test_database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def _backends(env: dict[str, str]) -> int:
    done = _run({"DATABASE_URL": _test_database_url(), **env})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["queries"] == QUERIES
    return int(result["backends"])


@pytest.mark.postgres
@pytest.mark.django_db
def test_with_a_pool_every_query_is_served_by_at_most_pool_max_connections() -> None:
    assert _backends({"DATABASE_POOL_MAX": "2", "DATABASE_POOL_MIN": "1"}) <= 2


@pytest.mark.postgres
@pytest.mark.django_db
def test_without_a_pool_each_request_opens_its_own_connection() -> None:
    # the baseline the pool improves on: more backends than a pool of 2 would ever open
    assert _backends({"DATABASE_POOL_MAX": "0"}) > 2


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"DATABASE_URL": "sqlite:////tmp/pool-test.sqlite3", "DATABASE_POOL_MAX": "4"},
            "DATABASE_POOL_MAX needs PostgreSQL",
        ),
        ({"DATABASE_POOL_MAX": "-1"}, "DATABASE_POOL_MAX must be at least 1"),
        (
            {"DATABASE_POOL_MAX": "2", "DATABASE_POOL_MIN": "3"},
            "DATABASE_POOL_MIN must be between 0 and DATABASE_POOL_MAX (2)",
        ),
        (
            {"DATABASE_POOL_MAX": "2", "DATABASE_POOL_TIMEOUT": "0"},
            "DATABASE_POOL_TIMEOUT must be more than 0 seconds",
        ),
        (
            {"DATABASE_POOL_MAX": "2", "DATABASE_CONN_MAX_AGE": "60"},
            "DATABASE_CONN_MAX_AGE must be 0 with DATABASE_POOL_MAX",
        ),
    ],
)
def test_a_pool_setting_that_cannot_work_is_refused_at_start_up(
    env: dict[str, str], message: str
) -> None:
    done = _run(env, "import django; django.setup()")
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr
    assert message in done.stderr
