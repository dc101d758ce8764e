"""The relay client: what the web tier needs to reach relay workers (docs/relay.md, "Signalling").

Nothing here knows about rooms: the web tier's side (what a room event becomes at the relay,
where a member's offer goes, the room state sent before it) is rooms/relay_bridge.py,
the messages are media_relay/protocol.py.

- `relay_send` (async) / `relay_send_many` (sync, on commit): messages to workers' channels;
- `place_member`, `forget_member`, `room_workers`, `room_origins` (sync, Redis): where a room
  and its members live;
- `workers_alive`, `workers_liveness` (sync): which workers still heartbeat (the web tier's
  relay-kill check);
- `relay_embedded_ensure` / `relay_embedded_ready` / `relay_embedded_stop`: the in-process
  worker of `make run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from media_relay import conf, placement, protocol
from media_relay.placement import RelayUnavailable, worker_channel

__all__ = [
    "RelayUnavailable",
    "forget_member",
    "place_member",
    "relay_embedded_enabled",
    "relay_embedded_ensure",
    "relay_embedded_ready",
    "relay_embedded_stop",
    "relay_send",
    "relay_send_many",
    "room_origins",
    "room_workers",
    "workers_alive",
    "workers_liveness",
]


# --- placement -------------------------------------------------------------------------------


def place_member(room_id: int, user_id: int, publishing: bool) -> str:
    """The worker a member's peer connection goes to (`placement.relay_place_member`). Raises
    RelayUnavailable. Blocking (Redis)."""
    return str(placement.relay_place_member(room_id, user_id, publishing))


def forget_member(room_id: int, user_id: int, worker_id: str) -> None:
    """The member's placement on `worker_id` is void (a no-op if meanwhile placed elsewhere).
    Blocking (Redis)."""
    _registry().forget_member(room_id, user_id, worker_id)


def room_workers(room_id: int) -> list[str]:
    """Every worker serving the room, origin first (`placement.relay_room_workers`). Blocking."""
    return list(placement.relay_room_workers(room_id))


_registries: dict[tuple[str, str], placement.Registry] = {}


def _registry() -> placement.Registry:
    """The placement registry, one client per (Redis URL, prefix) instead of one per call."""
    key = (conf.redis_url(), conf.key_prefix())
    registry = _registries.get(key)
    if registry is None:
        registry = _registries[key] = placement.relay_registry()
    return registry


def workers_alive(worker_ids: set[str]) -> dict[str, bool]:
    """For each worker id: whether its heartbeat is fresh. Blocking (Redis).

    Every web process with WebRTC sockets calls this each REALTIME_RELAY_CHECK_SECONDS, so in
    Redis it reads just those workers' keys (one MGET) rather than scanning for all workers."""
    return _registry().workers_alive(worker_ids)


def workers_liveness(worker_ids: set[str]) -> dict[str, bool | None]:
    """`workers_alive`, with None for a worker the registry has no record of (unregistered,
    expired, or a Redis that restarted empty and has not had its next heartbeat yet)."""
    return _registry().workers_liveness(worker_ids)


def room_origins(room_ids: set[int]) -> dict[int, str | None]:
    """Each room's origin worker (None if the room is not placed). Blocking (Redis)."""
    registry = _registry()
    return {room_id: registry.room_worker(room_id) for room_id in room_ids}


# --- sending ------------------------------------------------------------------------------


async def relay_send(worker_id: str, message: protocol.WorkerMessage) -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RelayUnavailable("no channel layer configured")
    await layer.send(worker_channel(worker_id), protocol.encode(message))


def relay_send_many(worker_ids: Iterable[str], messages: Iterable[protocol.WorkerMessage]) -> None:
    """Each message to each worker, in order. Blocking (not from an event loop); nothing is sent
    without a channel layer."""
    layer = get_channel_layer()
    if layer is None:
        return
    wire = [protocol.encode(message) for message in messages]
    for worker_id in worker_ids:
        for body in wire:
            async_to_sync(layer.send)(worker_channel(worker_id), body)


# --- embedded mode ------------------------------------------------------------------------


def relay_embedded_enabled() -> bool:
    """`make run` without Redis runs the relay inside the web process; with REDIS_URL only if
    RELAY_EMBEDDED=1 (otherwise `manage.py relay` processes serve)."""
    flag = getattr(settings, "RELAY_EMBEDDED", None)
    if flag is None:
        flag = os.environ.get("RELAY_EMBEDDED") or None
    if flag is not None:
        return str(flag).strip().lower() in ("1", "true", "yes", "on")
    return not getattr(settings, "REDIS_URL", "")


def relay_embedded_ensure() -> bool:
    """Start the in-process relay worker on the running loop if the embedded mode is on and it
    is not running there yet. Idempotent and cheap. Returns whether one runs here."""
    if not relay_embedded_enabled():
        return False
    # Lazy: the worker brings aiortc and the C send loop, which only a web process that runs
    # the embedded relay needs (not every process that imports the relay client).
    from media_relay.worker import relay_embedded_start

    worker = relay_embedded_start()
    if id(worker) not in _stop_hooked:
        _stop_hooked.add(id(worker))
        _stop_with_the_server()
    return True


async def relay_embedded_ready(timeout: float = 10.0) -> bool:
    """`relay_embedded_ensure`, then wait (up to `timeout`) for the worker's first heartbeat: an
    offer that started the worker is placed on it instead of finding no live worker (the start
    is a task on this loop, and placement reads the registry from another thread)."""
    if not relay_embedded_ensure():
        return False
    from media_relay.worker import relay_embedded_start  # lazy: see relay_embedded_ensure

    worker = relay_embedded_start()  # the one just ensured
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(worker.registered.wait(), timeout)
    return True


_stop_hooked: set[int] = set()


def _stop_with_the_server() -> None:
    """Under daphne (Twisted), close the embedded worker's connections before the reactor
    stops: aiortc's per-receiver threads would otherwise keep the process from exiting."""
    reactor = sys.modules.get("twisted.internet.reactor")
    if reactor is None or not getattr(reactor, "running", False):
        return
    from twisted.internet.defer import Deferred  # lazy: only under daphne, which brings it

    def stop() -> Any:
        return Deferred.fromFuture(asyncio.ensure_future(relay_embedded_stop()))

    reactor.addSystemEventTrigger("before", "shutdown", stop)


async def relay_embedded_stop() -> None:
    """Stop the in-process worker (closes its connections, unregisters) if one runs."""
    from media_relay import worker  # lazy: see relay_embedded_ensure

    await worker.relay_embedded_stop()
