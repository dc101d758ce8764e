"""Knobs of the room transport. Each reads an optional Django setting, then falls back to a default.

Tests shorten the timings with `override_settings` or by building objects with explicit values.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def key_prefix() -> str:
    """Prefix of every Redis key and pub/sub channel of the transport.

    Defaults to the channel layer's prefix (CHANNEL_PREFIX), so two deployments (or two test
    runs) sharing one Redis server never see each other's rooms.
    """
    explicit = _setting("REALTIME_KEY_PREFIX", None)
    if explicit:
        return str(explicit)
    layers: dict[str, Any] = dict(settings.CHANNEL_LAYERS)
    return str(layers.get("default", {}).get("CONFIG", {}).get("prefix", "ch"))


def redis_url() -> str:
    return str(_setting("REALTIME_REDIS_URL", None) or getattr(settings, "REDIS_URL", "") or "")


def redis_ping_seconds() -> float:
    """How often a process PINGs Redis on its pub/sub connection; with no answer for this long
    again, it reconnects (rooms/realtime/pubsub.py)."""
    return float(_setting("REALTIME_REDIS_PING_SECONDS", 5.0))


def max_frame_bytes() -> int:
    return int(_setting("REALTIME_MAX_FRAME_BYTES", 16 * 1024))


def rate_per_second() -> float:
    """Sustained client frames per second per socket."""
    return float(_setting("REALTIME_RATE_PER_SECOND", 10.0))


def rate_burst() -> int:
    return int(_setting("REALTIME_RATE_BURST", 30))


def grace_seconds() -> float:
    """How long a member keeps their place after their last socket in the room went away."""
    return float(_setting("REALTIME_GRACE_SECONDS", 15.0))


def heartbeat_seconds() -> float:
    """How often a process refreshes the presence of its sockets in Redis."""
    return float(_setting("REALTIME_HEARTBEAT_SECONDS", 5.0))


def heartbeat_ttl_seconds() -> float:
    """A socket whose process stopped heartbeating for this long counts as disconnected."""
    return float(_setting("REALTIME_HEARTBEAT_TTL_SECONDS", 3 * heartbeat_seconds()))


def sweep_seconds() -> float:
    """How often each process looks for members whose grace period is over."""
    return float(_setting("REALTIME_SWEEP_SECONDS", 1.0))


def audience_count_interval() -> float:
    """At most one audience count push per room per this many seconds (cluster-wide)."""
    return float(_setting("REALTIME_AUDIENCE_COUNT_INTERVAL", 0.5))


def gc_freeze() -> bool:
    """Move every object alive at start-up out of the garbage collector's sight (see the docs)."""
    return bool(_setting("REALTIME_GC_FREEZE", True))


def relay_timeout_seconds() -> float:
    """How long an `rtc.offer` waits for the relay's answer before `relay_unavailable`."""
    return float(_setting("REALTIME_RELAY_TIMEOUT_SECONDS", 10.0))


def relay_check_seconds() -> float:
    """How often a process checks that the relay workers of its WebRTC sockets still live."""
    return float(_setting("REALTIME_RELAY_CHECK_SECONDS", 1.0))


def rtc_offers_per_minute() -> int:
    """`rtc.offer`s one socket may send per minute: each builds a new peer connection at the
    relay (a socket holds one at a time; this bounds the churn)."""
    return int(_setting("REALTIME_RTC_OFFERS_PER_MINUTE", 20))


def max_sockets_per_user() -> int:
    """Sockets one member may hold open at once, across every web process."""
    return int(_setting("REALTIME_MAX_SOCKETS_PER_USER", 12))


def join_max_in_flight() -> int:
    """`room.join`s one web process works on at once (docs/operations.md, "Join storms"); one
    more is answered `room_busy` at once instead of queueing behind them."""
    return max(1, int(_setting("ROOM_JOIN_MAX_IN_FLIGHT", 32)))


def join_retry_after_ms() -> int:
    """The middle of the `retry_after` a `room_busy` answer carries; each answer is jittered
    between half and one and a half times it, so refused joiners do not come back together."""
    return max(1, int(_setting("ROOM_JOIN_RETRY_AFTER_MS", 1000)))


def db_threads() -> int:
    """Threads the room sockets' database work runs on, per web process (rooms/realtime/
    dbpool.py); each holds its own database connection. Read once, when the pool starts.
    SQLite (`make run`'s embedded database) takes one writer at a time, so there it is one
    thread, as Channels' own default: several would only wait on its lock or time out."""
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        return 1
    return max(1, int(_setting("ROOM_DB_THREADS", 4)))
