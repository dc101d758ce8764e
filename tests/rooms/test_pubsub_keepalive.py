"""The fan-out's Redis subscriber notices a connection that died without a word (a half-open TCP
connection: a partition, a vanished host) and comes back on its own.

A proxy between the subscriber and the real Redis plays the network: it can swallow everything
on the connections it carries while keeping them open, so neither side ever sees a close.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any
from urllib.parse import urlparse

import pytest
import redis.asyncio as aioredis

from rooms.realtime.pubsub import RedisSubscriber

pytestmark = pytest.mark.redis


class SilentNetwork:
    """A TCP proxy to Redis. `go_silent()` makes every connection open so far swallow all bytes
    in both directions and stay open; later connections pass normally."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.connections: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = []
        self.silent: set[int] = set()
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        redis_r, redis_w = await asyncio.open_connection(*self.target)
        index = len(self.connections)
        self.connections.append((client_w, redis_w))
        for src, dst in ((client_r, redis_w), (redis_r, client_w)):
            task = asyncio.create_task(self._pipe(index, src, dst))
            self.tasks.add(task)

    async def _pipe(self, index: int, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await src.read(65536):
                if index not in self.silent:
                    dst.write(data)

    def go_silent(self) -> None:
        self.silent.update(range(len(self.connections)))

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        for task in self.tasks:
            task.cancel()
        for pair in self.connections:
            for writer in pair:
                writer.close()


async def _until(predicate: Any, timeout: float, *, poke: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        if poke is not None:
            await poke()
        await asyncio.sleep(0.1)


async def test_a_subscriber_on_a_silently_dead_connection_reconnects_and_hears_again(
    redis_url: str,
) -> None:
    target = urlparse(redis_url)
    network = SilentNetwork(target.hostname or "127.0.0.1", target.port or 6379)
    port = await network.start()
    heard: list[bytes] = []

    async def on_message(channel: str, payload: bytes) -> None:
        heard.append(payload)

    subscriber = RedisSubscriber(
        f"redis://127.0.0.1:{port}/0", on_message, ping_seconds=0.5, ping_timeout=1.0
    )
    publisher = aioredis.Redis.from_url(redis_url)
    channel = f"keepalive-test-{uuid.uuid4().hex}"
    try:
        await subscriber.start()
        await subscriber.subscribe(channel)
        await publisher.publish(channel, b"before")
        await _until(lambda: b"before" in heard, 5)

        network.go_silent()  # the connection stays open; nothing crosses it any more
        await publisher.publish(channel, b"lost")  # published into the silence

        # Within a couple of PING periods it gives up on the dead connection, opens a new one
        # (through the same network, which now passes) and subscribes again.
        await _until(lambda: subscriber.connections_lost >= 1, 10)
        await _until(lambda: len(network.connections) >= 2, 10)

        async def publish_after() -> None:
            await publisher.publish(channel, b"after")

        await _until(lambda: b"after" in heard, 10, poke=publish_after)
        assert b"lost" not in heard  # what was published into the silence is gone (seq gap)
    finally:
        await subscriber.close()
        await publisher.aclose()
        await network.close()


async def test_after_reconnecting_the_subscriber_says_so_once_every_channel_is_confirmed(
    redis_url: str,
) -> None:
    """The hub's cue to tell sockets to re-sync (rooms/realtime/fanout.py): called after a lost
    connection only, with every channel, once Redis confirmed them all (a PUBLISH sent when the
    callback runs reaches the subscriber)."""
    target = urlparse(redis_url)
    network = SilentNetwork(target.hostname or "127.0.0.1", target.port or 6379)
    port = await network.start()
    heard: list[bytes] = []
    resubscribed: list[list[str]] = []
    publisher = aioredis.Redis.from_url(redis_url)
    channels = sorted(f"resync-test-{uuid.uuid4().hex}-{n}" for n in range(3))

    async def on_message(channel: str, payload: bytes) -> None:
        heard.append(payload)

    async def on_resubscribed(names: list[str]) -> None:
        resubscribed.append(names)
        await publisher.publish(channels[0], b"right after")

    subscriber = RedisSubscriber(
        f"redis://127.0.0.1:{port}/0",
        on_message,
        ping_seconds=0.5,
        ping_timeout=1.0,
        on_resubscribed=on_resubscribed,
    )
    try:
        await subscriber.start()
        for channel in channels:
            await subscriber.subscribe(channel)
        assert resubscribed == []  # the first connection is no reconnection

        network.go_silent()
        await _until(lambda: resubscribed != [], 10)
        assert resubscribed == [channels]
        await _until(lambda: b"right after" in heard, 10)
    finally:
        await subscriber.close()
        await publisher.aclose()
        await network.close()
