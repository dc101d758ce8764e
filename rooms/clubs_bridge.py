"""The one place rooms asks the clubs app about membership.

The clubs issue adds roles and memberships later. Until `clubs.selectors` offers
`club_is_member(user, club) -> bool` and `user_club_ids(user) -> Iterable[int]`, club rooms are
open to every member and nobody's hallway gets a club boost. Nothing else in rooms imports clubs
selectors, so wiring the real answer in is a change to this file only.
"""

from __future__ import annotations

import importlib
from typing import Any


def _clubs_selector(name: str) -> Any:
    try:
        module = importlib.import_module("clubs.selectors")
    except ModuleNotFoundError:
        return None
    return getattr(module, name, None)


def club_allows_member(user: Any, club: Any) -> bool:
    """May `user` enter a members-only room of `club`?"""
    check = _clubs_selector("club_is_member")
    return True if check is None else bool(check(user, club))


def user_club_ids(user: Any) -> set[int] | None:
    """Ids of the clubs `user` belongs to, or None while clubs cannot say (treat all as allowed)."""
    select = _clubs_selector("user_club_ids")
    return None if select is None else set(select(user))
