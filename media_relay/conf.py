"""The relay's settings knobs, each with a default (override in settings.py if ever needed)."""

from __future__ import annotations

from typing import Any

from django.conf import settings


def relay_setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def listener_slots() -> int:
    """Receive m-lines each client offers: how many speakers one listener hears at once."""
    return int(relay_setting("RELAY_LISTENER_SLOTS", 3))


def heartbeat_s() -> float:
    return float(relay_setting("RELAY_HEARTBEAT_S", 1.0))


def worker_ttl_s() -> float:
    """A worker whose heartbeat is older than this is dead; its rooms are re-placed."""
    return float(relay_setting("RELAY_WORKER_TTL_S", 3.0))


def voice_level_max() -> int:
    """Audio level (-dBov, RFC 6464) at or below which a packet counts as voice."""
    return int(relay_setting("RELAY_VOICE_LEVEL_MAX", 50))


def ice_servers() -> list[str]:
    """STUN/TURN URLs for the relay's own ICE agent; none by default (a public relay host)."""
    return list(relay_setting("RELAY_ICE_SERVERS", []))


def redis_url() -> str:
    return str(relay_setting("REDIS_URL", ""))


def key_prefix() -> str:
    return str(relay_setting("RELAY_REDIS_PREFIX", "relay"))


def worker_max_peers() -> int:
    """Peer connections placement puts on one worker before a room's listeners go to edges.
    Speakers always go to their room's origin, so an origin can exceed it by its stage."""
    return int(relay_setting("RELAY_WORKER_MAX_PEERS", 500))


def pipe_host() -> str:
    """Address a worker's cascade pipe (UDP, unencrypted: loopback or a private network only)
    listens on; edges on other hosts need a private address here."""
    return str(relay_setting("RELAY_PIPE_HOST", "127.0.0.1"))


def max_remote_candidates() -> int:
    """Remote ICE candidates one peer connection may name (in its offer and trickled). A browser
    offers a handful (host, server-reflexive, relayed, per address family)."""
    return int(relay_setting("RELAY_MAX_REMOTE_CANDIDATES", 20))


def allow_loopback_candidates() -> bool | None:
    """Whether clients may name loopback addresses (127.0.0.1, ::1) as candidates. None (the
    default): only if the relay itself has no address but loopback."""
    value = relay_setting("RELAY_ALLOW_LOOPBACK_CANDIDATES", None)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def metrics_port() -> int | None:
    """A relay worker's metrics HTTP port (RELAY_METRICS_PORT); None: no port is opened."""
    port = relay_setting("RELAY_METRICS_PORT", None)
    return None if port in (None, "") else int(port)


def metrics_host() -> str:
    return str(relay_setting("RELAY_METRICS_HOST", "127.0.0.1"))
