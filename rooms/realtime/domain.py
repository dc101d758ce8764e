"""The transport's only calls into the room domain, through what the domain registered.

The transport sits below the room domain: it never imports `rooms.services`,
`rooms.selectors` or `rooms.ws_actions`. The rooms app registers its functions at start-up
(`RoomsConfig.ready()` calls `register`), and the consumer and the hub call them through the
functions below. Nothing registered is a start-up mistake (the app is not installed, or a
process did not call `django.setup()`) and every call says so (`DomainNotRegistered`).

Everything here is synchronous and touches the database: the consumer calls it through
`database_sync_to_async`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from django.contrib.auth import get_user_model

from accounts.permissions import user_require_member_now

logger = logging.getLogger(__name__)

# A room action by frame type: (user, payload) -> reply data.
Action = Callable[[Any, dict[str, Any]], "dict[str, Any] | None"]


class RoomJoin(Protocol):
    """Enter the room; idempotent (a member back within the grace period keeps their role)."""

    def __call__(self, *, user: Any, room_id: int) -> object: ...


class RoomLeave(Protocol):
    def __call__(self, *, user: Any, room_id: int) -> object: ...


class RoomSnapshot(Protocol):
    """Everything a client needs to draw the room, with the `seq` it reflects."""

    def __call__(self, *, room_id: int, viewer: Any) -> Mapping[str, Any]: ...


class RoomEnter(Protocol):
    """Join, then the snapshot, in one transaction (one wait for the room's lock, not two)."""

    def __call__(self, *, user: Any, room_id: int) -> Mapping[str, Any]: ...


class RoomAudienceCount(Protocol):
    def __call__(self, *, room_id: int) -> int: ...


@dataclass(frozen=True)
class RoomDomain:
    join: RoomJoin
    leave: RoomLeave
    snapshot: RoomSnapshot
    audience_count: RoomAudienceCount
    actions: Mapping[str, Action]  # by frame type, e.g. "room.hand_raise"
    # Optional: without it, `join` then `snapshot`, each in its own transaction.
    enter: RoomEnter | None = None


class DomainNotRegistered(RuntimeError):
    pass


_registered: RoomDomain | None = None


def register(room_domain: RoomDomain) -> None:
    """Called by `RoomsConfig.ready()`; registering again replaces (ready() may run twice)."""
    global _registered
    _registered = room_domain


def registered() -> RoomDomain:
    if _registered is None:
        raise DomainNotRegistered(
            "No room domain is registered with the realtime transport: `RoomsConfig.ready()` "
            "registers it (is `rooms` in INSTALLED_APPS, and did the process call "
            "django.setup()?)."
        )
    return _registered


def as_member(user: Any, call: Callable[..., Any], *args: Any) -> Any:
    """`call(user, *args)` for a socket's user, re-read from the database first: the account
    may have been disabled (banned) since the socket opened. One primary-key query, in the
    same thread hop as the call."""
    user_require_member_now(user)
    return call(user, *args)


def join(user: Any, room_id: int) -> dict[str, Any]:
    """Join (idempotent: a member back within the grace period keeps their role), then snapshot."""
    room_domain = registered()
    if room_domain.enter is not None:
        return dict(room_domain.enter(user=user, room_id=room_id))
    room_domain.join(user=user, room_id=room_id)
    return snapshot(user, room_id)


def snapshot(user: Any, room_id: int) -> dict[str, Any]:
    return dict(registered().snapshot(room_id=room_id, viewer=user))


def leave(user: Any, room_id: int) -> None:
    registered().leave(user=user, room_id=room_id)


def leave_by_id(user_id: int, room_id: int) -> None:
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is not None:
        leave(user, room_id)


def rejoin_by_id(user_id: int, room_id: int) -> None:
    """A socket came back while its member's grace period was being closed: put them back."""
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is not None:
        registered().join(user=user, room_id=room_id)


def action(frame_type: str) -> Action | None:
    return registered().actions.get(frame_type)


def audience_count(room_id: int) -> int:
    """The room's audience size, from the domain."""
    return int(registered().audience_count(room_id=room_id))
