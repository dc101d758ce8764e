from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from media_relay import fastpath
from media_relay.sessions import RelayRoom
from media_relay.testing import ListenerClient, SpeakerClient

SPEAKER = 1


@dataclass
class Stage:
    room: RelayRoom
    speaking: list[tuple[int, int, bool, int]] = field(default_factory=list)
    closed: list[tuple[int, int, str]] = field(default_factory=list)
    clients: list[SpeakerClient | ListenerClient] = field(default_factory=list)

    async def speaker(self, user_id: int = SPEAKER, slots: int = 0) -> SpeakerClient:
        client = SpeakerClient()
        self.clients.append(client)
        await client.answer(await self.room.peer_offer(user_id, await client.offer(slots)))
        return client

    async def listener(self, user_id: int) -> ListenerClient:
        client = ListenerClient()
        self.clients.append(client)
        await client.answer(await self.room.peer_offer(user_id, await client.offer()))
        return client


@pytest.fixture
async def stage() -> AsyncIterator[Stage]:
    holder: dict[str, Stage] = {}
    room = RelayRoom(
        7,
        slots=3,
        on_speaking=lambda *e: holder["s"].speaking.append(e),
        on_peer_closed=lambda *e: holder["s"].closed.append(e),
    )
    holder["s"] = s = Stage(room)
    room.room_state({SPEAKER}, set())
    try:
        yield s
    finally:
        await room.close()
        for client in s.clients:
            await client.close()


@pytest.fixture
def c_loop() -> None:
    """The suite requires the relay's C send loop (`make` builds it): without it the tests that
    use it fail and say why, never skip."""

    if not fastpath.available():
        pytest.fail(f"the relay's C send loop is not available: {fastpath.status()}")
