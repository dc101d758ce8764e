"""Health endpoints (docs/operations.md "Health").

- `/livez`: public liveness. The process answers; nothing is checked, nothing is told.
- `/readyz`: public readiness of this web node: it can serve when its database and its channel
  layer answer (200), else 503. What a load balancer asks. The relay and beat are not this
  node's to serve: their outage never takes web nodes out of rotation.
- `/healthz`: the public overview. One word per part of the product (`ok`, `degraded` or
  `down`); 503 only when this node is not ready (as `/readyz`), so a relay or beat outage shows
  as `degraded` with 200. No exception text, hosts, pids or addresses, because anyone on the
  internet can read it.
- `/healthz/details`: the full report (backends, each relay worker with its host, pid
  and pipe address, the text of a failed check) for logged-in staff, or for a monitor sending
  `Authorization: Bearer <HEALTH_TOKEN>`.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from clubhouse.api import error_body
from clubhouse.beat import beat_embedded_health
from media_relay.health import relay_health


def _timed(check: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result = check()
    except Exception as exc:  # noqa: BLE001 - a health probe reports failures, never raises them
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


def check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True, "vendor": connection.vendor}


def check_channel_layer() -> dict[str, Any]:
    backend = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    if not settings.REDIS_URL:
        return {"ok": True, "backend": backend, "mode": "in-memory (single process)"}
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return {"ok": True, "backend": backend}


def check_relay() -> dict[str, Any]:
    return relay_health()


# What this web node needs to serve requests; the other parts serve the product beside it.
READINESS = ("database", "channel_layer")


def _readiness_checks() -> dict[str, dict[str, Any]]:
    return {"database": _timed(check_database), "channel_layer": _timed(check_channel_layer)}


def _checks() -> dict[str, dict[str, Any]]:
    return {
        **_readiness_checks(),
        "relay": _timed(check_relay),
        "beat": _timed(beat_embedded_health),
    }


def _ready(checks: dict[str, dict[str, Any]]) -> bool:
    return all(checks[name]["ok"] for name in READINESS)


def _component_state(check: dict[str, Any]) -> str:
    """`down` when the part fails, `degraded` when it serves with losses (some relay workers
    dead while others run), `ok` otherwise."""
    if not check["ok"]:
        return "down"
    workers = check.get("workers")
    if isinstance(workers, list) and any(not w.get("alive", True) for w in workers):
        return "degraded"
    return "ok"


def _may_see_details(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff and user.is_active:
        return True
    token = str(getattr(settings, "HEALTH_TOKEN", "") or "")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return (
        bool(token)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.strip().encode(), token.encode())
    )


@never_cache
def livez(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks = _readiness_checks()
    ready = _ready(checks)
    return JsonResponse(
        {
            "status": "ok" if ready else "unavailable",
            "components": {name: _component_state(check) for name, check in checks.items()},
        },
        status=200 if ready else 503,
    )


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    checks = _checks()
    states = {name: _component_state(check) for name, check in checks.items()}
    return JsonResponse(
        {"status": "ok" if set(states.values()) == {"ok"} else "degraded", "components": states},
        status=200 if _ready(checks) else 503,
    )


@never_cache
def healthz_details(request: HttpRequest) -> JsonResponse:
    if not _may_see_details(request):
        return JsonResponse(
            error_body(
                "health_details_forbidden",
                "The detailed health report is for staff, or for a monitor with the health token.",
            ),
            status=403,
        )
    checks = _checks()
    healthy = all(c["ok"] for c in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", **checks}, status=200 if healthy else 503
    )
