"""Without a broker, beat's schedule (django-celery-beat's rows) runs in the web process
(clubhouse/beat.py): reminders, premium expiry, stipends and reconciliation happen under
`make run` as they would under `celery beat`.

The beat ticks in its own thread and reads the rows there, so these tests commit their data
(`transaction=True`). That `make run` itself, with no other process, sends a due reminder is
tested on the embedded leg's `make run` (tests/embedded/test_make_run.py)."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from accounts.models import Notification
from clubhouse.beat import (
    EmbeddedBeat,
    beat_embedded_ensure,
    beat_embedded_health,
    beat_embedded_start,
    beat_embedded_stop,
)
from clubhouse.celery import app as celery_app
from rooms.tasks import REMINDERS_TASK
from tests.rooms.factories import EventFactory, MemberFactory, follow

BASE_DIR = Path(settings.BASE_DIR)
# Generous: two cores shared by several test runs.
WITHIN_S = 60.0

RECORD = "tests.test_embedded_beat.record"
FAIL = "tests.test_embedded_beat.fail"
WHERE = "tests.test_embedded_beat.where"
RUNS: list[str] = []  # what the test tasks ran, in order (list.append is thread-safe)
LOOPS: list[asyncio.AbstractEventLoop] = []


@celery_app.task(name=RECORD)
def record(label: str) -> None:
    RUNS.append(label)


@celery_app.task(name=FAIL)
def fail() -> None:
    RUNS.append("fail")
    raise RuntimeError("the task failed")


@celery_app.task(name=WHERE)
def where() -> None:
    """Notes the event loop an async call from a task runs on (a channel-layer send, say)."""

    async def note_loop() -> None:
        LOOPS.append(asyncio.get_running_loop())

    async_to_sync(note_loop)()


@pytest.fixture
def no_broker(settings: Any) -> None:
    """The settings of `make run`, whatever this test process was started with."""
    settings.CELERY_BROKER_URL = "memory://"
    settings.BEAT_EMBEDDED = True
    settings.RELAY_EMBEDDED = False  # the relay has its own tests


@pytest.fixture
async def start_beat(transactional_db: None) -> AsyncIterator[Callable[[], EmbeddedBeat]]:
    """Start the beat once the test's rows exist, as a server starts on a migrated database.
    (django-celery-beat, under `celery beat` too, notices the first change to an empty
    schedule only at its 5-minute full reload.)"""
    RUNS.clear()
    LOOPS.clear()
    yield lambda: beat_embedded_start(max_interval=0.5)
    await beat_embedded_stop()  # before the database is flushed


def every_second(name: str, task: str, *, args: str = "[]", enabled: bool = True) -> PeriodicTask:
    schedule, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    return PeriodicTask.objects.create(
        name=name, task=task, interval=schedule, args=args, enabled=enabled
    )


async def eventually(check: Callable[[], bool], within: float = WITHIN_S) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if await sync_to_async(check)():
                return True
        except OperationalError:
            pass  # SQLite's shared in-memory test database: the beat thread holds a table lock
        await asyncio.sleep(0.2)
    return False


def reminder_due() -> int:
    """An event starting in 5 minutes and a follower of its host to remind; the fan's id."""
    event = EventFactory(starts_at=timezone.now() + timedelta(minutes=5))
    fan = MemberFactory()
    follow(fan, event.created_by)
    return int(fan.pk)


StartBeat = Callable[[], EmbeddedBeat]


@pytest.mark.django_db(transaction=True)
async def test_a_due_reminder_is_sent_by_the_embedded_beat(start_beat: StartBeat) -> None:
    fan_id = await sync_to_async(reminder_due)()
    await sync_to_async(every_second)("reminders", REMINDERS_TASK)
    start_beat()

    assert await eventually(
        Notification.objects.filter(recipient_id=fan_id, kind="event_reminder").exists
    )


@pytest.mark.django_db(transaction=True)
async def test_a_disabled_row_does_not_run(start_beat: StartBeat) -> None:
    await sync_to_async(every_second)("on", RECORD, args='["on"]')
    await sync_to_async(every_second)("off", RECORD, args='["off"]', enabled=False)
    start_beat()

    assert await eventually(lambda: RUNS.count("on") >= 3)
    assert "off" not in RUNS


@pytest.mark.django_db(transaction=True)
async def test_disabling_a_row_stops_it_as_staff_do_in_admin(start_beat: StartBeat) -> None:
    row = await sync_to_async(every_second)("on", RECORD, args='["on"]')
    start_beat()
    assert await eventually(lambda: "on" in RUNS)

    row.enabled = False
    await sync_to_async(row.save)()  # as admin saves it: django-celery-beat notes the change
    # The scheduler looks for changes on every tick (0.5 s here), but a loaded machine delays
    # its thread: wait, within a generous 30 s, for 4 s without a run of the every-second row
    # (a row still enabled never gives one), then it stays quiet.
    seen, quiet_since = RUNS.count("on"), time.monotonic()
    deadline = quiet_since + 30
    while time.monotonic() - quiet_since < 4:
        assert time.monotonic() < deadline, f"the disabled row kept running: {RUNS}"
        await asyncio.sleep(0.25)
        if RUNS.count("on") != seen:
            seen, quiet_since = RUNS.count("on"), time.monotonic()
    await asyncio.sleep(3)
    assert RUNS.count("on") == seen


@pytest.mark.django_db(transaction=True)
async def test_a_task_that_raises_is_logged_and_the_next_ones_run(
    start_beat: StartBeat, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="clubhouse.beat")
    await sync_to_async(every_second)("fails", FAIL)
    await sync_to_async(every_second)("after", RECORD, args='["after"]')
    beat = start_beat()

    assert await eventually(lambda: RUNS.count("fail") >= 2 and RUNS.count("after") >= 2)
    failures = [r for r in caplog.records if r.getMessage() == f"beat: fails ({FAIL}) failed"]
    assert failures
    assert failures[0].exc_info is not None
    assert beat.running()


@pytest.mark.django_db(transaction=True)
async def test_an_unknown_task_is_logged_not_sent_to_a_broker_nobody_reads(
    start_beat: StartBeat, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="clubhouse.beat")
    await sync_to_async(every_second)("typo", "rooms.tasks.no_such_task")
    start_beat()

    assert await eventually(
        lambda: any(r.getMessage() == "beat: typo (rooms.tasks.no_such_task) failed"
                    for r in caplog.records)
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
async def test_a_task_reaches_the_servers_event_loop_like_a_view_does(
    start_beat: StartBeat,
) -> None:
    # The in-memory channel layer and the embedded relay live on the server's loop; an event a
    # task sends (async_to_sync) must run there, not on a loop of the beat thread's own.
    await sync_to_async(every_second)("where", WHERE)
    start_beat()

    assert await eventually(lambda: bool(LOOPS))
    assert LOOPS[0] is asyncio.get_running_loop()


@pytest.mark.django_db(transaction=True)
async def test_stopping_ends_the_beat_thread(start_beat: StartBeat) -> None:
    beat = start_beat()
    assert await eventually(lambda: beat.thread is not None)
    thread = beat.thread
    assert thread is not None
    assert thread.is_alive()

    await beat_embedded_stop()

    assert not beat.running()
    assert not thread.is_alive()


async def test_lifespan_starts_it_and_stops_it(no_broker: None) -> None:
    from clubhouse.asgi import application

    sent: list[dict[str, Any]] = []
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    server = asyncio.create_task(application({"type": "lifespan"}, inbox.get, send))
    await inbox.put({"type": "lifespan.startup"})
    assert await eventually(lambda: {"type": "lifespan.startup.complete"} in sent, within=10)
    assert beat_embedded_health()["state"] == "running"
    running = beat_embedded_start()  # the one lifespan started
    assert await eventually(lambda: running.thread is not None)

    await inbox.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(server, 60)

    assert sent[-1] == {"type": "lifespan.shutdown.complete"}
    assert beat_embedded_health()["state"] == "not_started"
    assert running.thread is not None
    assert not running.thread.is_alive()


async def test_never_started_with_a_broker(settings: Any, no_broker: None) -> None:
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"

    assert beat_embedded_ensure(lifespan=True) is False
    assert beat_embedded_health() == {"ok": True, "mode": "celery beat"}


async def test_never_started_by_an_application_nobody_serves(no_broker: None) -> None:
    # Tests call the ASGI application directly: no daphne reactor runs, no lifespan started it.
    assert beat_embedded_ensure() is False
    assert beat_embedded_health()["state"] == "not_started"


def test_eager_celery_is_required() -> None:
    celery_app.conf.task_always_eager = False
    try:
        with pytest.raises(RuntimeError, match="eager"):
            beat_embedded_start()
    finally:
        celery_app.conf.task_always_eager = True  # as tests/conftest.py has it


def settings_in_a_fresh_process(**environ: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BEAT_EMBEDDED", "CELERY_BROKER_URL")}
    env.update(DJANGO_DEBUG="1", CELERY_TASK_ALWAYS_EAGER="", **environ)
    env = {k: v for k, v in env.items() if v != ""}  # "" means: unset
    code = "from clubhouse import settings; print(settings.BEAT_EMBEDDED)"
    return subprocess.run(  # noqa: S603  (this interpreter, fixed arguments)
        [sys.executable, "-c", code],
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("environ", "embedded"),
    [
        ({"REDIS_URL": ""}, "True"),  # `make run`
        ({"REDIS_URL": "", "BEAT_EMBEDDED": "0"}, "False"),
        ({"REDIS_URL": "redis://127.0.0.1:6379/0"}, "False"),  # production: `celery beat`
        ({"REDIS_URL": "", "CELERY_BROKER_URL": "amqp://127.0.0.1//"}, "False"),
    ],
)
def test_settings_run_beat_embedded_exactly_without_a_broker(
    environ: dict[str, str], embedded: str
) -> None:
    result = settings_in_a_fresh_process(**environ)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == embedded


def test_settings_refuse_an_embedded_beat_next_to_a_broker() -> None:
    result = settings_in_a_fresh_process(REDIS_URL="redis://127.0.0.1:6379/0", BEAT_EMBEDDED="1")
    assert result.returncode != 0
    assert "BEAT_EMBEDDED=1 needs Celery without a broker" in result.stderr
