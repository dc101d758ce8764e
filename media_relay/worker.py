"""The relay worker: receives signalling and room state on its channel, runs the rooms placed on
it, replies to the web consumer's channel, and heartbeats its load. Messages: media_relay/protocol.py
(docs/relay.md). What arrives is decoded first; what is not a message for a worker is logged,
counted (`messages_rejected` in its heartbeat) and, if it names a reply channel, answered with a
`relay.error`: it never stops the worker.

Messages for one room are handled in order (an ICE candidate after its offer, a mute after the
speaker joined); different rooms proceed concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import socket
import time
import uuid
from typing import Any, assert_never

from clubhouse.logs import request_id_bound
from media_relay import conf, fastpath, protocol
from media_relay.candidates import ICE_CANDIDATE_TYPES, ICE_PATH_TYPES
from media_relay.cascade import Cascade
from media_relay.forwarder import SEND_LOOP_BUCKETS
from media_relay.placement import Registry, relay_registry, room_events_group, worker_channel
from media_relay.sessions import RelayError, RelayRoom

logger = logging.getLogger(__name__)

_TOTALS = (
    "packets_in",
    "packets_out",
    "drops",
    "send_skipped",
    # Peer connections that never carried audio, per candidate type the client offered.
    *(f"ice_failed_{kind}" for kind in ICE_CANDIDATE_TYPES),
    # Peer connections that connected, per the path the member's audio takes.
    *(f"ice_connected_{kind}" for kind in ICE_PATH_TYPES),
)


class RelayWorker:
    def __init__(
        self,
        layer: Any,
        *,
        worker_id: str | None = None,
        registry: Registry | None = None,
        slots: int | None = None,
        freeze_gc: bool = True,
    ) -> None:
        self.layer = layer
        self._freeze_gc = freeze_gc
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.channel = worker_channel(self.worker_id)
        self.registry = registry or relay_registry()
        self.slots = slots or conf.listener_slots()
        self.rooms: dict[int, RelayRoom] = {}
        self._reply_to: dict[tuple[int, int], str] = {}
        # (room, user) -> the room seq the member's current connection's offer was prepared at
        self._offer_seq: dict[tuple[int, int], int] = {}
        self._room_seq: dict[int, int] = {}
        # room -> {user: seq of the room event that removed them}. A removal can overtake the
        # offer of the person removed (prepared before the removal committed, sent after it):
        # an offer whose room state is older than the removal is refused.
        self._removed: dict[int, dict[int, int]] = {}
        # Each room's messages, with the request id of what sent each (logged while handled).
        self._queues: dict[int, asyncio.Queue[tuple[protocol.WorkerMessage, str | None]]] = {}
        self._room_tasks: dict[int, asyncio.Task[None]] = {}
        self._ended_totals = dict.fromkeys(_TOTALS, 0)
        self._ended_send_loop: tuple[float, list[int]] = (0.0, [])
        self._cpu_mark = (time.monotonic(), time.process_time())
        self._cpu_percent = 0.0
        self.messages_rejected = 0  # received dicts that were not a message for a worker
        self._stopping = asyncio.Event()
        # Set once the first heartbeat is in the registry: placement can choose this worker.
        self.registered = asyncio.Event()
        self.cascade = Cascade(self)

    # --- lifecycle ----------------------------------------------------------------------------
    async def run(self) -> None:
        if self._freeze_gc:
            relay_gc_freeze()
        await self.cascade.start()
        await self._heartbeat()
        self.registered.set()
        heartbeat = asyncio.create_task(self._heartbeat_forever())
        try:
            while not self._stopping.is_set():
                receive = asyncio.ensure_future(self.layer.receive(self.channel))
                stop = asyncio.ensure_future(self._stopping.wait())
                done, _ = await asyncio.wait({receive, stop}, return_when=asyncio.FIRST_COMPLETED)
                if receive not in done:
                    receive.cancel()
                    break
                stop.cancel()
                self.dispatch(receive.result())
        finally:
            heartbeat.cancel()
            await self.shutdown()

    def stop(self) -> None:
        self._stopping.set()

    async def shutdown(self) -> None:
        for task in self._room_tasks.values():
            task.cancel()
        for room_id in list(self.rooms):
            await self.room_end(room_id)
        self.cascade.close()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.registry.unregister, self.worker_id)

    # --- dispatch -----------------------------------------------------------------------------
    def dispatch(self, raw: dict[str, Any]) -> None:
        """A dict from the worker's channel: decoded and queued for its room, or rejected."""
        try:
            message = protocol.decode(raw, protocol.WORKER_MESSAGES)
        except protocol.MessageError as error:
            self._reject(raw, error)
            return
        self.enqueue(message, protocol.request_id_of(raw))

    def enqueue(self, message: protocol.WorkerMessage, request_id: str | None = None) -> None:
        """Queue a message behind its room's earlier ones; `request_id`: what sent it."""
        room_id = message.room_id
        queue = self._queues.get(room_id)
        if queue is None:
            queue = self._queues[room_id] = asyncio.Queue()
            self._room_tasks[room_id] = asyncio.create_task(self._room_loop(room_id, queue))
        queue.put_nowait((message, request_id))

    def _reject(self, raw: Any, error: protocol.MessageError) -> None:
        """Log and count what is not a message for a worker; answer its sender, if it said
        where (`reply_to`), with a `relay.error` of the decoding error's code."""
        protocol.reject(raw, error, f"relay worker {self.worker_id}")
        self.messages_rejected += 1
        reply_to = raw.get("reply_to") if isinstance(raw, dict) else None
        if not isinstance(reply_to, str) or not reply_to:
            return

        def field(name: str, kind: type) -> Any:
            value = raw.get(name)
            return value if isinstance(value, kind) and not isinstance(value, bool) else None

        reply = protocol.Error(
            code=error.code,
            message=error.detail,
            room_id=field("room_id", int),
            user_id=field("user_id", int),
            request_id=field("request_id", str),
        )
        self._spawn(self.layer.send(reply_to, protocol.encode(reply)))

    async def _room_loop(
        self, room_id: int, queue: asyncio.Queue[tuple[protocol.WorkerMessage, str | None]]
    ) -> None:
        while True:
            message, request_id = await queue.get()
            # Every line logged while handling it, and every message it sends, names its request.
            with request_id_bound(request_id):
                await self._handle_logged(message)
            if room_id not in self.rooms and queue.empty():  # ended, idle, or never started
                self._queues.pop(room_id, None)
                self._room_tasks.pop(room_id, None)
                return

    async def _handle_logged(self, message: protocol.WorkerMessage) -> None:
        # Commands are few per member (an offer, some candidates, state changes): each is logged.
        level = logging.DEBUG if isinstance(message, protocol.PIPE_MESSAGES) else logging.INFO
        logger.log(level, "relay command %s for room %s", message.TYPE, message.room_id)
        try:
            await self.handle(message)
        except RelayError as exc:
            await self._reply_error(message, exc.code, exc.message)
        except Exception:
            logger.exception("relay message %r failed", message.TYPE)
            await self._reply_error(message, "relay_error", "The relay could not do that.")

    async def handle(self, message: protocol.WorkerMessage) -> None:
        room_id = message.room_id
        if isinstance(message, protocol.End):
            await self.room_end(room_id)
            return
        if isinstance(
            message, (protocol.PipeSubscribe, protocol.PipeUnsubscribe, protocol.PipeIdle)
        ):
            await self.cascade.handle(message)
            return
        if self._stale(message):
            return
        if isinstance(message, protocol.Remove):
            await self._remove(message)
            return
        if isinstance(message, protocol.Offer):
            self._refuse_if_removed(room_id, message.user_id, message.seq)
        if isinstance(message, protocol.Ice):
            await self._ice(message)
            return
        room = self.room_ensure(room_id)
        if isinstance(message, protocol.Offer):
            user_id = message.user_id
            self._reply_to[(room_id, user_id)] = message.reply_to
            if message.seq is None:
                self._offer_seq.pop((room_id, user_id), None)
            else:
                self._offer_seq[(room_id, user_id)] = message.seq
            await self.cascade.member_joining(room_id)  # an edge subscribes to its origin first
            answer = await room.peer_offer(user_id, message.sdp)
            reply = protocol.Answer(
                room_id=room_id,
                user_id=user_id,
                sdp=answer,
                request_id=message.request_id,
                worker_id=self.worker_id,
            )
            await self.layer.send(message.reply_to, protocol.encode(reply))
            for publisher in list(room.forwarder.publishers.values()):
                if publisher.speaking:  # so the newcomer's room learns who is talking now
                    self._on_speaking(room_id, publisher.user_id, True, publisher.level)
        elif isinstance(message, protocol.RoomState):
            room.room_state(set(message.speakers), set(message.muted))
        elif isinstance(message, protocol.Mute):
            room.speaker_mute(message.user_id, message.muted)
        elif isinstance(message, protocol.MoveToAudience):
            room.speaker_move_to_audience(message.user_id)
        else:
            assert_never(message)

    async def _remove(self, message: protocol.Remove) -> None:
        """`relay.remove`: a removal by the room (reason `removed` with the event's `seq`) is
        remembered, whatever socket it came from; the connection is closed (with `if_channel`,
        only if that socket's offer made it). Never creates the room on this worker."""
        room_id, user_id = message.room_id, message.user_id
        reason, seq = message.reason or "removed", message.seq
        if reason == "removed" and seq is not None:
            if seq <= self._offer_seq.get((room_id, user_id), -1):
                # older than the connection it would close: the member was let back in and
                # their new offer overtook this removal on the way here
                return
            removed = self._removed.setdefault(room_id, {})
            removed[user_id] = max(seq, removed.get(user_id, 0))
        only_for = message.if_channel
        if only_for and self._reply_to.get((room_id, user_id)) != only_for:
            return  # that socket's connection was already replaced by a newer offer
        room = self.rooms.get(room_id)
        if room is not None:
            await room.peer_remove(user_id, reason)

    async def _ice(self, message: protocol.Ice) -> None:
        """`relay.ice`: add the candidate (a refusal is a `relay.error`); with a `request_id`,
        acknowledge with `relay.ice_added`, so the socket can tell its client either way."""
        room = self.rooms.get(message.room_id)
        if room is None:
            raise RelayError("no_peer", "No connection for this member; send an offer first.")
        await room.peer_ice(message.user_id, dict(message.candidate))
        if message.reply_to and message.request_id:
            reply = protocol.IceAdded(
                room_id=message.room_id, user_id=message.user_id, request_id=message.request_id
            )
            await self.layer.send(message.reply_to, protocol.encode(reply))

    def _refuse_if_removed(self, room_id: int, user_id: int, seq: int | None) -> None:
        """An offer carries the room `seq` read when the web tier checked the person was in the
        room. Older than their removal: prepared before it, refused. Not older: they were let
        back in after it, and the removal is forgotten."""
        removed_at = self._removed.get(room_id, {}).get(user_id)
        if removed_at is None:
            return
        if seq is None or seq < removed_at:
            raise RelayError("removed", "You were removed from this room.")
        del self._removed[room_id][user_id]

    def removed_members(self, room_id: int) -> dict[int, int]:
        """Who this worker remembers as removed from the room, with the removal's seq."""
        return dict(self._removed.get(room_id, {}))

    def _stale(self, message: protocol.WorkerMessage) -> bool:
        """Room-state commands carry the room's `seq`: one older than the last applied is
        dropped (two web processes' on-commit sends may arrive out of order)."""
        if not isinstance(message, protocol.STATE_COMMANDS) or message.seq is None:
            return False
        room_id, seq = message.room_id, message.seq
        if seq < self._room_seq.get(room_id, 0):
            return True
        self._room_seq[room_id] = seq
        return False

    # --- rooms (the cascade's `RoomHost`) -----------------------------------------------------
    def room_ensure(self, room_id: int) -> RelayRoom:
        """The room on this worker, created (empty) if it is not here yet."""
        room = self.rooms.get(room_id)
        if room is None:
            room = self.rooms[room_id] = RelayRoom(
                room_id,
                slots=self.slots,
                on_speaking=self._on_speaking,
                on_peer_closed=self._on_peer_closed,
                ice_servers=conf.ice_servers(),
                voice_level_max=conf.voice_level_max(),
            )
        return room

    async def room_end(self, room_id: int) -> None:
        """The room is gone from this worker: its connections close; an origin ends it on its
        edges, an edge leaves its origin."""
        self._room_seq.pop(room_id, None)
        self._removed.pop(room_id, None)
        room = self.rooms.pop(room_id, None)
        if room is None:
            return
        edge = self.cascade.is_edge(room_id)
        await self.cascade.room_ended(room_id)
        await room.close()
        for key, value in room.metrics().items():
            if key in self._ended_totals:
                self._ended_totals[key] += value
        self._ended_send_loop = _send_loop_add(self._ended_send_loop, room.send_loop())
        for peer_key in [k for k in self._reply_to if k[0] == room_id]:
            del self._reply_to[peer_key]
        for peer_key in [k for k in self._offer_seq if k[0] == room_id]:
            del self._offer_seq[peer_key]
        if not edge:  # an edge leaving (or ending) a room never forgets the room's placement
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.registry.forget_room, room_id)

    # --- events out ---------------------------------------------------------------------------
    def _on_speaking(self, room_id: int, user_id: int, speaking: bool, level: int) -> None:
        if self.cascade.is_edge(room_id):
            return  # the origin reports who is speaking, once for the whole room
        event = protocol.Speaking(room_id=room_id, user_id=user_id, speaking=speaking, level=level)
        self._spawn(self.layer.group_send(room_events_group(room_id), protocol.encode(event)))

    def _on_peer_closed(self, room_id: int, user_id: int, reason: str) -> None:
        self._member_gone(room_id, user_id, reason)
        reply_to = self._reply_to.pop((room_id, user_id), None)
        self._offer_seq.pop((room_id, user_id), None)
        if reply_to is None:
            return
        event = protocol.PeerClosed(room_id=room_id, user_id=user_id, reason=reason)
        self._spawn(self.layer.send(reply_to, protocol.encode(event)))

    def _member_gone(self, room_id: int, user_id: int, reason: str) -> None:
        """Placement forgets the member here; an edge left without listeners leaves the room."""
        if reason == "room_ended":
            return
        self._spawn(
            asyncio.to_thread(self.registry.forget_member, room_id, user_id, self.worker_id)
        )
        if self.cascade.is_edge(room_id):
            self.enqueue(protocol.PipeIdle(room_id=room_id))

    async def _reply_error(self, message: protocol.WorkerMessage, code: str, text: str) -> None:
        """Only offers and candidates name a reply channel."""
        if not isinstance(message, (protocol.Offer, protocol.Ice)) or not message.reply_to:
            return
        reply = protocol.Error(
            code=code,
            message=text,
            room_id=message.room_id,
            user_id=message.user_id,
            request_id=message.request_id,
        )
        await self.layer.send(message.reply_to, protocol.encode(reply))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        task.add_done_callback(_log_failure)

    # --- load and metrics ---------------------------------------------------------------------
    def metrics(self) -> dict[str, Any]:
        totals = dict(self._ended_totals)
        peers = 0
        for room in self.rooms.values():
            m = room.metrics()
            peers += m["peers"]
            for key in _TOTALS:
                totals[key] += m[key]
        return {
            "channel": self.channel,
            "pid": os.getpid(),
            "rooms": len(self.rooms),
            "peers": peers,
            **totals,
            "cpu_s": round(time.process_time(), 3),
            "cpu_percent": round(self._cpu_percent, 1),
            "rss_bytes": _rss_bytes(),
            "max_peers": conf.worker_max_peers(),
            "send_loop": fastpath.status(),  # "c", or why the Python loop is used
            "messages_rejected": self.messages_rejected,
            **self.cascade.metrics(),
        }

    def send_loop(self) -> tuple[tuple[float, ...], float, list[int]]:
        """The timing buckets' upper bounds, seconds in the send loop and packets per bucket
        (one more than bounds: the last is above them all), ended rooms included."""
        total = self._ended_send_loop
        for room in list(self.rooms.values()):
            total = _send_loop_add(total, room.send_loop())
        seconds, buckets = total
        return SEND_LOOP_BUCKETS, seconds, buckets or [0] * (len(SEND_LOOP_BUCKETS) + 1)

    def selected_candidate_types(self) -> list[tuple[str, str]]:
        """(local, remote) candidate types of every peer's selected ICE pair."""
        return [
            types for room in list(self.rooms.values()) for types in room.selected_candidate_types()
        ]

    async def _heartbeat(self) -> None:
        now, cpu = time.monotonic(), time.process_time()
        wall = now - self._cpu_mark[0]
        if wall > 0.5:
            self._cpu_percent = 100 * (cpu - self._cpu_mark[1]) / wall
            self._cpu_mark = (now, cpu)
        try:
            await asyncio.to_thread(self.registry.heartbeat, self.worker_id, self.metrics())
        except Exception:
            logger.exception("relay heartbeat failed")

    async def _heartbeat_forever(self) -> None:
        while True:
            await asyncio.sleep(conf.heartbeat_s())
            await self._heartbeat()
            try:
                await self.cascade.refresh()
            except Exception:
                logger.exception("relay cascade refresh failed")


def _send_loop_add(
    a: tuple[float, list[int]], b: tuple[float, list[int]]
) -> tuple[float, list[int]]:
    size = max(len(a[1]), len(b[1]))
    buckets = [0] * size
    for part in (a[1], b[1]):
        for i, count in enumerate(part):
            buckets[i] += count
    return a[0] + b[0], buckets


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("relay event send failed: %s", task.exception())


_gc_frozen = False


def relay_gc_freeze() -> bool:
    """Once per relay process, when it starts serving: everything alive now (Django, aiortc's
    codecs and OpenSSL state, the channel layer) lives as long as the process, so move it out of
    the cyclic collector's view; full collections then only scan what rooms and connections
    allocated (they run during joins, when each peer connection allocates a few thousand
    objects). Returns False if it already ran."""
    global _gc_frozen
    if _gc_frozen:
        return False
    _gc_frozen = True
    gc.collect()
    gc.freeze()
    return True


_embedded: RelayWorker | None = None
_embedded_task: asyncio.Task[None] | None = None


def embedded_worker_id(pid: int | None = None) -> str:
    """`embedded` alone in its in-process registry; with Redis, one id per process, so two web
    processes with an embedded relay on one Redis never share (and split) one worker channel."""
    if not conf.redis_url():
        return "embedded"
    return f"embedded-{socket.gethostname()}-{os.getpid() if pid is None else pid}"


def relay_embedded_workers() -> list[RelayWorker]:
    """The embedded worker of this process, if one runs (its metrics join the web's /metrics)."""
    running, task = _embedded, _embedded_task
    if running is None or task is None or task.done():
        return []
    return [running]


def relay_embedded_start() -> RelayWorker:
    """Start a worker on the running event loop (the web process), for the embedded mode.
    Idempotent; starts a new one if the previous one stopped or ran on another (closed) loop."""
    global _embedded, _embedded_task
    loop = asyncio.get_running_loop()
    task = _embedded_task
    if _embedded is None or task is None or task.done() or task.get_loop() is not loop:
        from channels.layers import get_channel_layer

        # The web process freezes its own start-up state (rooms.realtime); not ours to do here.
        _embedded = RelayWorker(
            get_channel_layer(), worker_id=embedded_worker_id(), freeze_gc=False
        )
        _embedded_task = loop.create_task(_embedded.run())
        _embedded_task.add_done_callback(_log_failure)
    return _embedded


async def relay_embedded_stop() -> None:
    """Stop the worker `relay_embedded_start` started (closes its connections, unregisters), if
    one runs."""
    running, task = _embedded, _embedded_task
    if running is None or task is None or task.done():
        return
    running.stop()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(asyncio.shield(task), 5)
