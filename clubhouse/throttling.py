"""Rate limits on every write of the REST API, from one place.

`WriteThrottle` is DRF's default throttle (settings.REST_FRAMEWORK), so a new view is limited
without doing anything. A write (POST, PUT, PATCH, DELETE) is counted under a *scope*: the view's
`throttle_scope` attribute if it has one, else the scope `THROTTLE_VIEW_SCOPES` gives its URL
name, else `write`. `THROTTLE_RATES` holds each scope's rate (`"10/h,30/d"`: every window must
pass; `THROTTLE_RATE_<SCOPE>` in the environment replaces one). Reads are not counted.

Counts are per member (per client address for an anonymous request), in the cache through
clubhouse/ratelimit.py: Redis when REDIS_URL is set, so every web process shares them. Past a
rate the answer is 429 `rate_limited` with `Retry-After`.

A scope listed in `THROTTLE_FAILURE_SCOPES` also has a limit on failures: payments the provider
refused (an `ApplicationError` with `failed_payment`, recorded by the API's exception handler).
Past it, further attempts are refused even while the attempt rate still has room, so a
card tester whose cards keep failing is stopped early.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from allauth.account.adapter import get_adapter
from django.conf import settings
from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from clubhouse.ratelimit import rate_limit_check, rate_limit_hit, rate_limit_record

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_SCOPE = "write"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")


@dataclass(frozen=True)
class Window:
    limit: int
    period_seconds: int


def parse_rate(text: str) -> list[Window]:
    """`"10/h,30/d"` -> two windows; a window is `<limit>/<unit>` or `<limit>/<n><unit>` with the
    unit one of s, m, h, d (`"5/10m"`: 5 per 10 minutes)."""
    windows = []
    for part in text.split(","):
        match = _RATE.match(part)
        if match is None:
            raise ValueError(f"not a rate: {part!r} (expected e.g. 10/m, 5/10m, 30/d)")
        limit, count, unit = match.groups()
        windows.append(Window(int(limit), int(count or 1) * _UNITS[unit]))
    return windows


def scope_rate(scope: str) -> list[Window]:
    rates: dict[str, str] = settings.THROTTLE_RATES
    if scope not in rates:
        raise KeyError(f"no rate for throttle scope {scope!r}: add it to THROTTLE_RATES")
    return parse_rate(rates[scope])


def write_scope(request: HttpRequest | Request, view: Any) -> str | None:
    """The scope a request is counted under; None for a read."""
    if request.method not in WRITE_METHODS:
        return None
    explicit = getattr(view, "throttle_scope", None)
    if explicit:
        return str(explicit)
    match = request.resolver_match
    name = match.view_name if match is not None else ""
    return str(settings.THROTTLE_VIEW_SCOPES.get(name, DEFAULT_SCOPE))


def client_ip(request: HttpRequest | Request) -> str:
    """The client's address: behind DJANGO_BEHIND_TLS_PROXY the hop of X-Forwarded-For that the
    trusted proxy appended (allauth's resolution, ALLAUTH_TRUSTED_PROXY_COUNT), else the peer."""
    return str(get_adapter().get_client_ip(request))


def client_key(request: HttpRequest | Request) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return f"ip:{client_ip(request)}"


def _counter(scope: str) -> str:
    return f"throttle{settings.THROTTLE_NAMESPACE}:{scope}"


def _what(scope: str) -> str:
    return str(settings.THROTTLE_DESCRIPTIONS.get(scope, "requests"))


def throttle_hit(scope: str, key: str) -> None:
    """Count one request of `key` under `scope`; raise RateLimited past any of its windows or
    past its failure limit."""
    failure_scope = settings.THROTTLE_FAILURE_SCOPES.get(scope)
    if failure_scope:
        for window in scope_rate(failure_scope):
            rate_limit_check(
                _counter(failure_scope),
                key,
                limit=window.limit,
                period_seconds=window.period_seconds,
                what=_what(failure_scope),
            )
    for window in scope_rate(scope):
        rate_limit_hit(
            _counter(scope),
            key,
            limit=window.limit,
            period_seconds=window.period_seconds,
            what=_what(scope),
        )


def throttle_failure_record(request: HttpRequest | Request, view: Any) -> None:
    """A payment the provider refused: count it toward the failure limit of the request's scope
    (nothing when the scope has none)."""
    scope = write_scope(request, view)
    failure_scope = settings.THROTTLE_FAILURE_SCOPES.get(scope) if scope else None
    if not failure_scope:
        return
    key = client_key(request)
    for window in scope_rate(failure_scope):
        rate_limit_record(_counter(failure_scope), key, period_seconds=window.period_seconds)


class WriteThrottle(BaseThrottle):
    """DRF's default throttle: every write counted under its scope (module docstring)."""

    def allow_request(self, request: Request, view: Any) -> bool:
        scope = write_scope(request, view)
        if scope is not None:
            throttle_hit(scope, client_key(request))  # raises RateLimited, rendered as 429
        return True
