"""Logs and errors (docs/operations.md, "Logs and errors"): the request id that follows one piece
of work through every process, the JSON log format, and Sentry.

A request id names what a log line was written for: an HTTP request (the client's valid
`X-Request-ID`, else a new one; returned in the response's `X-Request-ID`), a WebSocket
connection and each frame it receives (`<connection id>.<frame number>`), a Celery task (the id
of the request that queued it, carried in the task's headers; clubhouse/celery.py) and a relay
command (the id of what sent it, carried in the relay protocol's envelope). It lives in a context variable, so each
asyncio task and each thread of asgiref's sync_to_async sees its own; `RequestIdFilter` puts it
on every log record as `request_id`.

The kernel: this module imports no app; apps and the relay call it.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

HEADER = "X-Request-ID"
META_KEY = "HTTP_X_REQUEST_ID"
# An incoming id longer than this, or with anything but printable ASCII (no spaces), is replaced
# by a new one: it ends up in every log line and in Sentry's tags.
MAX_LENGTH = 128

access_logger = logging.getLogger("clubhouse.access")

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def request_id_new() -> str:
    return uuid.uuid4().hex


def request_id_valid(value: Any) -> bool:
    """Printable ASCII without spaces (what a proxy or a client can put in a header and a log
    can carry as is), 1 to MAX_LENGTH characters."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_LENGTH
        and all("!" <= char <= "~" for char in value)
    )


def request_id_from(value: Any) -> str:
    """The client's id if it is a valid one, else a new one."""
    return value if request_id_valid(value) else request_id_new()


@contextlib.contextmanager
def request_id_bound(value: str | None) -> Iterator[str | None]:
    """`value` is the request id inside the block (None: none), the previous one after it."""
    token = request_id.set(value)
    try:
        yield value
    finally:
        request_id.reset(token)


class RequestIdMiddleware:
    """First in MIDDLEWARE: every line logged while Django answers carries the request's id,
    and the response (whatever answered it, an SSL redirect included) names it.

    With LOG_ACCESS it also writes the access line, one per request (`clubhouse.access`: method,
    path without the query string, status, duration_ms), in place of daphne's plain-text one.

    The id stays set after the middleware returns, because Django logs a 4xx/5xx response
    ("Not Found: /x") after the whole chain has; `request_id_clear`, on `request_finished`, unsets
    it (each ASGI request runs in a task of its own; a WSGI thread serves the next request)."""

    sync_capable = True
    async_capable = True

    def __init__(
        self, get_response: Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]]
    ) -> None:
        self.get_response = get_response
        self.access = bool(getattr(settings, "LOG_ACCESS", False))
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        rid = request_id_from(request.META.get(META_KEY))
        request_id.set(rid)
        started = time.monotonic()
        response = cast(HttpResponse, self.get_response(request))  # a sync chain's response
        response[HEADER] = rid
        self._log_access(request, response, started)
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        rid = request_id_from(request.META.get(META_KEY))
        request_id.set(rid)
        started = time.monotonic()
        response = await cast(Awaitable[HttpResponse], self.get_response(request))
        response[HEADER] = rid
        self._log_access(request, response, started)
        return response

    def _log_access(self, request: HttpRequest, response: HttpResponse, started: float) -> None:
        if not self.access:
            return
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        access_logger.info(
            "%s %s %s",
            request.method,
            request.path,  # never the query string: it can hold tokens
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": duration_ms,
            },
        )


def request_id_clear(**kwargs: Any) -> None:
    """On `request_finished` (connected in clubhouse.apps): the request is over."""
    request_id.set(None)


class RequestIdFilter(logging.Filter):
    """Puts the current request id (None outside any) on every record the handler sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.get()
        return True


class JsonFormatter(_JsonFormatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message, request_id, and
    `exception` (the traceback's text) when the record has one; a record's `extra` fields too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", "%(levelname)s %(name)s %(message)s %(request_id)s")
        kwargs.setdefault("timestamp", "time")
        kwargs.setdefault(
            "rename_fields",
            {"levelname": "level", "name": "logger", "exc_info": "exception"},
        )
        super().__init__(*args, **kwargs)


# --- Sentry ---------------------------------------------------------------------------------


def sentry_before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """Tags an event with the request id of the work it happened in."""
    rid = request_id.get()
    if rid is not None:
        event.setdefault("tags", {})["request_id"] = rid
    return event


def sentry_init(dsn: str, *, environment: str, release: str, traces_sample_rate: float) -> None:
    """Sentry with the Django and Celery integrations (asyncio: `sentry_asyncio_enable`), no
    personal data (no user, cookies or request bodies), each event tagged with its request id.
    sentry_sdk is imported only here, so a deployment without a DSN pays neither the import nor
    any network."""
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        traces_sample_rate=traces_sample_rate,
        send_default_pii=False,
        # Request bodies are sent whatever send_default_pii says; a sign-up or a profile edit
        # carries an e-mail address or a name.
        max_request_body_size="never",
        before_send=sentry_before_send,  # type: ignore[arg-type]
        integrations=[DjangoIntegration(), CeleryIntegration()],
    )


def sentry_asyncio_enable() -> None:
    """From a running event loop (the relay worker's): errors in its asyncio tasks reach Sentry
    too. Sentry's asyncio integration patches the running loop, which settings, imported before
    any loop runs, cannot. Nothing without a DSN."""
    if "sentry_sdk" not in sys.modules:
        return
    import sentry_sdk
    from sentry_sdk.integrations.asyncio import enable_asyncio_integration

    if sentry_sdk.get_client().is_active():
        enable_asyncio_integration()
