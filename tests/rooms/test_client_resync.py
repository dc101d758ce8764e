"""rooms/client.py answers the server's `room.resync` push (docs/protocol.md) as it answers a
`seq` gap: it asks for `room.snapshot` at once and yields `client.resync` with it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from rooms.client import RoomClient


class ScriptedServer:
    """A transport whose server side the test plays: frames the client sent, frames to push."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.inbox: asyncio.Queue[str | None] = asyncio.Queue()
        self.got_request = asyncio.Event()

    async def send_text(self, text: str) -> None:
        self.sent.append(json.loads(text))
        self.got_request.set()

    async def recv(self) -> str | None:
        return await self.inbox.get()

    async def close(self) -> None:
        self.inbox.put_nowait(None)

    def push(self, frame: dict[str, Any]) -> None:
        self.inbox.put_nowait(json.dumps(frame))

    async def next_request(self) -> dict[str, Any]:
        await asyncio.wait_for(self.got_request.wait(), 5)
        self.got_request.clear()
        return self.sent[-1]


async def joined(server: ScriptedServer, seq: int) -> RoomClient:
    client = RoomClient(server)
    joining = asyncio.create_task(client.join(7))
    request = await server.next_request()
    server.push({"type": "reply", "id": request["id"], "data": {"seq": seq, "stage": []}})
    await joining
    return client


async def test_a_resync_push_fetches_a_snapshot_without_waiting_for_the_next_event() -> None:
    server = ScriptedServer()
    client = await joined(server, seq=4)

    server.push({"type": "room.resync", "room_id": 7, "data": {}})
    request = await server.next_request()
    assert request["type"] == "room.snapshot"
    server.push({"type": "reply", "id": request["id"], "data": {"seq": 6, "stage": ["x"]}})

    item = await client.next_event(timeout=5)
    assert item == {"type": "client.resync", "snapshot": {"seq": 6, "stage": ["x"]}}
    assert client.seq == 6
    server.push({"type": "room.hands_changed", "room_id": 7, "seq": 7, "data": {"count": 1}})
    assert (await client.next_event(timeout=5))["seq"] == 7
    await client.close()


async def test_a_resync_push_for_another_room_is_ignored() -> None:
    server = ScriptedServer()
    client = await joined(server, seq=4)
    sent = len(server.sent)

    server.push({"type": "room.resync", "room_id": 8, "data": {}})
    server.push({"type": "room.hands_changed", "room_id": 7, "seq": 5, "data": {"count": 1}})
    assert (await client.next_event(timeout=5))["seq"] == 5
    assert len(server.sent) == sent  # no snapshot asked for
    await client.close()
