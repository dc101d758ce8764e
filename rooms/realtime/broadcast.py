"""The one door to connected clients, for every app: the realtime platform's publishing side.

`rooms.events` calls these on commit, from any thread or process (web, Celery), and so do other
apps' events modules for their personal events (`clubs.events`). Behind them is
the realtime transport (rooms/realtime/fanout.py): one Redis pub/sub channel per room and per
user, read by one subscription per web process that writes each event to that process's
sockets; in embedded mode (no REDIS_URL) the events go straight to this process's sockets.
Message shapes are documented in docs/protocol.md.

Server-side listeners that must follow every room event in the publishing process (the media
relay obeying the stage) are registered by the app that owns them at start-up
(`room_event_listen` in `RoomsConfig.ready()`): this module imports no app above it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from rooms.realtime import coalesce, fanout, framing

logger = logging.getLogger(__name__)

# Called as `listener(room_id, event)` after each room event is published; each must not raise.
RoomEventListener = Callable[[int, dict[str, Any]], None]
ROOM_EVENT_LISTENERS: list[RoomEventListener] = []


def room_event_listen(listener: RoomEventListener) -> None:
    """Idempotent: `ready()` may run more than once (tests, reloads)."""
    if listener not in ROOM_EVENT_LISTENERS:
        ROOM_EVENT_LISTENERS.append(listener)


def room_group(room_id: int) -> str:
    return f"room.{room_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def room_broadcast(room_id: int, event: dict[str, Any]) -> None:
    """Send a room event (already carrying its `seq`) to everyone connected to the room.

    Runs after commit: a Redis outage is logged, not raised (the change is committed; clients
    notice the missing `seq` with the next event and fetch a snapshot)."""
    try:
        fanout.publish(fanout.room_channel(room_id), event)
    except Exception:
        logger.exception("realtime: could not publish %s to room %s", event.get("type"), room_id)
    _mirror(room_group(room_id), {"type": "room.event", "event": event})
    # The media relay obeys the stage: mutes, moves to the audience, removals, the end.
    for listener in ROOM_EVENT_LISTENERS:
        listener(room_id, event)


def user_send(user_id: int, event: dict[str, Any]) -> None:
    """Send a personal event (you were invited to speak, removed, ...) to all of a user's sockets."""
    try:
        fanout.publish(fanout.user_channel(user_id), event)
    except Exception:
        logger.exception("realtime: could not send %s to user %s", event.get("type"), user_id)
    _mirror(user_group(user_id), {"type": "user.event", "event": event})


def room_presence_expect(room_id: int, user_id: int) -> None:
    """A member joined without a socket: start their grace period unless one is attached.
    Called after commit; never raises (the member would then stay until they leave)."""
    try:
        fanout.presence_expect_socket(room_id, user_id)
    except Exception:
        logger.exception(
            "realtime: could not start the grace of user %s in room %s", user_id, room_id
        )


def user_account_disabled(user_id: int) -> None:
    """Refuse every socket of `user_id`, on every web process: each answers the
    `account_disabled` error, closes with 4403 and lets go of its room and its audio at once
    (rooms/consumers.py). Called after the ban commits; never raises."""
    user_send(user_id, {"type": framing.ACCOUNT_DISABLED, "data": {}})


def _mirror(group: str, message: dict[str, Any]) -> None:
    """Also send the event to the channel-layer group `room.<id>` / `user.<id>`.

    Sockets never listen there (the fan-out above serves them); server-side listeners do: a
    worker that needs room events (the media relay obeying mutes and removals) or a test can
    `group_add` a channel. With the pub/sub layer this is one more PUBLISH per event, not per
    member."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:
        logger.exception("realtime: could not mirror an event to %s", group)


def room_audience_changed(room_id: int, count: int | None = None) -> None:
    """Hook: the audience of `room_id` grew or shrank (plain listeners joined or left).

    Called on commit, once per change, by rooms.events. Listener joins and leaves are never
    broadcast one by one: this only marks the room dirty, and the transport pushes at most one
    un-sequenced ``{"type": "room.audience_count", "room_id": ..., "data": {"count": ...}}``
    per room per REALTIME_AUDIENCE_COUNT_INTERVAL (cluster-wide), reading the count from the
    registered room domain (`domain.audience_count`) when `count` is None. Never raises into
    the caller.
    """
    try:
        coalesce.mark_changed(room_id, count)
    except Exception:
        logger.exception("realtime: could not mark room %s's audience as changed", room_id)
