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
