"""Celery on /metrics: task outcomes by task and state, and how long the oldest message waits."""

from __future__ import annotations

import json
import time
import uuid
import warnings
from typing import Any

import pytest
import redis
from celery.exceptions import AlwaysEagerIgnored

from clubhouse.celery import app
from clubhouse.metrics import PUBLISHED_AT_HEADER

from .conftest import sample_value, scrape

pytestmark = pytest.mark.django_db


@app.task(name="tests.metrics.succeeds")
def succeeds() -> str:
    return "done"


@app.task(name="tests.metrics.fails")
def fails() -> None:
    raise RuntimeError("this task fails on purpose")


def test_a_task_that_succeeds_is_counted_as_success(client: Any, metrics_token: str) -> None:
    key = {"task": "tests.metrics.succeeds", "state": "SUCCESS"}
    before = sample_value(scrape(client, metrics_token), "clubhouse_celery_tasks_total", **key)
    assert succeeds.delay().get() == "done"
    after = sample_value(scrape(client, metrics_token), "clubhouse_celery_tasks_total", **key)
    assert after == before + 1


def test_a_task_run_in_place_that_raises_to_its_caller_is_counted_as_failure(
    client: Any, metrics_token: str
) -> None:
    key = {"task": "tests.metrics.fails", "state": "FAILURE"}
    before = sample_value(scrape(client, metrics_token), "clubhouse_celery_tasks_total", **key)
    with pytest.raises(RuntimeError):
        fails.delay()  # eager with propagation: embedded mode, no broker
    after = sample_value(scrape(client, metrics_token), "clubhouse_celery_tasks_total", **key)
    assert after == before + 1


def test_a_task_that_raises_is_counted_as_failure(client: Any, metrics_token: str) -> None:
    key = {"task": "tests.metrics.fails", "state": "FAILURE"}
    before = sample_value(scrape(client, metrics_token), "clubhouse_celery_tasks_total", **key)
    # As a worker runs it (the exception is the task's outcome, not raised to a caller).
    result = fails.apply(throw=False)
    assert isinstance(result.result, RuntimeError)
    after = sample_value(scrape(client, metrics_token), "clubhouse_celery_tasks_total", **key)
    assert after == before + 1
    success = {"task": "tests.metrics.fails", "state": "SUCCESS"}
    assert (
        sample_value(scrape(client, metrics_token), "clubhouse_celery_tasks_total", **success) == 0
    )


@pytest.fixture
def private_queue(redis_url: str, settings: Any) -> Any:
    """A Celery default queue of this test's own on the Redis broker (other runs share it)."""
    settings.CELERY_BROKER_URL = redis_url
    queue, default = f"metrics-{uuid.uuid4().hex[:8]}", app.conf.task_default_queue
    app.conf.task_default_queue = queue
    client = redis.Redis.from_url(redis_url)
    yield queue, client
    app.conf.task_default_queue = default
    client.delete(queue)
    client.close()


def test_a_waiting_message_shows_the_queue_length_and_its_age(
    client: Any, metrics_token: str, private_queue: Any, redis_url: str
) -> None:
    queue, broker = private_queue
    empty = scrape(client, metrics_token)
    assert sample_value(empty, "clubhouse_celery_queue_length", queue=queue) == 0
    assert sample_value(empty, "clubhouse_celery_broker_up") == 1

    # Published to the broker (not run in place): send_task ignores the tests' eager mode.
    with warnings.catch_warnings(), app.connection_for_write(redis_url) as connection:
        warnings.simplefilter("ignore", AlwaysEagerIgnored)
        app.send_task("tests.metrics.succeeds", queue=queue, connection=connection)
    published = float(json.loads(broker.lindex(queue, -1))["headers"][PUBLISHED_AT_HEADER])
    started = time.time()
    families = scrape(client, metrics_token)
    ended = time.time()
    assert sample_value(families, "clubhouse_celery_queue_length", queue=queue) == 1
    age = sample_value(families, "clubhouse_celery_queue_oldest_age_seconds", queue=queue)
    assert started - published <= age <= ended - published


def test_an_unreachable_broker_shows_as_down_and_metrics_still_answer(
    client: Any, metrics_token: str, settings: Any
) -> None:
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"  # discard port: nothing listens
    families = scrape(client, metrics_token)
    assert sample_value(families, "clubhouse_celery_broker_up") == 0
    assert "clubhouse_http_requests" in families
