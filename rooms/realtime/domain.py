"""The transport's only calls into the room domain (the contract with `rooms.services`,
`rooms.selectors` and `rooms.ws_actions`). Everything here is synchronous and touches the
database: the consumer calls it through `database_sync_to_async`.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model

from accounts.permissions import user_require_member_now

logger = logging.getLogger(__name__)

Action = Callable[[Any, dict[str, Any]], "dict[str, Any] | None"]


def _module(name: str) -> Any:
    return importlib.import_module(name)


def as_member(user: Any, call: Callable[..., Any], *args: Any) -> Any:
    """`call(user, *args)` for a socket's user, re-read from the database first: the account
    may have been disabled (banned) since the socket opened. One primary-key query, in the
    same thread hop as the call."""
    user_require_member_now(user)
    return call(user, *args)


def join(user: Any, room_id: int) -> dict[str, Any]:
    """Join (idempotent: a member back within the grace period keeps their role), then snapshot."""
    _module("rooms.services").room_join(user=user, room_id=room_id)
    return snapshot(user, room_id)


def snapshot(user: Any, room_id: int) -> dict[str, Any]:
    return dict(_module("rooms.selectors").room_snapshot(room_id=room_id, viewer=user))


def leave(user: Any, room_id: int) -> None:
    _module("rooms.services").room_leave(user=user, room_id=room_id)


def leave_by_id(user_id: int, room_id: int) -> None:
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is not None:
        leave(user, room_id)


def rejoin_by_id(user_id: int, room_id: int) -> None:
    """A socket came back while its member's grace period was being closed: put them back."""
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is not None:
        _module("rooms.services").room_join(user=user, room_id=room_id)


def action(frame_type: str) -> Action | None:
    try:
        actions = _module("rooms.ws_actions").ACTIONS
    except ImportError:
        return None
    return actions.get(frame_type)


def audience_count(room_id: int) -> int | None:
    """The room's audience size, from the domain, if it offers a selector for it."""
    selectors = _module("rooms.selectors")
    counter = getattr(selectors, "room_audience_count", None)
    if counter is None:
        return None
    return int(counter(room_id=room_id))
