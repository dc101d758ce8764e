"""The only place room events leave from, always on commit.

Two kinds:
- Room events go to everyone connected to the room (`room_broadcast`) and carry the room's
  sequence number `seq`, allocated by the service under the room row lock in the same
  transaction. Shape: ``{"type": ..., "room_id": ..., "seq": ..., "data": {...}}``.
- Personal events go to one person's sockets (`user_send`) and carry no `seq`:
  ``{"type": ..., "room_id": ..., "data": {...}}``.
- `account.disabled` (`account_disabled_send`) goes to one person's sockets and is not shown
  to the client: the transport refuses and closes each of them (`account_disabled`, 4403).
Audience joins/leaves of plain listeners are not events: `room_audience_changed` is poked on
commit and the transport coalesces them into audience-count pushes.

Every event type is listed in EVENT_TYPES and documented in docs/protocol.md
("Room actions and events").
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from rooms.realtime import broadcast, framing

ROOM_EVENT_TYPES = (
    "room.speaker_added",
    "room.speaker_removed",
    "room.moderator_added",
    "room.moderator_removed",
    "room.speaker_muted",
    "room.speaker_unmuted",
    "room.hands_changed",
    "room.hand_policy_changed",
    "room.pinned_link_changed",
    "room.user_removed",
    "room.ended",
)
PERSONAL_EVENT_TYPES = (
    "room.speaker_invited",
    "room.speaker_invite_declined",
    "room.hand_raised",
    "room.hand_lowered",
    "room.removed",
    "room.pinged",
    "room.left",
)
ACCOUNT_EVENT_TYPES = (framing.ACCOUNT_DISABLED,)
EVENT_TYPES = ROOM_EVENT_TYPES + PERSONAL_EVENT_TYPES + ACCOUNT_EVENT_TYPES


def room_event_send(*, room_id: int, seq: int, type: str, data: dict[str, Any]) -> None:
    """Broadcast a sequenced room event once the current transaction commits."""
    assert type in ROOM_EVENT_TYPES, type
    event = {"type": type, "room_id": room_id, "seq": seq, "data": data}
    transaction.on_commit(lambda: broadcast.room_broadcast(room_id, event))


def user_event_send(*, user_id: int, room_id: int, type: str, data: dict[str, Any]) -> None:
    """Send a personal (un-sequenced) event to one person once the transaction commits."""
    assert type in PERSONAL_EVENT_TYPES, type
    event = {"type": type, "room_id": room_id, "data": data}
    transaction.on_commit(lambda: broadcast.user_send(user_id, event))


def account_disabled_send(*, user_id: int) -> None:
    """Refuse every socket of a disabled account once the transaction commits."""
    transaction.on_commit(lambda: broadcast.user_account_disabled(user_id))


def room_left_elsewhere_send(*, user_id: int, room_id: int) -> None:
    """The person left the room over REST: once committed, each of their sockets in the room is
    told (`room.left`) and leaves it too (its subscription, presence and audio connection)."""
    user_event_send(user_id=user_id, room_id=room_id, type="room.left", data={"reason": "left"})


def room_joined_without_socket(*, user_id: int, room_id: int) -> None:
    """The person joined over REST: once committed, unless a socket of theirs is in the room,
    their presence grace period starts (they leave after it unless a socket joins)."""
    transaction.on_commit(lambda: broadcast.room_presence_expect(room_id, user_id))


def room_audience_changed(*, room_id: int) -> None:
    transaction.on_commit(lambda: broadcast.room_audience_changed(room_id))
