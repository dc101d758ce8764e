"""The one door from room services to connected clients.

`rooms.events` calls these on commit, from any thread or process (web, Celery). Behind them is
the realtime transport (rooms/realtime/fanout.py): one Redis pub/sub channel per room and per
user, read by one subscription per web process that writes each event to that process's
sockets; in embedded mode (no REDIS_URL) the events go straight to this process's sockets.
Message shapes are documented in docs/protocol.md.
"""

from __future__ import annotations

from typing import Any

from rooms.realtime import coalesce, fanout


def room_group(room_id: int) -> str:
    return f"room.{room_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def room_broadcast(room_id: int, event: dict[str, Any]) -> None:
    """Send a room event (already carrying its `seq`) to everyone connected to the room."""
    fanout.publish(fanout.room_channel(room_id), event)


def user_send(user_id: int, event: dict[str, Any]) -> None:
    """Send a personal event (you were invited to speak, removed, ...) to all of a user's sockets."""
    fanout.publish(fanout.user_channel(user_id), event)


def room_audience_changed(room_id: int, count: int | None = None) -> None:
    """The audience of a room changed. Members get an un-sequenced `room.audience_count` push
    at most a few times a second per room (REALTIME_AUDIENCE_COUNT_INTERVAL), not one per join.
    `count` is optional: without it the transport asks `rooms.selectors.room_audience_count`."""
    coalesce.mark_changed(room_id, count)
