"""The relay's settings knobs, each with a default (override in settings.py if ever needed)."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def relay_setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


# Each slot is one audio m-line in every client's offer and one SRTP stream per listener.
MAX_LISTENER_SLOTS = 16


def listener_slots() -> int:
    """Receive m-lines each client offers: how many speakers one listener hears at once (the
    loudest talkers). The room page and GET /api/v1/rtc/ice-servers/ hand it to clients, and the
    relay workers forward that many streams: every process must read the same value."""
    slots = _int_setting("RELAY_LISTENER_SLOTS", 3, 1, MAX_LISTENER_SLOTS)
    assert slots is not None
    return slots


def heartbeat_s() -> float:
    return float(relay_setting("RELAY_HEARTBEAT_S", 1.0))


def worker_ttl_s() -> float:
    """A worker whose heartbeat is older than this is dead; its rooms are re-placed."""
    return float(relay_setting("RELAY_WORKER_TTL_S", 3.0))


def voice_level_max() -> int:
    """Audio level (-dBov, RFC 6464) at or below which a packet counts as voice."""
    return int(relay_setting("RELAY_VOICE_LEVEL_MAX", 50))


def _url_list(name: str, schemes: tuple[str, ...]) -> list[str]:
    """A list setting of ICE server URLs: a list, or a comma-separated string (from the
    environment); each must start with one of `schemes` and name a host."""
    value = relay_setting(name, [])
    items = value.split(",") if isinstance(value, str) else list(value)
    urls = [str(item).strip() for item in items if str(item).strip()]
    for url in urls:
        scheme, _, rest = url.partition(":")
        if scheme not in schemes or not rest.split("?", 1)[0].strip("/"):
            raise ImproperlyConfigured(
                f"{name}: {url!r} is not a {' or '.join(s + ':' for s in schemes)} URL "
                f"(e.g. {schemes[0]}:turn.example.org:3478)."
            )
    return urls


def _int_setting(name: str, default: int | None, low: int, high: int) -> int | None:
    value = relay_setting(name, default)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}.") from None
    if not low <= number <= high:
        raise ImproperlyConfigured(f"{name} must be between {low} and {high}, not {number}.")
    return number


def ice_servers() -> list[str]:
    """STUN URLs for the relay's own ICE agent (RELAY_ICE_SERVERS, then STUN_URLS); none by
    default (a public relay host). The relay itself uses no TURN: behind a 1:1 NAT it announces
    RELAY_PUBLIC_IP instead; members' browsers and apps use TURN (media_relay/ice.py)."""
    urls = _url_list("RELAY_ICE_SERVERS", ("stun", "stuns")) + stun_urls()
    return list(dict.fromkeys(urls))


def ice_failure_after_s() -> float:
    """A connection closed or replaced this long after its offer without ever connecting counts
    as an ICE failure (as one whose ICE fails does at once); a quicker replacement is a normal
    renegotiation."""
    return float(relay_setting("RELAY_ICE_FAILURE_AFTER_S", 10.0))


def stun_urls() -> list[str]:
    """STUN servers handed to members' browsers and apps (and used by the relay)."""
    return _url_list("STUN_URLS", ("stun", "stuns"))


def turn_urls() -> list[str]:
    """TURN servers (coturn) handed to members with credentials minted per member; e.g.
    turn:turn.example.org:3478?transport=udp, ...?transport=tcp, turns:turn.example.org:5349."""
    return _url_list("TURN_URLS", ("turn", "turns"))


def turn_secret() -> str:
    """coturn's static-auth-secret (use-auth-secret); required when TURN_URLS is set."""
    secret = str(relay_setting("TURN_SECRET", "") or "")
    if turn_urls() and not secret:
        raise ImproperlyConfigured("TURN_URLS is set but TURN_SECRET is empty.")
    return secret


def turn_ttl_s() -> int:
    """How long a minted TURN credential is valid (coturn refuses it afterwards)."""
    ttl = _int_setting("TURN_TTL_SECONDS", 6 * 3600, 60, 7 * 24 * 3600)
    assert ttl is not None
    return ttl


def public_ip() -> str | None:
    """The address a relay behind a 1:1 NAT announces in place of its host candidates' own
    (like Janus's nat_1_1_mapping); None: announce the interfaces' addresses."""
    value = str(relay_setting("RELAY_PUBLIC_IP", "") or "").strip()
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ImproperlyConfigured(
            f"RELAY_PUBLIC_IP must be an IP address, not {value!r}."
        ) from None


def udp_port_range() -> tuple[int, int] | None:
    """The UDP ports (inclusive) the relay's ICE sockets bind, for a firewall; None: any."""
    low = _int_setting("RELAY_UDP_PORT_MIN", None, 1024, 65535)
    high = _int_setting("RELAY_UDP_PORT_MAX", None, 1024, 65535)
    if low is None and high is None:
        return None
    if low is None or high is None:
        raise ImproperlyConfigured(
            "Set both RELAY_UDP_PORT_MIN and RELAY_UDP_PORT_MAX, or neither."
        )
    if low > high:
        raise ImproperlyConfigured(
            f"RELAY_UDP_PORT_MIN ({low}) must not be above RELAY_UDP_PORT_MAX ({high})."
        )
    return low, high


def redis_url() -> str:
    return str(relay_setting("REDIS_URL", ""))


def key_prefix() -> str:
    return str(relay_setting("RELAY_REDIS_PREFIX", "relay"))


def worker_max_peers() -> int:
    """Peer connections placement puts on one worker before a room's listeners go to edges.
    Speakers always go to their room's origin, so an origin can exceed it by its stage."""
    return int(relay_setting("RELAY_WORKER_MAX_PEERS", 500))


def pipe_host() -> str:
    """Address a worker's cascade pipe (UDP; every datagram sealed with AES-GCM, cascade.py)
    binds and announces; for edges on other hosts, an address they reach (a private network)."""
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
