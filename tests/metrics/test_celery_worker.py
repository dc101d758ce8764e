"""A real Celery worker counts task outcomes where /metrics (multiprocess mode) reads them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from celery.exceptions import AlwaysEagerIgnored
from django.conf import settings

from clubhouse.celery import app
from rooms.tasks import VISITS_EXPIRE_TASK

from .conftest import sample_value, scrape


def _test_database_url() -> str:
    """The URL of the database this test run created (the worker must see the same one)."""
    url = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(url._replace(path="/" + settings.DATABASES["default"]["NAME"]))


@pytest.fixture
def worker(tmp_path: Path, redis_url: str) -> Any:
    queue = f"metrics-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "DATABASE_URL": _test_database_url(),
        "CELERY_TASK_ALWAYS_EAGER": "0",
    }
    env.pop("PYTEST_CURRENT_TEST", None)
    process = subprocess.Popen(  # noqa: S603  (celery of this virtualenv, fixed arguments)
        [sys.executable, "-m", "celery", "-A", "clubhouse", "worker", "--pool", "solo",
         "-Q", queue, "-l", "warning", "--without-gossip", "--without-mingle",
         "--without-heartbeat"],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        yield queue, tmp_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _send(queue: str, task: str, args: list[Any]) -> None:
    with app.connection_for_write(settings.REDIS_URL) as connection:
        app.send_task(task, args=args, queue=queue, connection=connection)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_counts_a_success_and_a_failure_that_the_web_metrics_show(
    client: Any, metrics_token: str, worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue, directory = worker
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AlwaysEagerIgnored)
        _send(queue, VISITS_EXPIRE_TASK, [])
        _send(queue, VISITS_EXPIRE_TASK, ["an argument it does not take"])

    success = {"task": VISITS_EXPIRE_TASK, "state": "SUCCESS"}
    failure = {"task": VISITS_EXPIRE_TASK, "state": "FAILURE"}
    deadline = time.monotonic() + 90  # the worker's start-up, on a loaded machine
    while True:
        families = scrape(client, metrics_token)
        counted = (
            sample_value(families, "clubhouse_celery_tasks_total", **success),
            sample_value(families, "clubhouse_celery_tasks_total", **failure),
        )
        if counted == (1, 1) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert counted == (1, 1)
