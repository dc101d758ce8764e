"""The one door from room services to connected clients.

`rooms.events` calls these on commit. The transport behind them (today: channel-layer groups;
the realtime work may replace the internals with one Redis subscription per process) must keep
these signatures. Message shapes are documented in docs/protocol.md.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def room_group(room_id: int) -> str:
    return f"room.{room_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def room_broadcast(room_id: int, event: dict[str, Any]) -> None:
    """Send a room event (already carrying its `seq`) to everyone connected to the room."""
    layer = get_channel_layer()
    assert layer is not None
    async_to_sync(layer.group_send)(room_group(room_id), {"type": "room.event", "event": event})


def user_send(user_id: int, event: dict[str, Any]) -> None:
    """Send a personal event (you were invited to speak, removed, ...) to all of a user's sockets."""
    layer = get_channel_layer()
    assert layer is not None
    async_to_sync(layer.group_send)(user_group(user_id), {"type": "user.event", "event": event})


def room_audience_changed(room_id: int, count: int | None = None) -> None:
    """Hook: the audience of `room_id` grew or shrank (plain listeners joined or left).

    Called on commit, once per change, by rooms.events. Listener joins and leaves are never
    broadcast one by one (a 5,000-person room would send 5,000 events to everyone); the
    transport behind this hook coalesces them into at most a few un-sequenced
    ``{"type": "room.audience_count", "room_id": ..., "data": {"count": ...}}`` pushes per
    second, reading the count from `rooms.selectors.room_audience_count` when `count` is None.
    Safe to call for any room, any number of times, and it must never raise into the caller.
    This default sends nothing; the realtime work implements the coalescing.
    """
    return None
