"""Several web processes, one site: with PROMETHEUS_MULTIPROC_DIR, /metrics sums every
process's counts (prometheus_client's multiprocess mode)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from .conftest import sample_value, scrape

pytestmark = pytest.mark.django_db

# A web process serving `n` requests to /livez and exiting (its counts stay in the directory).
SERVE = """
import sys, django
django.setup()
from django.test import Client
client = Client()
for _ in range(int(sys.argv[1])):
    assert client.get("/livez").status_code == 200
"""


# A web process that dies with a socket open (it never counts it closed).
CRASH = """
import os, django
django.setup()
from clubhouse.metrics import WEBSOCKETS_OPEN
WEBSOCKETS_OPEN.inc()
os._exit(0)
"""


def _web_process(directory: Path, requests: int, script: str = SERVE) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    env.setdefault("DJANGO_SETTINGS_MODULE", "clubhouse.settings")
    env.pop("PYTEST_CURRENT_TEST", None)
    done = subprocess.run(  # noqa: S603  (this interpreter, a fixed script)
        [sys.executable, "-c", script, str(requests)],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_metrics_sums_the_requests_of_every_process_sharing_the_directory(
    client: Any, metrics_token: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = {"view": "livez", "method": "GET", "status": "200"}
    _web_process(tmp_path, 2)
    _web_process(tmp_path, 1)
    assert len(list(tmp_path.glob("counter_*.db"))) == 2  # one file per process

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    families = scrape(client, metrics_token)  # this process answers for them all
    assert sample_value(families, "clubhouse_http_requests_total", **key) == 2 + 1
    assert "clubhouse_rooms_live" in families  # scrape-time collectors still run, once
    assert len(families["clubhouse_rooms_live"]) == 1


def test_without_the_directory_a_process_shows_only_its_own_counts(
    client: Any, metrics_token: str, tmp_path: Path
) -> None:
    _web_process(tmp_path, 2)
    key = {"view": "livez", "method": "GET", "status": "200"}
    before = sample_value(scrape(client, metrics_token), "clubhouse_http_requests_total", **key)
    client.get("/livez")
    after = sample_value(scrape(client, metrics_token), "clubhouse_http_requests_total", **key)
    assert after == before + 1  # the other process's two are not here


def test_sockets_of_a_crashed_process_are_forgotten_when_a_process_starts(
    client: Any, metrics_token: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    _web_process(tmp_path, 0, CRASH)
    assert sample_value(scrape(client, metrics_token), "clubhouse_websockets_open") == 1
    _web_process(tmp_path, 0)  # a process (re)starts on this host
    assert sample_value(scrape(client, metrics_token), "clubhouse_websockets_open") == 0
