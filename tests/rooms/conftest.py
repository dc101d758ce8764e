from __future__ import annotations

from dataclasses import dataclass

import pytest

from accounts.models import User
from rooms.models import Room
from tests.rooms.factories import MemberFactory, RoomFactory, participant


@dataclass
class Stage:
    room: Room
    moderator: User
    speaker: User
    listener: User


@pytest.fixture
def stage(db: None) -> Stage:
    """A live open room: a moderator (its creator), a speaker and a listener."""
    room = RoomFactory()
    speaker, listener = MemberFactory(), MemberFactory()
    participant(room, speaker, "speaker")
    participant(room, listener, "listener")
    return Stage(room=room, moderator=room.created_by, speaker=speaker, listener=listener)
