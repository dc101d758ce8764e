"""A daphne process serving only /ws/ for the room-events benchmark (bench/room_events.py).

What is real: daphne, the RoomConsumer (framing, request/reply, join with subscribe-first and
snapshot + seq, the `ACTIONS` dispatch on the database pool of rooms/realtime/dbpool.py), the Redis fan-out hub,
presence in Redis, gc.freeze. What stands in: authentication (`?bench_user=<id>` instead of a
session, so 2,000 members need no 2,000 logins) and the room domain (join/snapshot/leave keep
the room's `seq` in a Redis counter; the moderator action `bench.action` bumps it and calls
`rooms.realtime.broadcast.room_broadcast`, exactly what a service does on commit). It measures the
transport, not the database work of a real stage action.
"""

from __future__ import annotations

import resource
from typing import Any
from urllib.parse import parse_qs

import redis
from channels.routing import URLRouter
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import path

from rooms.consumers import RoomConsumer
from rooms.realtime import broadcast, conf, domain


class BenchUser:
    is_authenticated = True
    is_active = True
    is_member = True

    def __init__(self, pk: int) -> None:
        self.pk = self.id = pk


class BenchRooms:
    def __init__(self) -> None:
        self.redis = redis.Redis.from_url(conf.redis_url())
        self.ACTIONS = {"bench.action": self.action}

    def _key(self, room_id: int) -> str:
        return f"{conf.key_prefix()}:bench:seq:{room_id}"

    def room_join(self, *, user: Any, room_id: int) -> None:
        return None

    def room_leave(self, *, user: Any, room_id: int) -> None:
        return None

    def room_snapshot(self, *, room_id: int, viewer: Any) -> dict[str, Any]:
        return {"room": {"id": room_id}, "seq": int(self.redis.get(self._key(room_id)) or 0)}

    def room_audience_count(self, *, room_id: int) -> int:
        return 0

    def action(self, user: Any, payload: dict[str, Any]) -> dict[str, Any]:
        room_id = int(payload["room_id"])
        seq = int(self.redis.incr(self._key(room_id)))
        event = {"type": "room.bench", "room_id": room_id, "seq": seq, "data": payload["data"]}
        broadcast.room_broadcast(room_id, event)
        return {"seq": seq}


def bench_auth(inner: Any) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> Any:
        query = parse_qs(scope.get("query_string", b"").decode())
        user_id = int(query.get("bench_user", ["0"])[0])
        scope = dict(scope, user=BenchUser(user_id) if user_id else None)
        return await inner(scope, receive, send)

    return app


class Command(BaseCommand):
    help = "Serve /ws/ for bench/room_events.py (bench auth and domain; see the module doc)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--port", type=int, default=8765)

    def handle(self, *args: Any, port: int, **options: Any) -> None:
        from daphne.server import Server

        if not settings.DEBUG:
            # Anyone who can reach it may claim any user id: development machines only.
            raise CommandError("The benchmark server runs only with DJANGO_DEBUG=1.")

        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        fake = BenchRooms()
        domain.register(
            domain.RoomDomain(
                join=fake.room_join,
                leave=fake.room_leave,
                snapshot=fake.room_snapshot,
                audience_count=fake.room_audience_count,
                actions=fake.ACTIONS,
            )
        )
        application = bench_auth(URLRouter([path("ws/", RoomConsumer.as_asgi())]))
        Server(
            application=application,
            endpoints=[f"tcp:port={port}:interface=127.0.0.1:backlog=4096"],
            signal_handlers=True,
            verbosity=0,
            ping_interval=600,
        ).run()
