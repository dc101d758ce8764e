"""Prometheus metrics (docs/operations.md "Metrics").

The kernel of metrics: the web tier's own metrics, the request middleware, the Celery signal
handlers, the `/metrics` view and the list of scrape-time collectors. It imports no app: apps
that have figures to show (rooms live, money, the embedded relay) register a collector here at
`ready()` (`scrape_collector_register`), which runs when `/metrics` is read.

Several daphne processes serve one site, so when `PROMETHEUS_MULTIPROC_DIR` is set (before the
process starts: prometheus_client reads it at import) every process writes its counters,
gauges and histograms to files there and `/metrics` sums them (prometheus_client's multiprocess
mode); without it each process shows only its own. Scrape-time collectors run in the process
that answers, once: what they compute (database counts, Redis queue ages) is the same from any
process.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import redis
from asgiref.sync import iscoroutinefunction
from celery import Task, signals
from celery.exceptions import Retry
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware
from django.views.decorators.cache import never_cache
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from clubhouse.celery import app

logger = logging.getLogger(__name__)

# No `_created` series beside every counter and histogram: twice the series for a timestamp
# Prometheus does not use.
disable_created_metrics()

# --- the web tier's own metrics ------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "clubhouse_http_requests",
    "HTTP requests answered, by resolved view (URL name; `unresolved` for a path no view has) "
    "and status code.",
    ["view", "method", "status"],
)
WEBSOCKETS_OPEN = Gauge(
    "clubhouse_websockets_open",
    "Room WebSockets open (accepted and not yet closed).",
    multiprocess_mode="livesum",
)
ROOM_EVENT_FANOUT = Histogram(
    "clubhouse_room_event_fanout_seconds",
    "From a room or user event's publication to its hand-off to the last local socket of the "
    "process that delivers it (wall clocks: across hosts, their NTP skew counts in).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
CELERY_TASKS = Counter(
    "clubhouse_celery_tasks",
    "Celery tasks that ended, by task name and state (SUCCESS, FAILURE, RETRY, REVOKED).",
    ["task", "state"],
)

# --- scrape-time collectors, registered by apps at ready() ----------------------------------------

_scrape_collectors: list[Collector] = []


def scrape_collector_register(collector: Collector) -> None:
    """Run `collector.collect()` whenever `/metrics` is read (registered once per object)."""
    if collector not in _scrape_collectors:
        _scrape_collectors.append(collector)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def multiprocess_forget_dead() -> list[int]:
    """Take the live-only gauges (sockets open) of processes that are gone out of the shared
    directory: a web process that crashed never closed its sockets' count. Run at every process
    start; returns the pids forgotten. The directory must be this host's (pids are)."""
    directory = multiprocess_dir()
    if not directory:
        return []
    forgotten = []
    for path in Path(directory).glob("gauge_live*_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        if pid != os.getpid() and not _alive(pid):
            multiprocess.mark_process_dead(pid, directory)
            forgotten.append(pid)
    return sorted(set(forgotten))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process with that pid
    return True


class _Scrape:
    """What one `/metrics` answer holds: the process metrics (all processes' in multiprocess
    mode) and every scrape-time collector. A collector that fails (its database restarting)
    is logged and shows as `clubhouse_metrics_collector_up 0`; the rest is still answered."""

    def __init__(self, base: Any, collectors: Iterable[Any]) -> None:
        self.base = base
        self.collectors = list(collectors)

    def collect(self) -> Iterator[Any]:
        yield from self.base.collect()
        up = GaugeMetricFamily(
            "clubhouse_metrics_collector_up",
            "1 when a scrape-time collector (rooms, money, Celery queues, embedded relay) "
            "answered this scrape, 0 when it failed (logged).",
            labels=["collector"],
        )
        for collector in self.collectors:
            name = type(collector).__name__
            try:
                families = list(collector.collect())
            except Exception:
                logger.exception("metrics: the %s collector failed", name)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from families
        yield up


def metrics_text() -> bytes:
    if multiprocess_dir():
        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)
        base: Any = processes
    else:
        base = REGISTRY
    return generate_latest(_Scrape(base, _scrape_collectors))


def bearer_token_matches(header: str, token: str) -> bool:
    """`Authorization: Bearer <token>`, compared in constant time."""
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Without METRICS_TOKEN there is no endpoint (404); a wrong or missing token is 401."""
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404
    if not bearer_token_matches(request.headers.get("Authorization", ""), token):
        response = HttpResponse("A bearer token is required.\n", status=401,
                                content_type="text/plain")  # fmt: skip
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)


# --- requests by view and status -----------------------------------------------------------------


@sync_and_async_middleware
def request_metrics_middleware(get_response: Any) -> Any:
    """Counts every answered request under its URL name (never the raw path: ids and usernames
    would make a series per object). First in MIDDLEWARE, so it counts what others answer too."""
    if iscoroutinefunction(get_response):

        async def middleware_async(request: HttpRequest) -> HttpResponse:
            response = await get_response(request)
            _count(request, response)
            return response

        return middleware_async

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        _count(request, response)
        return response

    return middleware


def _count(request: HttpRequest, response: HttpResponse) -> None:
    HTTP_REQUESTS.labels(
        view=view_name(request), method=_method(request.method), status=str(response.status_code)
    ).inc()


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _method(method: str | None) -> str:
    return method if method in _METHODS else "other"


def view_name(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unresolved"
    return match.view_name or "unnamed"


# --- Celery: outcomes (signals) and the age of the oldest waiting message ------------------------

PUBLISHED_AT_HEADER = "clubhouse_published_at"


def _task_ended(sender: Any = None, task: Any = None, state: str | None = None, **_: Any) -> None:
    name = getattr(task or sender, "name", None) or "unknown"
    CELERY_TASKS.labels(task=name, state=state or "UNKNOWN").inc()


def _task_revoked(sender: Any = None, request: Any = None, **_: Any) -> None:
    name = getattr(sender, "name", None) or getattr(request, "task", None) or "unknown"
    CELERY_TASKS.labels(task=name, state="REVOKED").inc()


def _stamp_published_at(headers: dict[str, Any] | None = None, **_: Any) -> None:
    # Celery's message carries no time of publication; the queue-age gauge reads this one.
    if headers is not None:
        headers.setdefault(PUBLISHED_AT_HEADER, time.time())


class CountedTask(Task):
    """The project's Celery task base (clubhouse/celery.py). A task run in place (no broker)
    that raises raises to its caller (`CELERY_TASK_EAGER_PROPAGATES`) before Celery sends any
    signal: counted here, so embedded mode's failures show as well as a worker's."""

    def apply(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().apply(*args, **kwargs)
        except Retry:
            CELERY_TASKS.labels(task=self.name, state="RETRY").inc()
            raise
        except Exception:
            CELERY_TASKS.labels(task=self.name, state="FAILURE").inc()
            raise


def celery_signals_connect() -> None:
    signals.task_postrun.connect(_task_ended, weak=False, dispatch_uid="clubhouse_metrics_ended")
    signals.task_revoked.connect(_task_revoked, weak=False, dispatch_uid="clubhouse_metrics_rev")
    signals.before_task_publish.connect(
        _stamp_published_at, weak=False, dispatch_uid="clubhouse_metrics_published_at"
    )


def _redis_queue_state(client: Any, queue: str) -> tuple[int, float | None]:
    """(messages waiting, publication time of the oldest) in kombu's Redis list for `queue`:
    kombu pushes on the left and workers pop on the right, so the oldest is the last."""
    length = int(client.llen(queue))
    if not length:
        return 0, None
    raw = client.lindex(queue, -1)
    try:
        published = json.loads(raw)["headers"][PUBLISHED_AT_HEADER]
        return length, float(published)
    except (TypeError, ValueError, KeyError):
        return length, None  # published before the stamp existed, or by another client


class CeleryQueueCollector:
    """Reads each Celery queue in the broker at scrape time, when the broker is Redis."""

    def __init__(self, broker_url: Callable[[], str], queues: Callable[[], list[str]]) -> None:
        self.broker_url = broker_url
        self.queues = queues

    def collect(self) -> Iterator[GaugeMetricFamily]:
        url = self.broker_url()
        if not url.startswith(("redis://", "rediss://", "unix://")):
            return
        waiting = GaugeMetricFamily(
            "clubhouse_celery_queue_length", "Messages waiting in a Celery queue.", labels=["queue"]
        )
        age = GaugeMetricFamily(
            "clubhouse_celery_queue_oldest_age_seconds",
            "Age of the oldest message waiting in a Celery queue (0 when it is empty).",
            labels=["queue"],
        )
        up = GaugeMetricFamily(
            "clubhouse_celery_broker_up", "1 when the broker answered this scrape, else 0."
        )
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        try:
            now = time.time()
            for queue in self.queues():
                length, published = _redis_queue_state(client, queue)
                waiting.add_metric([queue], length)
                age.add_metric([queue], max(0.0, now - published) if published else 0.0)
        except redis.RedisError:
            up.add_metric([], 0)
            yield up
            return
        finally:
            client.close()
        up.add_metric([], 1)
        yield from (up, waiting, age)


def celery_queues() -> list[str]:
    names = {app.conf.task_default_queue or "celery"}
    names.update(queue.name for queue in app.conf.task_queues or ())
    return sorted(names)


def celery_metrics_register() -> None:
    celery_signals_connect()
    scrape_collector_register(
        CeleryQueueCollector(lambda: str(settings.CELERY_BROKER_URL), celery_queues)
    )
