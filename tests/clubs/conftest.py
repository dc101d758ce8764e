from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from accounts.models import User
from clubs import events
from clubs.models import Club, ClubMembership
from tests.clubs.factories import (
    ClubFactory,
    FollowFactory,
    MembershipFactory,
    UserFactory,
    block,
)


@dataclass
class World:
    """One club and a person in every relation to it."""

    club: Club
    admin: User
    leader: User
    member: User
    follower: User
    stranger: User
    blocked: User
    waitlisted: User

    def person(self, role: str) -> User | None:
        return None if role == "anonymous" else getattr(self, role)


@pytest.fixture
def world(db: Any) -> World:
    club = ClubFactory()
    admin = club.created_by
    leader = MembershipFactory(club=club, role=ClubMembership.Role.LEADER).user
    member = MembershipFactory(club=club).user
    follower = FollowFactory(club=club).user
    blocked = UserFactory()
    block(admin, blocked)
    return World(
        club=club,
        admin=admin,
        leader=leader,
        member=member,
        follower=follower,
        stranger=UserFactory(),
        blocked=blocked,
        waitlisted=UserFactory(status=User.Status.WAITLISTED),
    )


@pytest.fixture(autouse=True)
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, dict]]:
    """Personal WebSocket events the clubs app sent, in order (no channel layer needed)."""
    messages: list[tuple[int, dict]] = []
    monkeypatch.setattr(
        events, "user_send", lambda user_id, event: messages.append((user_id, event))
    )
    return messages


@pytest.fixture
def lost_hook(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """A registered membership-lost hook that records its calls."""
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(events, "MEMBERSHIP_LOST_HOOKS", [lambda c, u: calls.append((c, u))])
    return calls
