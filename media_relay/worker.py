"""The relay worker: receives signalling and room state on its channel, runs the rooms placed on
it, replies to the web consumer's channel, and heartbeats its load. Message shapes: docs/relay.md.

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
from typing import Any

from media_relay import conf, fastpath
from media_relay.cascade import Cascade
from media_relay.placement import Registry, relay_registry, room_events_group, worker_channel
from media_relay.sessions import RelayError, RelayRoom

logger = logging.getLogger(__name__)

_TOTALS = ("packets_in", "packets_out", "drops", "send_skipped")
_STATE_TYPES = ("relay.room_state", "relay.mute", "relay.move_to_audience")


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
        self._room_seq: dict[int, int] = {}
        # room -> {user: seq of the room event that removed them}. A removal can overtake the
        # offer of the person removed (prepared before the removal committed, sent after it):
        # an offer whose room state is older than the removal is refused.
        self._removed: dict[int, dict[int, int]] = {}
        self._queues: dict[int, asyncio.Queue[dict[str, Any]]] = {}
        self._room_tasks: dict[int, asyncio.Task[None]] = {}
        self._ended_totals = dict.fromkeys(_TOTALS, 0)
        self._cpu_mark = (time.monotonic(), time.process_time())
        self._cpu_percent = 0.0
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
    def dispatch(self, message: dict[str, Any]) -> None:
        try:
            room_id = int(message["room_id"])
        except (KeyError, TypeError, ValueError):
            logger.warning("relay message without a room_id: %r", message.get("type"))
            return
        queue = self._queues.get(room_id)
        if queue is None:
            queue = self._queues[room_id] = asyncio.Queue()
            self._room_tasks[room_id] = asyncio.create_task(self._room_loop(room_id, queue))
        queue.put_nowait(message)

    async def _room_loop(self, room_id: int, queue: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            message = await queue.get()
            try:
                await self.handle(message)
            except RelayError as exc:
                await self._reply_error(message, exc.code, exc.message)
            except Exception:
                logger.exception("relay message %r failed", message.get("type"))
                await self._reply_error(message, "relay_error", "The relay could not do that.")
            if room_id not in self.rooms and queue.empty():  # ended, idle, or never started
                self._queues.pop(room_id, None)
                self._room_tasks.pop(room_id, None)
                return

    async def handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        room_id = int(message["room_id"])
        if kind == "relay.end":
            await self.room_end(room_id)
            return
        if str(kind).startswith("relay.pipe_"):
            await self.cascade.handle(message)
            return
        if self._stale(room_id, message):
            return
        user_id = int(message["user_id"]) if "user_id" in message else None
        if kind == "relay.remove":
            assert user_id is not None
            await self._remove(room_id, user_id, message)
            return
        if kind == "relay.offer":
            assert user_id is not None
            self._refuse_if_removed(room_id, user_id, message.get("seq"))
        if kind == "relay.ice":
            assert user_id is not None
            await self._ice(room_id, user_id, message)
            return
        room = self.room_ensure(room_id)
        if kind == "relay.offer":
            assert user_id is not None
            reply_to = str(message["reply_to"])
            self._reply_to[(room_id, user_id)] = reply_to
            await self.cascade.member_joining(room_id)  # an edge subscribes to its origin first
            answer = await room.peer_offer(user_id, str(message["sdp"]))
            await self.layer.send(
                reply_to,
                {
                    "type": "relay.answer",
                    "room_id": room_id,
                    "user_id": user_id,
                    "sdp": answer,
                    "request_id": message.get("request_id"),
                    "worker_id": self.worker_id,
                },
            )
            for publisher in list(room.forwarder.publishers.values()):
                if publisher.speaking:  # so the newcomer's room learns who is talking now
                    self._on_speaking(room_id, publisher.user_id, True, publisher.level)
        elif kind == "relay.room_state":
            room.room_state(
                {int(u) for u in message.get("speakers", [])},
                {int(u) for u in message.get("muted", [])},
            )
        elif kind == "relay.mute":
            assert user_id is not None
            room.speaker_mute(user_id, bool(message.get("muted", True)))
        elif kind == "relay.move_to_audience":
            assert user_id is not None
            room.speaker_move_to_audience(user_id)
        else:
            raise RelayError("unknown_type", f"Unknown relay message type {kind!r}.")

    async def _remove(self, room_id: int, user_id: int, message: dict[str, Any]) -> None:
        """`relay.remove`: a removal by the room (reason `removed` with the event's `seq`) is
        remembered, whatever socket it came from; the connection is closed (with `if_channel`,
        only if that socket's offer made it). Never creates the room on this worker."""
        reason = str(message.get("reason") or "removed")
        seq = message.get("seq")
        if reason == "removed" and seq is not None:
            removed = self._removed.setdefault(room_id, {})
            removed[user_id] = max(int(seq), removed.get(user_id, 0))
        only_for = message.get("if_channel")
        if only_for and self._reply_to.get((room_id, user_id)) != only_for:
            return  # that socket's connection was already replaced by a newer offer
        room = self.rooms.get(room_id)
        if room is not None:
            await room.peer_remove(user_id, reason)

    async def _ice(self, room_id: int, user_id: int, message: dict[str, Any]) -> None:
        """`relay.ice`: add the candidate (a refusal is a `relay.error`); with a `request_id`,
        acknowledge with `relay.ice_added`, so the socket can tell its client either way."""
        room = self.rooms.get(room_id)
        if room is None:
            raise RelayError("no_peer", "No connection for this member; send an offer first.")
        await room.peer_ice(user_id, dict(message.get("candidate") or {}))
        reply_to, request_id = message.get("reply_to"), message.get("request_id")
        if reply_to and request_id:
            await self.layer.send(
                str(reply_to),
                {
                    "type": "relay.ice_added",
                    "room_id": room_id,
                    "user_id": user_id,
                    "request_id": request_id,
                },
            )

    def _refuse_if_removed(self, room_id: int, user_id: int, seq: Any) -> None:
        """An offer carries the room `seq` read when the web tier checked the person was in the
        room. Older than their removal: prepared before it, refused. Not older: they were let
        back in after it, and the removal is forgotten."""
        removed_at = self._removed.get(room_id, {}).get(user_id)
        if removed_at is None:
            return
        if seq is None or int(seq) < removed_at:
            raise RelayError("removed", "You were removed from this room.")
        del self._removed[room_id][user_id]

    def removed_members(self, room_id: int) -> dict[int, int]:
        """Who this worker remembers as removed from the room, with the removal's seq."""
        return dict(self._removed.get(room_id, {}))

    def _stale(self, room_id: int, message: dict[str, Any]) -> bool:
        """Room-state commands carry the room's `seq`: one older than the last applied is
        dropped (two web processes' on-commit sends may arrive out of order)."""
        seq = message.get("seq")
        if seq is None or message.get("type") not in _STATE_TYPES:
            return False
        if int(seq) < self._room_seq.get(room_id, 0):
            return True
        self._room_seq[room_id] = int(seq)
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
        for peer_key in [k for k in self._reply_to if k[0] == room_id]:
            del self._reply_to[peer_key]
        if not edge:  # an edge leaving (or ending) a room never forgets the room's placement
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.registry.forget_room, room_id)

    # --- events out ---------------------------------------------------------------------------
    def _on_speaking(self, room_id: int, user_id: int, speaking: bool, level: int) -> None:
        if self.cascade.is_edge(room_id):
            return  # the origin reports who is speaking, once for the whole room
        event = {
            "type": "relay.speaking",
            "room_id": room_id,
            "user_id": user_id,
            "speaking": speaking,
            "level": level,
        }
        self._spawn(self.layer.group_send(room_events_group(room_id), event))

    def _on_peer_closed(self, room_id: int, user_id: int, reason: str) -> None:
        self._member_gone(room_id, user_id, reason)
        reply_to = self._reply_to.pop((room_id, user_id), None)
        if reply_to is None:
            return
        event = {
            "type": "relay.peer_closed",
            "room_id": room_id,
            "user_id": user_id,
            "reason": reason,
        }
        self._spawn(self.layer.send(reply_to, event))

    def _member_gone(self, room_id: int, user_id: int, reason: str) -> None:
        """Placement forgets the member here; an edge left without listeners leaves the room."""
        if reason == "room_ended":
            return
        self._spawn(
            asyncio.to_thread(self.registry.forget_member, room_id, user_id, self.worker_id)
        )
        if self.cascade.is_edge(room_id):
            self.dispatch({"type": "relay.pipe_idle", "room_id": room_id})

    async def _reply_error(self, message: dict[str, Any], code: str, text: str) -> None:
        reply_to = message.get("reply_to")
        if not reply_to:
            return
        await self.layer.send(
            str(reply_to),
            {
                "type": "relay.error",
                "room_id": message.get("room_id"),
                "user_id": message.get("user_id"),
                "request_id": message.get("request_id"),
                "code": code,
                "message": text,
            },
        )

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
            **self.cascade.metrics(),
        }

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
