"""A minimal Redis pub/sub subscriber on one connection, written for the fan-out hub.

Why not redis-py's PubSub: the hub needs to know when Redis has *processed* a SUBSCRIBE (the
snapshot + seq guarantee depends on it), and it reads one message stream in one task. Speaking
RESP directly makes both explicit: Redis answers commands in order, so the n-th `subscribe`
confirmation for a channel belongs to the n-th SUBSCRIBE we sent for it.

A subscriber only reads, so a connection that died without a word (a half-open TCP connection
after a network partition or a host that vanished) would leave it deaf forever. It PINGs Redis
every `ping_seconds`; when nothing at all came back for `ping_seconds + ping_timeout` it drops
the connection, reconnects and subscribes again to every channel its sockets still need. A
connection Redis closed (a restart) is retried at once, then with a back-off of at most
`RECONNECT_MAX_DELAY_S`. Connecting is bounded by `ping_timeout` too.

Events published while it was not subscribed are lost to it. Once every channel is subscribed
again it calls `on_resubscribed(channels)`: the hub then tells each socket to fetch a snapshot
(`room.resync`, docs/protocol.md), so clients catch up without waiting for the next event.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from urllib.parse import unquote, urlparse

logger = logging.getLogger(__name__)

MessageHandler = Callable[[str, bytes], Awaitable[None]]
ResubscribedHandler = Callable[[list[str]], Awaitable[None]]


def _command(*parts: str | bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


async def _read_reply(reader: asyncio.StreamReader) -> object:
    line = await reader.readline()
    if not line:
        raise ConnectionError("Redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"*":
        return [await _read_reply(reader) for _ in range(int(rest))]
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        return (await reader.readexactly(size + 2))[:-2]
    if kind == b":":
        return int(rest)
    if kind == b"+":
        return rest
    if kind == b"-":
        raise ConnectionError(f"Redis error: {rest.decode(errors='replace')}")
    raise ConnectionError(f"Unexpected Redis reply {line!r}")


PING_SECONDS = 5.0
PING_TIMEOUT = 5.0
# Reconnection attempts back off from 0.1 s to this: a refused connect costs nothing, and a
# restarted Redis is noticed within this long (docs/operations.md, "Recovery").
RECONNECT_MAX_DELAY_S = 1.0


class RedisSubscriber:
    """One connection, any number of channels; `on_message(channel, payload)` runs in order."""

    def __init__(
        self,
        url: str,
        on_message: MessageHandler,
        *,
        ping_seconds: float = PING_SECONDS,
        ping_timeout: float = PING_TIMEOUT,
        on_resubscribed: ResubscribedHandler | None = None,
    ) -> None:
        self._url = url
        self._on_message = on_message
        self._on_resubscribed = on_resubscribed
        self._resubscribing: asyncio.Task[None] | None = None
        self._ping_seconds = ping_seconds
        self._ping_timeout = ping_timeout
        self._last_reply = 0.0  # loop time of the last thing Redis sent
        self.connections_lost = 0
        self._channels: set[str] = set()
        self._pending: dict[str, collections.deque[asyncio.Future[None]]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="realtime-redis-subscriber")
        await self._connected.wait()

    async def close(self) -> None:
        self._closing = True
        if self._resubscribing is not None:
            self._resubscribing.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._writer is not None:
            self._writer.close()

    async def subscribe(self, channel: str) -> None:
        """Return once Redis confirmed the subscription: every later PUBLISH reaches us."""
        self._channels.add(channel)
        await self._connected.wait()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(channel, collections.deque()).append(future)
        assert self._writer is not None
        self._writer.write(_command("SUBSCRIBE", channel))
        await future

    def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        if self._writer is not None and self._connected.is_set():
            self._writer.write(_command("UNSUBSCRIBE", channel))

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        # A host that swallows packets would hold a connect (or AUTH) for minutes: bounded.
        async with asyncio.timeout(self._ping_timeout):
            return await self._open_now()

    async def _open_now(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        url = urlparse(self._url)
        context = ssl.create_default_context() if url.scheme == "rediss" else None
        reader, writer = await asyncio.open_connection(
            url.hostname or "127.0.0.1", url.port or 6379, ssl=context
        )
        if url.password:
            auth = ["AUTH"]
            if url.username:
                auth.append(unquote(url.username))
            auth.append(unquote(url.password))
            writer.write(_command(*auth))
            await _read_reply(reader)
        return reader, writer

    async def _keepalive(self, writer: asyncio.StreamWriter) -> None:
        """PING on a quiet connection; drop it when Redis stopped answering (see the module)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._ping_seconds)
            silent = loop.time() - self._last_reply
            if silent > self._ping_seconds + self._ping_timeout:
                logger.warning("realtime: Redis sent nothing for %.1f s (no answer to PING); "
                               "reconnecting", silent)  # fmt: skip
                writer.transport.abort()  # the read loop sees the end of the stream
                return
            writer.write(_command("PING"))

    async def _run(self) -> None:
        delay = 0.1
        loop = asyncio.get_running_loop()
        while not self._closing:
            try:
                reader, writer = await self._open()
            except OSError as exc:  # TimeoutError included
                logger.warning("realtime: cannot reach Redis (%s); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_DELAY_S)
                continue
            delay = 0.1
            self._writer = writer
            self._last_reply = loop.time()
            keepalive = asyncio.create_task(self._keepalive(writer), name="realtime-redis-ping")
            # After a reconnect, subscribe again to everything local sockets still need.
            confirmations: list[asyncio.Future[None]] = []
            channels = sorted(self._channels)
            for channel in channels:
                future: asyncio.Future[None] = loop.create_future()
                self._pending.setdefault(channel, collections.deque()).append(future)
                confirmations.append(future)
                writer.write(_command("SUBSCRIBE", channel))
            if self.connections_lost and channels and self._on_resubscribed is not None:
                self._resubscribing = asyncio.create_task(
                    self._after_resubscribing(channels, confirmations),
                    name="realtime-redis-resubscribed",
                )
            self._connected.set()
            try:
                await self._read_loop(reader)
            except (ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
                self.connections_lost += 1
                logger.warning("realtime: lost Redis pub/sub connection (%s); reconnecting", exc)
            finally:
                keepalive.cancel()
                self._connected.clear()
                self._writer = None
                writer.close()
                # Subscribers waiting for a confirmation will get it after the reconnect.
                for waiting in self._pending.values():
                    for future in waiting:
                        if not future.done():
                            future.set_exception(ConnectionError("Redis connection lost"))
                self._pending.clear()

    async def _after_resubscribing(
        self, channels: list[str], confirmations: list[asyncio.Future[None]]
    ) -> None:
        outcomes = await asyncio.gather(*confirmations, return_exceptions=True)
        if any(isinstance(outcome, BaseException) for outcome in outcomes):
            return  # lost again before Redis confirmed: the next reconnect calls back
        assert self._on_resubscribed is not None
        try:
            await self._on_resubscribed(channels)
        except Exception:
            logger.exception("realtime: handling a re-subscription failed")

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        loop = asyncio.get_running_loop()
        while True:
            reply = await _read_reply(reader)
            self._last_reply = loop.time()  # anything counts: a message, a confirmation, a pong
            if not isinstance(reply, list) or len(reply) < 3:
                continue
            kind = reply[0]
            if kind == b"message":
                channel = reply[1]
                assert isinstance(channel, bytes)
                payload = reply[2]
                assert isinstance(payload, bytes)
                try:
                    await self._on_message(channel.decode(), payload)
                except Exception:
                    logger.exception("realtime: handling a pub/sub message failed")
            elif kind == b"subscribe":
                channel_bytes = reply[1]
                assert isinstance(channel_bytes, bytes)
                waiting = self._pending.get(channel_bytes.decode())
                if waiting:
                    future = waiting.popleft()
                    if not future.done():
                        future.set_result(None)
