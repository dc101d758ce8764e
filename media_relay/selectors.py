"""Reads about the relay workers for the back office: the relay's admin page and the staff home
(clubhouse/admin/). The figures are `relay_health`'s (`/healthz`), read from the placement
registry each worker's heartbeat writes; nothing here touches the database."""

from __future__ import annotations

from typing import Any

from media_relay.candidates import ICE_CANDIDATE_TYPES, ICE_PATH_TYPES
from media_relay.health import relay_health

_COUNTERS = ("rooms", "peers", "packets_in", "packets_out", "drops", "send_skipped")


def _worker_row(worker: dict[str, Any]) -> dict[str, Any]:
    rss = worker.get("rss_bytes")
    return {
        "worker_id": str(worker.get("worker_id", "?")),
        "alive": bool(worker.get("alive")),
        "heartbeat_age_s": worker.get("heartbeat_age_s"),
        "pid": worker.get("pid"),
        **{key: int(worker.get(key, 0) or 0) for key in _COUNTERS},
        "cpu_percent": worker.get("cpu_percent"),
        "cpu_s": worker.get("cpu_s"),
        "rss_mb": None if rss is None else round(int(rss) / 1e6, 1),
        "send_loop": worker.get("send_loop"),
    }


def relay_workers_load() -> dict[str, Any]:
    """Every registered worker (alive or not) with its load, the number alive and their totals.

    `paths`: live workers' audio connections per candidate type, those that connected by it
    (the member's side of the selected pair) and those that never connected offering it.
    `state` is relay_health's (`running`, `no_workers`, `all_workers_dead`), or `unreachable`
    with `error` set when the registry cannot be read: a page that shows it reports the outage
    instead of failing."""
    error = None
    try:
        health: dict[str, Any] = relay_health()
    except Exception as exc:  # noqa: BLE001 - an unreachable registry is a figure, not a 500
        health, error = {"state": "unreachable", "workers": []}, f"{type(exc).__name__}: {exc}"
    workers = [_worker_row(w) for w in health.get("workers", [])]
    alive = [w for w in workers if w["alive"]]
    return {
        "state": health.get("state", "unknown"),
        "error": error,
        "workers": workers,
        "alive_count": len(alive),
        "totals": {key: sum(w[key] for w in alive) for key in _COUNTERS},
        "paths": [
            {
                "kind": kind,
                "connected": int(health.get(f"ice_connected_{kind}", 0) or 0),
                "failed": int(health.get(f"ice_failed_{kind}", 0) or 0),
            }
            for kind in dict.fromkeys([*ICE_PATH_TYPES, *ICE_CANDIDATE_TYPES])
        ],
    }
