"""Helpers for the realtime tests (no tests here): a room-domain stand-in with the agreed
contract, the communicator transport for the Python client, sockets and hubs.

FakeRooms implements exactly what the transport calls — `room_join`, `room_leave`,
`room_snapshot` (with `seq`), `ACTIONS`, `room_audience_count`, registered as the transport's
room domain with `as_domain()` — and publishes its events
through the real `rooms.realtime.broadcast`, so everything from the publish on is the real transport.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from typing import Any

from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.urls import path

from accounts.models import User
from clubhouse.errors import Conflict, InvalidInput, PermissionDenied
from clubhouse.ws_auth import TokenOrSessionAuthMiddleware
from rooms.client import RoomClient
from rooms.consumers import RoomConsumer
from rooms.realtime import broadcast, domain
from rooms.realtime.coalesce import make_coalescer
from rooms.realtime.fanout import Hub
from rooms.realtime.presence import make_presence


class FakeRooms:
    def __init__(self, *, publish_jitter: float = 0.0) -> None:
        self.lock = threading.Lock()
        self.rooms: dict[int, dict[str, Any]] = {}
        self.leaves: list[tuple[int, int]] = []
        self.joins: list[tuple[int, int]] = []
        # > 0: publish after "commit" with a random delay, outside the lock, so events of one
        # room can reach Redis out of order (as with several web processes).
        self.publish_jitter = publish_jitter
        self.ACTIONS = {
            "room.tally": self.tally,
            "room.remove": self.remove,
            "room.end": self.end,
            "room.boom": self.boom,
            "room.invalid": self.invalid,
            "room.set_role": self.set_role,
        }

    def _room(self, room_id: int) -> dict[str, Any]:
        return self.rooms.setdefault(
            room_id, {"seq": 0, "tally": 0, "members": {}, "removed": set(), "ended": False}
        )

    def _emit(self, room_id: int, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        """Caller holds the lock."""
        room = self._room(room_id)
        room["seq"] += 1
        return {"type": kind, "room_id": room_id, "seq": room["seq"], "data": data}

    def _publish(self, event: dict[str, Any]) -> None:
        if self.publish_jitter:
            time.sleep(random.random() * self.publish_jitter)
        broadcast.room_broadcast(event["room_id"], event)

    # the contract -----------------------------------------------------------------------------

    def as_domain(self) -> domain.RoomDomain:
        return domain.RoomDomain(
            join=self.room_join,
            leave=self.room_leave,
            snapshot=self.room_snapshot,
            audience_count=self.room_audience_count,
            actions=self.ACTIONS,
        )

    def room_join(self, *, user: Any, room_id: int) -> dict[str, Any]:
        with self.lock:
            room = self._room(room_id)
            if user.pk in room["removed"]:
                raise PermissionDenied("You were removed from this room.", code="removed")
            if room["ended"]:
                raise Conflict("This room has ended.", code="room_ended")
            room["members"].setdefault(user.pk, "listener")
            self.joins.append((room_id, user.pk))
            count = len(room["members"])
        broadcast.room_audience_changed(room_id, count)
        return {"room_id": room_id, "user_id": user.pk}

    def room_leave(self, *, user: Any, room_id: int) -> None:
        with self.lock:
            self._room(room_id)["members"].pop(user.pk, None)
            self.leaves.append((room_id, user.pk))

    def room_snapshot(self, *, room_id: int, viewer: Any) -> dict[str, Any]:
        with self.lock:
            room = self._room(room_id)
            return {
                "room": {"id": room_id},
                "seq": room["seq"],
                "tally": room["tally"],
                "your_role": room["members"].get(viewer.pk),
                "audience_count": len(room["members"]),
            }

    def room_audience_count(self, *, room_id: int) -> int:
        with self.lock:
            return len(self._room(room_id)["members"])

    # actions (user, payload) -> data ------------------------------------------------------------

    def tally(self, user: Any, payload: dict[str, Any]) -> dict[str, Any]:
        room_id = payload["room_id"]
        with self.lock:
            room = self._room(room_id)
            room["tally"] += 1
            event = self._emit(room_id, "room.tallied", {"tally": room["tally"]})
            if not self.publish_jitter:
                self._publish(event)
        if self.publish_jitter:
            self._publish(event)
        return {"tally": event["data"]["tally"]}

    def remove(self, user: Any, payload: dict[str, Any]) -> None:
        room_id, target = payload["room_id"], payload["user_id"]
        with self.lock:
            room = self._room(room_id)
            room["removed"].add(target)
            room["members"].pop(target, None)
            self._publish(self._emit(room_id, "room.user_removed", {"user_id": target}))

    def end(self, user: Any, payload: dict[str, Any]) -> None:
        with self.lock:
            self._room(payload["room_id"])["ended"] = True
            self._publish(self._emit(payload["room_id"], "room.ended", {}))

    def set_role(self, user: Any, payload: dict[str, Any]) -> None:
        with self.lock:
            self._room(payload["room_id"])["members"][user.pk] = payload["role"]

    def boom(self, user: Any, payload: dict[str, Any]) -> None:
        raise RuntimeError("a bug in a handler")

    def invalid(self, user: Any, payload: dict[str, Any]) -> None:
        raise InvalidInput(fields={"title": ["Too long."]})


# --- sockets -------------------------------------------------------------------------------------


class CommunicatorTransport:
    """Lets RoomClient drive a Channels WebsocketCommunicator."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.close_code: int | None = None

    async def send_text(self, text: str) -> None:
        await self.communicator.send_to(text_data=text)

    async def recv(self) -> str | None:
        # Read the queue directly: receive_output() cancels the application on a timeout.
        message = await self.communicator.output_queue.get()
        if message["type"] == "websocket.send":
            return message.get("text")
        if message["type"] == "websocket.close":
            self.close_code = message.get("code", 1000)
        return None

    async def close(self) -> None:
        await self.communicator.disconnect()


def make_hub(**overrides: Any) -> Hub:
    redis_url = overrides.pop("redis_url", settings.REDIS_URL)
    presence = make_presence(
        redis_url, grace=overrides.pop("grace", 0.4), ttl=overrides.pop("ttl", 0.6)
    )
    coalescer = make_coalescer(redis_url, interval=overrides.pop("interval", 0.2))
    return Hub(
        redis_url=redis_url,
        presence=presence,
        coalescer=coalescer,
        sweep_seconds=overrides.pop("sweep", 0.05),
        heartbeat_seconds=overrides.pop("heartbeat", 0.1),
    )


def application(hub: Hub) -> Any:
    return TokenOrSessionAuthMiddleware(URLRouter([path("ws/", RoomConsumer.as_asgi(hub=hub))]))


@sync_to_async
def make_user(username: str, *, member: bool = True) -> User:
    status = User.Status.MEMBER if member else User.Status.WAITLISTED
    return User.objects.create_user(
        username=username, email=f"{username}@example.com", password="x", status=status
    )


@sync_to_async
def session_key_for(user: User) -> str:
    """A logged-in session: its key is the browser's cookie and also the app's session token."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    assert session.session_key
    return session.session_key


async def open_socket(
    hub: Hub,
    user: User | None = None,
    *,
    query: str = "",
    headers: list | None = None,
    raw: bool = False,
) -> tuple[RoomClient | None, WebsocketCommunicator]:
    """A connected socket, read by a RoomClient unless `raw` (then read the communicator)."""
    all_headers = list(headers or [])
    if user is not None:
        key = await session_key_for(user)
        all_headers.append((b"cookie", f"sessionid={key}".encode()))
    communicator = WebsocketCommunicator(
        application(hub), "/ws/" + query, headers=all_headers, subprotocols=["clubhouse.v1"]
    )
    connected, _subprotocol = await communicator.connect()
    assert connected
    if raw:
        return None, communicator
    return RoomClient(CommunicatorTransport(communicator)), communicator


async def eventually(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def flush_redis_keys(prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(settings.REDIS_URL)
    async for key in client.scan_iter(match=f"{prefix}:rt:*", count=500):
        await client.delete(key)
    await client.aclose()
