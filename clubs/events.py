"""The only place clubs talk to connected clients and to other apps, always after commit.

Personal events reach a person's sockets through the realtime platform's door
(`rooms.realtime.broadcast.user_send`), the same one rooms' events take.

`MEMBERSHIP_LOST_HOOKS` is the seam for rooms: each hook is called as `hook(club_id, user_id)`
after a transaction that cost the user their access to the club's members-only rooms commits
(removed, left, or premium lapsed in an exclusive club). Register at app start-up, e.g.
`clubs.events.MEMBERSHIP_LOST_HOOKS.append(rooms.services.room_club_access_lost)`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from django.db import transaction

from rooms.realtime.broadcast import user_send

logger = logging.getLogger(__name__)

MembershipLostHook = Callable[[int, int], object]  # what a hook returns is not used
MEMBERSHIP_LOST_HOOKS: list[MembershipLostHook] = []

MEMBERSHIP_LOST = "club.membership_lost"
ROLE_CHANGED = "club.role_changed"


def on_membership_lost(club_id: int, user_id: int, reason: str = "removed") -> None:
    """Tell the user's sockets, then every hook. One failure does not stop the others."""
    try:
        user_send(
            user_id, {"type": MEMBERSHIP_LOST, "data": {"club_id": club_id, "reason": reason}}
        )
    except Exception:
        logger.exception("club.membership_lost: could not reach user %s", user_id)
    for hook in list(MEMBERSHIP_LOST_HOOKS):  # noqa: PERF101 - a snapshot: a hook may (un)register hooks
        try:
            hook(club_id, user_id)
        except Exception:
            logger.exception("membership-lost hook %r failed for club %s", hook, club_id)


def membership_lost_on_commit(club_id: int, user_id: int, reason: str) -> None:
    transaction.on_commit(partial(on_membership_lost, club_id, user_id, reason))


def on_role_changed(club_id: int, user_id: int, role: str | None) -> None:
    try:
        user_send(user_id, {"type": ROLE_CHANGED, "data": {"club_id": club_id, "role": role}})
    except Exception:
        logger.exception("club.role_changed: could not reach user %s", user_id)


def role_changed_on_commit(club_id: int, user_id: int, role: str | None) -> None:
    transaction.on_commit(partial(on_role_changed, club_id, user_id, role))
