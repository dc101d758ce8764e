"""Fan-out: one subscription per process, each event decoded once and written to local sockets.

Stock Channels gives every consumer its own channel and adds it to a group per room: at 2,000
members one event becomes 2,000 channel-layer messages, each going through the consumer's
receive loop and `dispatch()` (which hops to a thread since Channels 4.2). Here a process holds
one Redis connection subscribed to `<prefix>:rt:room:<id>` for each room it has members in (and
`<prefix>:rt:user:<id>` for each connected user). A published event is parsed once; the same
ASGI `websocket.send` message, text encoded once, is handed to every local socket in the room.

Without Redis (embedded mode) the hub is fed in-process: `publish()` queues the event on every
hub of this process. Events of one room are delivered in the order they were published.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import struct
import threading
import time
import weakref
from collections.abc import Coroutine, Iterable
from typing import Any, Protocol

import redis

from clubhouse.metrics import ROOM_EVENT_FANOUT
from rooms.realtime import conf, domain, framing
from rooms.realtime.coalesce import Coalescer, make_coalescer
from rooms.realtime.online import Online, make_online
from rooms.realtime.presence import (
    LocalPresence,
    Presence,
    make_presence,
    redis_expect_sync,
    run_every,
)
from rooms.realtime.pubsub import RedisSubscriber
from rooms.realtime.rtc import RelayFollower

logger = logging.getLogger(__name__)
CLOSE_TIMEOUT_S = 5.0


class Subscriber(Protocol):
    user_id: int

    async def push(
        self, kind: str, key: int, event: dict[str, Any], message: dict[str, Any], frame: bytes
    ) -> None:
        """Deliver one event. `message` is the ASGI message and `frame` the same text already
        framed as an unmasked WebSocket text frame, both built once and shared by all sockets."""


def room_channel(room_id: int) -> str:
    return f"{conf.key_prefix()}:rt:room:{room_id}"


def user_channel(user_id: int) -> str:
    return f"{conf.key_prefix()}:rt:user:{user_id}"


# --- publishing (sync: services publish on commit, from any thread) -------------------------

_sync_client: redis.Redis | None = None
_sync_client_lock = threading.Lock()
_local_hubs: weakref.WeakSet[Hub] = weakref.WeakSet()


def _redis_sync() -> redis.Redis:
    global _sync_client
    with _sync_client_lock:
        if _sync_client is None:
            _sync_client = redis.Redis.from_url(conf.redis_url())
        return _sync_client


def text_frame(text: str) -> bytes:
    """An unmasked, unfragmented RFC 6455 text frame: what a server sends, byte for byte."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        return struct.pack("!BB", 0x81, size) + payload
    if size < 65536:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


def encode(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), default=str)


def stamped(text: str) -> str:
    """What goes on the pub/sub channel: the time of publication, a newline, the event's JSON.
    The hub takes the stamp off (the fan-out latency metric) and sends clients the JSON alone."""
    return f"{time.time():.6f}\n{text}"


def unstamped(payload: str) -> tuple[float | None, str]:
    """(time of publication, event JSON) of a pub/sub message; an unstamped one (a JSON object
    published by an older process during a rolling deploy) has no time."""
    if payload.startswith("{"):
        return None, payload
    stamp, _, text = payload.partition("\n")
    try:
        return float(stamp), text
    except ValueError:
        return None, payload


def publish(channel: str, event: dict[str, Any]) -> None:
    """Send an event to every process's sockets on `channel`. Safe from any thread."""
    text = stamped(encode(event))
    if conf.redis_url():
        _redis_sync().publish(channel, text)
        return
    for hub in list(_local_hubs):
        hub.feed_threadsafe(channel, text)


def presence_expect_socket(room_id: int, user_id: int) -> None:
    """Someone joined the room without a socket (over REST): unless a socket of theirs is
    attached to it, their grace period starts now, so they leave after it as if their socket
    had gone away, unless one joins the room meanwhile. Safe from any thread."""
    if conf.redis_url():
        redis_expect_sync(conf.redis_url(), room_id, user_id)
        return
    for hub in list(_local_hubs):
        hub.expect_threadsafe(room_id, user_id)


# --- the per-process hub --------------------------------------------------------------------


class Hub:
    """Local sockets by room and by user, and the one subscription that feeds them."""

    def __init__(
        self,
        *,
        redis_url: str | None = None,
        presence: Presence | None = None,
        coalescer: Coalescer | None = None,
        sweep_seconds: float | None = None,
        heartbeat_seconds: float | None = None,
        online: Online | None = None,
    ) -> None:
        self.redis_url = conf.redis_url() if redis_url is None else redis_url
        self.presence = presence or make_presence(self.redis_url)
        self.coalescer = coalescer or make_coalescer(self.redis_url)
        self.sweep_seconds = sweep_seconds or conf.sweep_seconds()
        self.heartbeat_seconds = heartbeat_seconds or conf.heartbeat_seconds()
        # (room, user, socket id) of every socket of this process attached to a room
        self.attached: set[tuple[int, int, str]] = set()
        # (user, socket id) of every open socket of this process: who has the app open
        self.online = online or make_online(self.redis_url)
        self.connected: set[tuple[int, str]] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._members: dict[str, set[Subscriber]] = {}
        self._subscriber: RedisSubscriber | None = None
        self._queue: asyncio.Queue[tuple[str, bytes | str]] | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._jobs: set[asyncio.Task[Any]] = set()
        self._started: asyncio.Future[None] | None = None
        self._prefix_room = f"{conf.key_prefix()}:rt:room:"
        self._prefix_user = f"{conf.key_prefix()}:rt:user:"
        self.delivered = 0
        self._relay: RelayFollower | None = None

    @property
    def uses_redis(self) -> bool:
        return bool(self.redis_url)

    async def start(self) -> None:
        if self._started is not None:
            await asyncio.shield(self._started)
            return
        self.loop = asyncio.get_running_loop()
        self._started = self.loop.create_future()
        try:
            if self.uses_redis:
                ping = conf.redis_ping_seconds()
                self._subscriber = RedisSubscriber(
                    self.redis_url,
                    self._on_message,
                    ping_seconds=ping,
                    ping_timeout=ping,
                    on_resubscribed=self._resubscribed,
                )
                await self._subscriber.start()
            else:
                self._queue = asyncio.Queue()
                self._tasks.append(asyncio.create_task(self._local_reader()))
                _local_hubs.add(self)
            self._tasks += [
                asyncio.create_task(run_every(self.heartbeat_seconds, self._heartbeat)),
                asyncio.create_task(run_every(self.sweep_seconds, self.sweep)),
                asyncio.create_task(run_every(self.coalescer.interval / 2, self.flush_counts)),
            ]
        except BaseException as exc:
            self._started.set_exception(exc)
            self._started = None
            raise
        self._started.set_result(None)

    async def close(self) -> None:
        _local_hubs.discard(self)
        if self._relay is not None:
            await self._relay.close()
            self._relay = None
        for task in self._tasks:
            task.cancel()
        # Bounded, and without swallowing a cancellation of close() itself: a task or a store
        # stuck on its connection must not keep a process (or a test) from shutting down.
        if self._tasks:
            _, stuck = await asyncio.wait(self._tasks, timeout=CLOSE_TIMEOUT_S)
            if stuck:
                logger.warning("realtime: %d hub task(s) did not stop in time", len(stuck))
        self._tasks.clear()
        subscriber, self._subscriber = self._subscriber, None
        closers = [self.presence.close, self.online.close, self.coalescer.close]
        if subscriber is not None:
            closers.insert(0, subscriber.close)
        for closer in closers:
            try:
                await asyncio.wait_for(closer(), CLOSE_TIMEOUT_S)
            except (TimeoutError, OSError, ConnectionError) as exc:
                logger.warning("realtime: closing %r failed: %r", closer, exc)
        self._started = None

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run a short background job, logging (not raising) its failure."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._jobs.add(task)
        task.add_done_callback(self._job_done)

    def _job_done(self, task: asyncio.Task[Any]) -> None:
        self._jobs.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("realtime: background job failed", exc_info=task.exception())

    # membership ------------------------------------------------------------------------------

    async def join_room(self, room_id: int, member: Subscriber) -> None:
        """Returns once events published from now on for the room will reach `member`."""
        await self._add(room_channel(room_id), member)

    def leave_room(self, room_id: int, member: Subscriber) -> None:
        self._discard(room_channel(room_id), member)

    async def join_user(self, user_id: int, member: Subscriber) -> None:
        await self._add(user_channel(user_id), member)

    def leave_user(self, user_id: int, member: Subscriber) -> None:
        self._discard(user_channel(user_id), member)

    def room_members(self, room_id: int) -> Iterable[Subscriber]:
        return tuple(self._members.get(room_channel(room_id), ()))

    def local_rooms(self) -> list[int]:
        return [
            int(channel.removeprefix(self._prefix_room))
            for channel, members in self._members.items()
            if members and channel.startswith(self._prefix_room)
        ]

    async def _add(self, channel: str, member: Subscriber) -> None:
        await self.start()
        members = self._members.get(channel)
        if members is None:
            members = self._members[channel] = set()
        members.add(member)
        if self._subscriber is not None:
            # Each joiner waits for its own confirmation: SUBSCRIBE is idempotent in Redis, and
            # waiting on a fresh one also covers a subscription still in flight for someone else.
            try:
                await self._subscriber.subscribe(channel)
            except BaseException:
                self._discard(channel, member)
                raise

    def _discard(self, channel: str, member: Subscriber) -> None:
        members = self._members.get(channel)
        if members is None:
            return
        members.discard(member)
        if not members:
            del self._members[channel]
            if self._subscriber is not None:
                self._subscriber.unsubscribe(channel)
            if self._relay is not None and channel.startswith(self._prefix_room):
                self._relay.unfollow(int(channel.removeprefix(self._prefix_room)))

    # WebRTC ----------------------------------------------------------------------------------

    async def relay_follow(self, room_id: int) -> None:
        """A local socket of `room_id` started WebRTC: deliver the room's speaking events here
        and watch its relay workers (rooms/realtime/rtc.py). Idempotent."""
        if self._relay is None:
            self._relay = RelayFollower(self)
        await self._relay.follow(room_id)

    @property
    def relay(self) -> RelayFollower | None:
        return self._relay

    async def deliver_local(self, room_id: int, event: dict[str, Any]) -> None:
        """Hand an ephemeral event (no `seq`) to this process's sockets in the room only."""
        await self._on_message(room_channel(room_id), encode(event))

    # presence ------------------------------------------------------------------------------

    async def attach(self, room_id: int, user_id: int, sid: str) -> None:
        self.attached.add((room_id, user_id, sid))
        await self.presence.attach(room_id, user_id, sid)

    async def detach(self, room_id: int, user_id: int, sid: str, *, grace: bool) -> None:
        self.attached.discard((room_id, user_id, sid))
        await self.presence.detach(room_id, user_id, sid, grace=grace)

    async def connected_user(self, user_id: int, sid: str) -> bool:
        """A member's socket opened: they are online (rooms/realtime/online.py). False if they
        already hold as many sockets as one member may (the socket is not counted)."""
        if not await self.online.connect(user_id, sid):
            return False
        self.connected.add((user_id, sid))
        return True

    async def disconnected_user(self, user_id: int, sid: str) -> None:
        self.connected.discard((user_id, sid))
        await self.online.disconnect(user_id, sid)

    async def _heartbeat(self) -> None:
        try:
            if self.attached:
                await self.presence.heartbeat(tuple(self.attached))
        finally:  # one store failing must not let the other's sockets expire
            if self.connected:
                await self.online.heartbeat(tuple(self.connected))

    async def sweep(self) -> list[tuple[int, int]]:
        """Call `room_leave` for each member whose grace period ended (this process's claims)."""
        from channels.db import database_sync_to_async

        claimed = await self.presence.sweep()
        for room_id, user_id in claimed:
            try:
                await database_sync_to_async(domain.leave_by_id)(user_id, room_id)
                # A socket may have attached between the claim and the leave: keep them in.
                if await self.presence.is_present(room_id, user_id):
                    await database_sync_to_async(domain.rejoin_by_id)(user_id, room_id)
            except Exception:
                logger.exception("realtime: leaving room %s for user %s failed", room_id, user_id)
        return claimed

    async def flush_counts(self) -> None:
        """Push the audience count of every room whose change this process claimed."""
        from channels.db import database_sync_to_async

        for room_id, count in await self.coalescer.claim():
            if count is None:
                count = await database_sync_to_async(domain.audience_count)(room_id)
            if count is None:
                continue
            await self.feed(
                room_channel(room_id),
                {"type": "room.audience_count", "room_id": room_id, "data": {"count": count}},
            )

    # delivery --------------------------------------------------------------------------------

    def expect_threadsafe(self, room_id: int, user_id: int) -> None:
        loop, presence = self.loop, self.presence
        if loop is None or loop.is_closed() or not isinstance(presence, LocalPresence):
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(presence.expect, room_id, user_id)

    def feed_threadsafe(self, channel: str, text: str) -> None:
        loop, queue = self.loop, self._queue
        if loop is None or queue is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(queue.put_nowait, (channel, text))

    async def feed(self, channel: str, event: dict[str, Any]) -> None:
        """Publish from inside this process's event loop (the audience-count flusher)."""
        text = stamped(encode(event))
        if self.uses_redis:
            await asyncio.to_thread(_redis_sync().publish, channel, text)
        else:
            for hub in list(_local_hubs):
                hub.feed_threadsafe(channel, text)

    async def _resubscribed(self, channels: list[str]) -> None:
        """The Redis subscription was lost and is back: room events published meanwhile never
        reached this process. Every local socket of each room is told to fetch a snapshot now
        (its client would otherwise notice the gap only at the room's next event)."""
        rooms = [
            int(channel.removeprefix(self._prefix_room))
            for channel in channels
            if channel.startswith(self._prefix_room)
        ]
        logger.warning("realtime: Redis subscription back; %d room(s) told to re-sync", len(rooms))
        for room_id in rooms:
            await self.deliver_local(
                room_id, {"type": framing.ROOM_RESYNC, "room_id": room_id, "data": {}}
            )

    async def _local_reader(self) -> None:
        assert self._queue is not None
        while True:
            channel, text = await self._queue.get()
            try:
                await self._on_message(channel, text)
            except Exception:
                logger.exception("realtime: delivering an in-process event failed")

    async def _on_message(self, channel: str, payload: bytes | str) -> None:
        members = self._members.get(channel)
        if not members:
            return
        published, text = unstamped(payload.decode() if isinstance(payload, bytes) else payload)
        try:
            event = json.loads(text)
        except ValueError:
            logger.error("realtime: dropped a non-JSON event on %s", channel)
            return
        if channel.startswith(self._prefix_room):
            kind, key = "room", int(channel.removeprefix(self._prefix_room))
        else:
            kind, key = "user", int(channel.removeprefix(self._prefix_user))
        # One ASGI message and one wire frame for everyone: daphne only reads them.
        message = {"type": "websocket.send", "text": text}
        frame = text_frame(text)
        for member in tuple(members):
            try:
                await member.push(kind, key, event, message, frame)
            except Exception:
                logger.exception("realtime: pushing to one socket failed")
        self.delivered += 1
        if published is not None:
            ROOM_EVENT_FANOUT.observe(max(0.0, time.time() - published))


# --- one hub per event loop ------------------------------------------------------------------

_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}
_frozen = False


def get_hub() -> Hub:
    """The hub of the running event loop (daphne runs one loop per process)."""
    global _frozen
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        for old in [known for known in _hubs if known.is_closed()]:
            del _hubs[old]
        hub = _hubs[loop] = Hub()
        if conf.gc_freeze() and not _frozen:
            # Everything alive now (Django, the URLconf, the apps) is start-up state that lives
            # as long as the process: take it out of the collector's view so full collections
            # stop rescanning it. Measured: 0.5 s tail spikes at 2,000 members without this.
            _frozen = True
            gc.collect()
            gc.freeze()
    return hub
