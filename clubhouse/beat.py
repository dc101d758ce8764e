"""Beat's schedule inside the web process, for the embedded mode (`make run`: no broker).

Production runs exactly one `celery beat` that sends each due task to a broker. Without a broker
nothing else would ever run the schedule, so the web process runs it: Celery's own scheduler
(django-celery-beat's `DatabaseScheduler`, the rows staff edit in admin) ticks here, and every
due task runs in place (tasks are eager without a broker, so `apply_async` runs the task).

Celery's `beat.EmbeddedService` (a thread running `beat.Service.start`) is not used as is: in a
web process its loop sleeps without hearing a stop (up to the 5 s loop interval), dies with the
first exception a tick lets through (a locked SQLite file, a restarting database), never imports
the tasks (`celery beat` does that at start-up; without it a due task is sent by name to the
in-memory broker and lost), and runs tasks on a thread with no way back to the server's event
loop (where the in-memory channel layer and the embedded relay live). So the scheduler is
Celery's (its `tick()` decides what is due and applies it) and the loop around it is ours: an
asyncio task on the server's loop that runs each tick in one dedicated thread through
`sync_to_async` (events a task sends reach the loop as from any Django view), closes that
thread's database connections after each tick, logs a failed tick or task and goes on, and stops
when told.

It starts once per process, on the first connection under daphne (which sends no ASGI lifespan
events) or at lifespan start-up, and stops with the server (clubhouse/asgi.py). Never in a
process that merely imports the application (tests): nothing there would stop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async
from celery import Celery
from celery.beat import SchedulingError
from celery.exceptions import NotRegistered
from django.conf import settings
from django.db import connections
from django_celery_beat.schedulers import DatabaseScheduler

from clubhouse.celery import app as celery_app

logger = logging.getLogger(__name__)

__all__ = [
    "EmbeddedBeat",
    "beat_embedded_enabled",
    "beat_embedded_ensure",
    "beat_embedded_health",
    "beat_embedded_start",
    "beat_embedded_stop",
]

# After a tick that failed outright (the database unreachable, say), wait this long.
TICK_RETRY_S = 5.0
# How long stopping waits for a task that is running (then the process exits without it).
STOP_TIMEOUT_S = 30.0


def beat_embedded_enabled() -> bool:
    """Whether this process runs beat's schedule: BEAT_EMBEDDED (by default on exactly when
    there is no broker), and never next to a broker, whatever the settings say."""
    broker = str(getattr(settings, "CELERY_BROKER_URL", "") or "")
    return bool(getattr(settings, "BEAT_EMBEDDED", False)) and broker.startswith("memory://")


class EmbeddedScheduler(DatabaseScheduler):
    """django-celery-beat's scheduler, for tasks that run in place."""

    def send_task(self, name: str, *args: Any, **kwargs: Any) -> Any:
        # Celery sends a task it does not know to the broker by name; here the broker is
        # in-memory with nobody consuming it, so say so instead of losing it quietly.
        raise NotRegistered(name)

    def apply_async(
        self, entry: Any, producer: Any = None, advance: bool = True, **kwargs: Any
    ) -> Any:
        try:
            return super().apply_async(entry, producer=producer, advance=advance, **kwargs)
        except SchedulingError:
            # The task ran here and raised (or is unknown): one clear log line with the
            # traceback, instead of Celery's "Message Error" meant for a broker that refused.
            logger.exception("beat: %s (%s) failed", entry.name, entry.task)
            return None


class EmbeddedBeat:
    """Celery's scheduler ticking on the running event loop, each tick in one thread."""

    def __init__(self, app: Celery, *, max_interval: float | None = None) -> None:
        self.app = app
        self.max_interval = max_interval  # None: django-celery-beat's 5 s
        self.scheduler: EmbeddedScheduler | None = None  # built by the first tick
        self.thread: threading.Thread | None = None  # the thread ticks run on
        self.last_tick: float | None = None  # time.monotonic() at the end of the last tick
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="beat-embedded")
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="beat-embedded")

    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Let the tick in progress finish (a task that runs completes), save the schedule's
        run times, close the thread's connections and end the thread. A task still running
        after `timeout` is left to finish on its own (the process exits when it has)."""
        self._stopping.set()
        task = self._task
        if task is None:
            self._executor.shutdown(wait=False)
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            logger.warning("beat: a task still runs after %s s; not waiting for it", timeout)

    async def _run(self) -> None:
        in_thread = sync_to_async(self._tick, thread_sensitive=False, executor=self._executor)
        logger.info("beat: embedded, running the schedule in this process")
        try:
            while not self._stopping.is_set():
                interval = await in_thread()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), interval)
        finally:
            await sync_to_async(self._close, thread_sensitive=False, executor=self._executor)()
            self._executor.shutdown(wait=True)  # idle by now: returns at once
            logger.info("beat: embedded, stopped")

    def _tick(self) -> float:
        """One pass of Celery's scheduler, in the beat thread: runs at most one due task and
        says how long to wait for the next pass. Never raises."""
        self.thread = threading.current_thread()
        try:
            if self.scheduler is None:  # built here, so a failure is retried on the next tick
                self.app.set_current()  # django-celery-beat's entries look up the current app
                # The tasks modules, as `celery beat` imports them at start-up (not through
                # the loader: its Django fixup would run django.setup() again, resetting logging).
                self.app.autodiscover_tasks(force=True)
                self.scheduler = EmbeddedScheduler(app=self.app, max_interval=self.max_interval)
            interval = self.scheduler.tick()
        except Exception:
            logger.exception("beat: tick failed; trying again in %s s", TICK_RETRY_S)
            interval = TICK_RETRY_S
        finally:
            connections.close_all()  # this thread's own; ticks may be seconds apart
            self.last_tick = time.monotonic()
        return max(float(interval or 0), 0.0)

    def _close(self) -> None:
        try:
            if self.scheduler is not None:
                self.scheduler.close()  # writes the run times, as `celery beat` does on exit
        except Exception:
            logger.exception("beat: could not save the schedule's run times")
        finally:
            connections.close_all()


# --- the process's one embedded beat ------------------------------------------------------

_lock = threading.Lock()
_beat: EmbeddedBeat | None = None
_server_stopping = False


def beat_embedded_start(
    app: Celery | None = None, *, max_interval: float | None = None
) -> EmbeddedBeat:
    """Start the embedded beat on the running event loop, whatever the settings say (the
    caller decided; `beat_embedded_ensure` is the gate). Idempotent: returns the one running.
    Refuses a Celery app that sends tasks to a broker: that schedule is `celery beat`'s."""
    global _beat
    app = app or celery_app
    if not app.conf.task_always_eager:
        raise RuntimeError("the embedded beat runs tasks in place: Celery must be eager")
    with _lock:
        if _beat is None or not _beat.running():
            _beat = EmbeddedBeat(app, max_interval=max_interval)
            _beat.start()
        return _beat


async def beat_embedded_stop() -> None:
    """Stop the embedded beat if one runs (waits for a task in progress, up to 30 s)."""
    global _beat
    with _lock:
        running, _beat = _beat, None
    if running is not None:
        await running.stop()


def beat_embedded_ensure(*, lifespan: bool = False) -> bool:
    """Called on every connection and at lifespan start-up: start the embedded beat once per
    process if it is enabled and a server is serving this application, i.e. daphne's reactor
    runs, or the server sent `lifespan.startup` (`lifespan=True`). Cheap; returns whether one
    runs here."""
    running = _beat
    if running is not None and running.running():
        return True
    if _server_stopping or not beat_embedded_enabled():
        return False
    reactor = sys.modules.get("twisted.internet.reactor")
    under_daphne = reactor is not None and getattr(reactor, "running", False)
    if not (lifespan or under_daphne):
        return False
    beat_embedded_start()
    if under_daphne:
        _stop_with_the_reactor(reactor)
    return True


_reactor_hooked = False


def _stop_with_the_reactor(reactor: Any) -> None:
    """Under daphne (SIGINT, SIGTERM), stop the beat before the reactor (and its loop) stops."""
    global _reactor_hooked
    if _reactor_hooked:
        return
    _reactor_hooked = True
    from twisted.internet.defer import Deferred

    def stop() -> Any:
        global _server_stopping
        _server_stopping = True  # no restart from a request that arrives while stopping
        return Deferred.fromFuture(asyncio.ensure_future(beat_embedded_stop()))

    reactor.addSystemEventTrigger("before", "shutdown", stop)


def beat_embedded_health() -> dict[str, Any]:
    """Beat's part of /healthz: where the schedule runs, and whether it does here."""
    if not beat_embedded_enabled():
        return {"ok": True, "mode": "celery beat"}
    running = _beat
    if running is None:
        # Not started yet (it starts on the first connection) or not served (tests).
        return {"ok": True, "mode": "embedded", "state": "not_started"}
    if not running.running():
        return {"ok": False, "mode": "embedded", "state": "stopped"}
    health: dict[str, Any] = {"ok": True, "mode": "embedded", "state": "running"}
    if running.last_tick is not None:
        health["last_tick_s_ago"] = round(time.monotonic() - running.last_tick, 1)
    return health
