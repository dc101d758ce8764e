"""Shared fixtures. PostgreSQL and Redis are provided by tests/testenv.py (found on this machine
or started privately); a test marked `postgres` or `redis` that runs without them fails and says
what is missing. Nothing is ever skipped for a missing service."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django.conf import settings
from rest_framework.test import APIClient


def missing_services() -> dict[str, str]:
    missing: dict[str, str] = {}
    if not settings.IS_POSTGRES:
        missing["postgres"] = (
            "needs PostgreSQL, but DATABASE_URL is not a PostgreSQL URL "
            "(unset it and tests/testenv.py finds or starts one)"
        )
    if not settings.REDIS_URL:
        missing["redis"] = (
            "needs Redis, but REDIS_URL is empty (unset it: tests/testenv.py provides one)"
        )
    return missing


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = missing_services()
    for item in items:
        if "redis_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.redis)  # a fixture that needs Redis declares it
        reasons = [reason for marker, reason in missing.items() if marker in item.keywords]
        if reasons:
            item.stash[MISSING] = reasons


MISSING = pytest.StashKey[list[str]]()


def pytest_runtest_setup(item: pytest.Item) -> None:
    if reasons := item.stash.get(MISSING, None):
        pytest.fail("; ".join(reasons), pytrace=False)


@pytest.fixture
def redis_url() -> str:
    """The Redis a test talks to directly; fixtures that need Redis depend on this one."""
    if not settings.REDIS_URL:
        pytest.fail(missing_services()["redis"])
    return str(settings.REDIS_URL)


@pytest.fixture(autouse=True, scope="session")
def _celery_tasks_run_in_process() -> None:
    """Tests run Celery tasks where they are sent, even when REDIS_URL makes Redis the broker."""
    from clubhouse.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True


@pytest.fixture(autouse=True, scope="session")
def _close_async_thread_connections(django_db_setup: None) -> Iterator[None]:
    """Consumers reach the database through database_sync_to_async, which runs in asgiref's one
    shared executor thread; close that thread's connections before the test database is
    dropped (torn down before django_db_setup, which this depends on)."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    executor = getattr(SyncToAsync, "single_thread_executor", None)
    if executor is not None:
        executor.submit(connections.close_all).result(timeout=10)


@pytest.fixture(autouse=True, scope="session")
def _throttle_counters_of_this_run() -> str:
    """The API's rate limits count in the shared cache (Redis), by user id: two runs sharing one
    Redis (each with its own database, so the same ids) must not add up. Set before any server
    process forks (tests/browser/), so such a server counts in this run's namespace too."""
    settings.THROTTLE_NAMESPACE = f":run-{uuid.uuid4().hex}"
    return str(settings.THROTTLE_NAMESPACE)


@pytest.fixture(autouse=True)
def _own_throttle_counters(settings, _throttle_counters_of_this_run: str) -> None:  # type: ignore[no-untyped-def]
    """Each test counts in a namespace of its own, so limits apply at their real rates within a
    test and never leak from one test into the next."""
    settings.THROTTLE_NAMESPACE = f"{_throttle_counters_of_this_run}:{uuid.uuid4().hex}"


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


class JsonLogs:
    """What the deployed console handler writes (settings' `json` formatter and request-id
    filter), captured from the root logger: `lines()` parses each line as JSON."""

    def __init__(self) -> None:
        import io
        import logging

        from clubhouse.logs import JsonFormatter, RequestIdFilter

        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(JsonFormatter())
        self.handler.addFilter(RequestIdFilter())

    def lines(self) -> list[dict[str, object]]:
        import json

        return [json.loads(line) for line in self.stream.getvalue().splitlines()]


@pytest.fixture
def json_logs() -> Iterator[JsonLogs]:
    import logging

    logs = JsonLogs()
    root = logging.getLogger()
    level = root.level
    root.addHandler(logs.handler)
    root.setLevel(logging.INFO)
    try:
        yield logs
    finally:
        root.removeHandler(logs.handler)
        root.setLevel(level)
