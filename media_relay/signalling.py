"""The one seam between the web tier and relay workers (docs/relay.md, "Signalling").

The room consumer (rooms/consumers.py) and the room events leaving on commit (rooms/broadcast.py)
reach relay workers only through this module:

- `member_offer_prepare` (sync, database + placement): where a member's peer connection goes and
  the room state the relay must apply before answering the offer;
- `relay_send` (async): one message to one worker's channel;
- `relay_room_event` (sync, on commit): turns a room event into the matching relay command for
  every worker serving the room, and tells the person whose stage role changed to re-offer;
- `workers_alive` (sync): which workers still heartbeat (the web tier's relay-kill check);
- `relay_embedded_ensure` (async): the in-process worker of `make run`.

Every room-state command carries the room's `seq`; a worker ignores a state command older than
the last one it applied, so two commits whose on-commit hooks race cannot leave a stale state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from media_relay import conf, placement
from media_relay.placement import RelayUnavailable, worker_channel

logger = logging.getLogger(__name__)

__all__ = [
    "RelayUnavailable",
    "member_offer_prepare",
    "relay_embedded_enabled",
    "relay_embedded_ensure",
    "relay_embedded_ready",
    "relay_embedded_stop",
    "relay_room_event",
    "relay_send",
    "room_origins",
    "room_relay_state",
    "workers_alive",
]

STAGE_CHANGED = "stage_changed"
RELAY_MOVED = "relay_moved"


# --- placement -------------------------------------------------------------------------------


def _place_member(room_id: int, user_id: int, publishing: bool) -> str:
    return str(placement.relay_place_member(room_id, user_id, publishing))


def _room_workers(room_id: int) -> list[str]:
    return list(placement.relay_room_workers(room_id))


_registries: dict[tuple[str, str], placement.Registry] = {}


def _registry() -> placement.Registry:
    """The placement registry, one client per (Redis URL, prefix) instead of one per call."""
    key = (conf.redis_url(), conf.key_prefix())
    registry = _registries.get(key)
    if registry is None:
        registry = _registries[key] = placement.relay_registry()
    return registry


# --- reads --------------------------------------------------------------------------------


def room_relay_state(room_id: int) -> dict[str, Any] | None:
    """The room's `seq`, who is on stage and who of them is muted; None if it is not live.

    `seq` is read before the participants, so the state is at least as new as `seq`."""
    from rooms.models import Room, RoomParticipant

    room = Room.objects.filter(pk=room_id).values("seq", "status").first()
    if room is None or room["status"] != Room.Status.LIVE:
        return None
    stage = RoomParticipant.objects.filter(
        room_id=room_id, role__in=RoomParticipant.STAGE_ROLES
    ).values_list("user_id", "muted")
    speakers, muted = [], []
    for user_id, is_muted in stage:
        speakers.append(user_id)
        if is_muted:
            muted.append(user_id)
    return {"seq": room["seq"], "speakers": sorted(speakers), "muted": sorted(muted)}


def member_offer_prepare(
    room_id: int, user_id: int, publishing: bool
) -> tuple[str, dict[str, Any]]:
    """Where this member's offer goes and the `relay.room_state` to send before it.

    Raises ApplicationError `not_in_room` if the person is not (or no longer) in the live room,
    `relay_unavailable` if no relay worker lives. Blocking: call through database_sync_to_async.
    """
    from clubhouse.errors import ApplicationError
    from rooms.models import RoomParticipant

    def not_in_room() -> ApplicationError:
        return ApplicationError("Join the room first.", code="not_in_room", status=409)

    state = room_relay_state(room_id)
    if state is None:
        raise not_in_room()
    try:
        worker_id = _place_member(room_id, user_id, publishing and user_id in state["speakers"])
    except RelayUnavailable:
        raise ApplicationError(
            "The audio relay is not available; try again shortly.",
            code="relay_unavailable",
            status=503,
        ) from None
    # Checked after placement: a removal committing from here on finds this worker among the
    # room's (its `relay.remove` reaches it), and one committed before is seen here. The offer
    # carries this `seq`, so the worker refuses it if a removal newer than it got there first.
    state = room_relay_state(room_id)
    if (
        state is None
        or not RoomParticipant.objects.filter(room_id=room_id, user_id=user_id).exists()
    ):
        _registry().forget_member(room_id, user_id, worker_id)
        raise not_in_room()
    return worker_id, {"type": "relay.room_state", "room_id": room_id, **state}


def workers_alive(worker_ids: set[str]) -> dict[str, bool]:
    """For each worker id: whether its heartbeat is fresh. Blocking (Redis).

    Every web process with WebRTC sockets calls this each REALTIME_RELAY_CHECK_SECONDS, so in
    Redis it reads just those workers' keys (one MGET) rather than scanning for all workers."""
    return _registry().workers_alive(worker_ids)


def room_origins(room_ids: set[int]) -> dict[int, str | None]:
    """Each room's origin worker (None if the room is not placed). Blocking (Redis)."""
    registry = _registry()
    return {room_id: registry.room_worker(room_id) for room_id in room_ids}


# --- sending ------------------------------------------------------------------------------


async def relay_send(worker_id: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RelayUnavailable("no channel layer configured")
    await layer.send(worker_channel(worker_id), message)


def relay_room_event(room_id: int, event: dict[str, Any]) -> None:
    """On commit of a room event: send the relay the matching command, and ask the person whose
    stage role changed to re-offer. Never raises (the change is committed; logged instead)."""
    try:
        _relay_room_event(room_id, event)
    except Exception:
        logger.exception("relay: could not forward %s of room %s", event.get("type"), room_id)


_STATE_EVENTS = {"room.speaker_added", "room.moderator_added", "room.moderator_removed"}
_RELAY_EVENTS = _STATE_EVENTS | {
    "room.speaker_removed",
    "room.speaker_muted",
    "room.speaker_unmuted",
    "room.user_removed",
    "room.ended",
}


def _relay_room_event(room_id: int, event: dict[str, Any]) -> None:
    kind = event.get("type")
    if kind not in _RELAY_EVENTS:
        return
    data = event.get("data") or {}
    seq = event.get("seq")
    user_id = data.get("user_id") or (data.get("user") or {}).get("id")
    # Joining or leaving the stage changes whether the person may publish: they re-offer, with
    # or without a mic m-line. (A moderator is added or removed from among those on stage.)
    if kind == "room.speaker_added" or (
        kind == "room.speaker_removed" and data.get("reason") != "left_room"
    ):
        _renegotiate(user_id, room_id, STAGE_CHANGED)

    workers = _room_workers(room_id)
    if not workers:
        return  # nobody in this room has started WebRTC: nothing to enforce
    messages: list[dict[str, Any]] = []
    base = {"room_id": room_id, "seq": seq}
    if kind == "room.ended":
        messages.append({"type": "relay.end", "room_id": room_id})
    elif kind == "room.user_removed":
        messages.append({**base, "type": "relay.remove", "user_id": user_id, "reason": "removed"})
    elif kind in ("room.speaker_muted", "room.speaker_unmuted"):
        muted = kind == "room.speaker_muted"
        messages.append({**base, "type": "relay.mute", "user_id": user_id, "muted": muted})
    elif kind == "room.speaker_removed":
        messages.append({**base, "type": "relay.move_to_audience", "user_id": user_id})
    else:
        state = room_relay_state(room_id)
        if state is None:
            return
        messages.append({"type": "relay.room_state", "room_id": room_id, **state})
    layer = get_channel_layer()
    if layer is None:
        return
    for worker_id in workers:
        for message in messages:
            async_to_sync(layer.send)(worker_channel(worker_id), message)


def _renegotiate(user_id: Any, room_id: int, reason: str) -> None:
    if not isinstance(user_id, int):
        return
    from rooms.realtime import fanout

    event = {"type": "rtc.renegotiate", "room_id": room_id, "data": {"reason": reason}}
    fanout.publish(fanout.user_channel(user_id), event)


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
    from media_relay.worker import relay_embedded_start

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
    from twisted.internet.defer import Deferred

    def stop() -> Any:
        return Deferred.fromFuture(asyncio.ensure_future(relay_embedded_stop()))

    reactor.addSystemEventTrigger("before", "shutdown", stop)


async def relay_embedded_stop() -> None:
    """Stop the in-process worker (closes its connections, unregisters) if one runs."""
    from media_relay import worker

    running, task = worker._embedded, worker._embedded_task
    if running is None or task is None or task.done():
        return
    running.stop()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(asyncio.shield(task), 5)
