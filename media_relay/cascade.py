"""Cascading a room across workers, in the shape of mediasoup's pipeToRouter.

A room's **origin** worker terminates its speakers. Listeners beyond one worker's capacity are
placed on **edge** workers (`media_relay.placement.relay_place_member`). The origin sends each
speaker packet it forwards itself (after its own enforcement: only publishers whose `forwarding`
flag is up, i.e. speakers on stage and unmuted) to every edge of the room as one UDP datagram on
loopback, or between hosts on the address `RELAY_PIPE_HOST` names; each edge feeds it into its own `Forwarder`
for its own listeners, exactly as if the speaker were connected there. Nothing is decoded and
nothing is written: the pipe is a UDP socket, not a file (a Unix socket would leave one).

The link is set up over the channel layer (the messages are media_relay/protocol.py's):

- every worker announces its pipe endpoint ("host:port" of its UDP socket) in the registry with
  its heartbeat (`pipe`);
- an edge that gets an offer for a room whose origin (in the registry) is another worker
  sends `relay.pipe_subscribe {room_id, worker_id, token}` to the origin, and repeats it every
  heartbeat (idempotent; re-targets if the room's origin changed);
- the origin looks the edge's pipe endpoint up in the registry, adds it as a target and, the
  first time, sends it the room state (`relay.room_state`) so the edge enforces the same stage;
- an edge whose last listener leaves sends `relay.pipe_unsubscribe` and drops the room
  (uncascading); the origin drops edges whose heartbeat stopped;
- ending the room on the origin sends `relay.end` to its edges too.

Every subscription brings 8 random bytes of token and a fresh 16-byte AES-128-GCM key, both
made by the edge and handed to the origin over the channel layer (Redis), never over the pipe.
The origin seals each datagram's body with that edge's key: the header (with a per-target
counter, which is the nonce) is authenticated, the RTP fields and the Opus payload are encrypted,
so the pipe may cross a network between hosts. The edge drops a datagram without its token, one
that does not authenticate (forged or altered: counted `pipe_forged`) and one whose counter it
has seen or that falls behind its 64-packet window (replayed: counted `pipe_replayed`).
Counters start from the clock in microseconds, so an origin restarted under the same worker id
goes on above what the edge has seen.

Datagram (network byte order): magic "RP", version 2, flags (marker, audio level present, vad),
token (8), room_id (int64), user_id (int64), counter (uint64); then sealed: sequence number (16),
timestamp (32), SSRC (32), payload type (8), audio level (8), the Opus payload; then the 16-byte
GCM tag. Nonce: 4 zero bytes and the counter.

The cascade runs inside a worker and reaches it only through `RoomHost`: the worker's id,
channel layer, registry and rooms, and its public `room_ensure` / `room_end`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from aiortc.rtp import RtpPacket
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from media_relay import conf, protocol
from media_relay.placement import Registry, worker_channel

if TYPE_CHECKING:
    from media_relay.sessions import RelayRoom

logger = logging.getLogger(__name__)

MAGIC = b"RP"
VERSION = 2
_PREFIX = struct.Struct("!2sBB8sqqQ")
_BODY = struct.Struct("!HIIBB")
HEADER_SIZE = _PREFIX.size
TAG_SIZE = 16
_MARKER, _HAS_LEVEL, _VAD = 1, 2, 4
KEY_SIZE = 16  # AES-128-GCM
REPLAY_WINDOW = 64


def _nonce(counter: int) -> bytes:
    return b"\0\0\0\0" + counter.to_bytes(8, "big")


def pipe_encode(
    token: bytes, aead: AESGCM, counter: int, room_id: int, user_id: int, packet: RtpPacket
) -> bytes:
    """One sealed datagram (what the origin sends an edge), with the edge's token and key."""
    flags, body = _pipe_body(packet)
    return _seal(aead, token, counter, flags, room_id, user_id, body)


def _pipe_body(packet: RtpPacket) -> tuple[int, bytes]:
    level_ext = packet.extensions.audio_level
    flags = _MARKER if packet.marker else 0
    level = 127
    if level_ext is not None:
        vad, level = level_ext
        flags |= _HAS_LEVEL | (_VAD if vad else 0)
    body = (
        _BODY.pack(
            packet.sequence_number, packet.timestamp, packet.ssrc, packet.payload_type, level
        )
        + packet.payload
    )
    return flags, body


def _seal(
    aead: AESGCM, token: bytes, counter: int, flags: int, room_id: int, user_id: int, body: bytes
) -> bytes:
    header = _PREFIX.pack(MAGIC, VERSION, flags, token, room_id, user_id, counter)
    return header + aead.encrypt(_nonce(counter), body, header)


@dataclass(frozen=True, slots=True)
class PipeDatagram:
    """A datagram's clear header, before its body is opened with the edge's key."""

    flags: int
    token: bytes
    room_id: int
    user_id: int
    counter: int
    header: bytes
    sealed: bytes

    def open(self, aead: AESGCM) -> RtpPacket | None:
        """The packet, or None if the datagram does not authenticate under `aead`'s key."""
        try:
            body = aead.decrypt(_nonce(self.counter), self.sealed, self.header)
        except InvalidTag:
            return None
        if len(body) < _BODY.size:
            return None
        seq, ts, ssrc, payload_type, level = _BODY.unpack_from(body)
        packet = RtpPacket(
            payload_type=payload_type & 0x7F,
            marker=1 if self.flags & _MARKER else 0,
            sequence_number=seq,
            timestamp=ts,
            ssrc=ssrc,
            payload=body[_BODY.size :],
        )
        if self.flags & _HAS_LEVEL:
            packet.extensions.audio_level = (bool(self.flags & _VAD), level & 0x7F)
        return packet


def pipe_decode(data: bytes) -> PipeDatagram | None:
    """The datagram's clear header and sealed body, or None if this is not a pipe datagram."""
    if len(data) < HEADER_SIZE + TAG_SIZE + _BODY.size:
        return None
    magic, version, flags, token, room_id, user_id, counter = _PREFIX.unpack_from(data)
    if magic != MAGIC or version != VERSION:
        return None
    return PipeDatagram(
        flags, token, room_id, user_id, counter, data[:HEADER_SIZE], data[HEADER_SIZE:]
    )


class ReplayWindow:
    """The counters an edge has accepted from its origin: the highest, and which of the 64 below
    it (as SRTP and IPsec keep them). A counter seen before, or older than the window, is a
    replay."""

    def __init__(self) -> None:
        self.highest = 0
        self.seen = 0  # bit i: highest - i accepted

    def accept(self, counter: int) -> bool:
        if counter > self.highest:
            shift = counter - self.highest
            self.seen = ((self.seen << shift) | 1) & ((1 << REPLAY_WINDOW) - 1)
            self.highest = counter
            return True
        offset = self.highest - counter
        if offset >= REPLAY_WINDOW or self.seen >> offset & 1:
            return False
        self.seen |= 1 << offset
        return True


class RoomHost(Protocol):
    """What the cascade needs of the worker it runs in (media_relay.worker.RelayWorker)."""

    @property
    def worker_id(self) -> str: ...

    @property
    def layer(self) -> Any: ...  # the channel layer

    @property
    def registry(self) -> Registry: ...

    @property
    def rooms(self) -> Mapping[int, RelayRoom]: ...

    def room_ensure(self, room_id: int) -> RelayRoom:
        """The room on this worker, created if it is not here yet."""
        ...

    async def room_end(self, room_id: int) -> None:
        """The room is gone from this worker (calls back `Cascade.room_ended`)."""
        ...


@dataclass
class PipeStats:
    packets_out: int = 0  # datagrams sent to edges
    send_dropped: int = 0  # socket buffer full or edge gone
    packets_in: int = 0  # datagrams accepted from an origin
    rejected: int = 0  # not a pipe datagram, unknown room or wrong token
    forged: int = 0  # carried the token but did not authenticate under the key
    replayed: int = 0  # authenticated, but a counter already seen or behind the window


@dataclass(eq=False)
class EdgeTarget:
    worker_id: str
    address: tuple[str, int]
    token: bytes
    key: bytes
    aead: AESGCM = field(init=False)
    # The last datagram's; each datagram to this edge takes the next. It starts from the clock
    # (microseconds), not 0: an origin restarted under the same worker id (compose names them)
    # gets the edge's same subscription again, and its counters must stay new to the edge's
    # replay window and never reuse a nonce under that key.
    counter: int = field(default_factory=lambda: time.time_ns() // 1000)

    def __post_init__(self) -> None:
        self.aead = AESGCM(self.key)


@dataclass(eq=False)
class OriginLink:
    """On the origin: the edges one room's packets go to."""

    room_id: int
    room: RelayRoom
    sock: socket.socket
    stats: PipeStats
    targets: dict[str, EdgeTarget] = field(default_factory=dict)
    _fanout: list[EdgeTarget] = field(default_factory=list)

    def set_target(self, target: EdgeTarget) -> None:
        self.targets[target.worker_id] = target
        self._fanout = list(self.targets.values())

    def drop_target(self, worker_id: str) -> None:
        if self.targets.pop(worker_id, None) is not None:
            self._fanout = list(self.targets.values())

    def send(self, user_id: int, packet: RtpPacket) -> None:
        """The room's packet tap: after the origin's own forwarding, pipe what it forwards."""
        publisher = self.room.forwarder.publishers.get(user_id)
        if publisher is None or not publisher.forwarding:
            return
        flags, body = _pipe_body(packet)
        stats = self.stats
        for target in self._fanout:
            target.counter += 1
            datagram = _seal(
                target.aead, target.token, target.counter, flags, self.room_id, user_id, body
            )
            try:
                self.sock.sendto(datagram, target.address)
                stats.packets_out += 1
            except OSError:  # buffer full (BlockingIOError), or the edge's port is gone
                stats.send_dropped += 1


@dataclass(eq=False)
class EdgeLink:
    """On an edge: which origin feeds this room, the token its datagrams carry and the key they
    are sealed with (both fresh for this subscription), and the counters accepted so far."""

    origin: str
    token: bytes = field(default_factory=lambda: os.urandom(8))
    key: bytes = field(default_factory=lambda: AESGCM.generate_key(bit_length=8 * KEY_SIZE))
    aead: AESGCM = field(init=False)
    window: ReplayWindow = field(default_factory=ReplayWindow)

    def __post_init__(self) -> None:
        self.aead = AESGCM(self.key)


class _PipeProtocol(asyncio.DatagramProtocol):
    def __init__(self, cascade: Cascade) -> None:
        self.cascade = cascade

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.cascade.pipe_received(data)

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable from a gone edge
        logger.debug("relay pipe: %s", exc)


class Cascade:
    """One worker's side of cascading: its pipe socket, the rooms it is origin of with edges, and
    the rooms it is an edge of."""

    def __init__(self, worker: RoomHost) -> None:
        self.worker = worker
        self.stats = PipeStats()
        self.origins: dict[int, OriginLink] = {}
        self.edges: dict[int, EdgeLink] = {}
        self._unresolved: set[int] = set()  # rooms whose origin lookup failed: retried each beat
        self._sock: socket.socket | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self.address: str | None = None

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        if self._sock is not None:
            return
        host = conf.pipe_host()
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind((host, 0))
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _PipeProtocol(self), sock=sock)
        self._sock, self._transport = sock, transport
        bound_host, port = sock.getsockname()[:2]
        self.address = f"{bound_host}:{port}"

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self._sock = self._transport = None
        self.address = None
        self.origins.clear()
        self.edges.clear()
        self._unresolved.clear()

    def is_edge(self, room_id: int) -> bool:
        return room_id in self.edges

    def metrics(self) -> dict[str, Any]:
        return {
            "pipe": self.address,
            "pipe_packets_out": self.stats.packets_out,
            "pipe_packets_in": self.stats.packets_in,
            "pipe_dropped": self.stats.send_dropped + self.stats.rejected,
            "pipe_forged": self.stats.forged,
            "pipe_replayed": self.stats.replayed,
            "edge_rooms": len(self.edges),
            "origin_edges": sum(len(link.targets) for link in self.origins.values()),
        }

    # --- the edge's receive path --------------------------------------------------------------
    def pipe_received(self, data: bytes) -> None:
        datagram = pipe_decode(data)
        if datagram is None:
            self.stats.rejected += 1
            return
        room_id, user_id = datagram.room_id, datagram.user_id
        link = self.edges.get(room_id)
        room = self.worker.rooms.get(room_id)
        if link is None or link.token != datagram.token or room is None or room.closed:
            self.stats.rejected += 1
            return
        packet = datagram.open(link.aead)
        if packet is None:
            self.stats.forged += 1
            return
        if not link.window.accept(datagram.counter):
            self.stats.replayed += 1
            return
        self.stats.packets_in += 1
        forwarder = room.forwarder
        if user_id not in forwarder.publishers:
            # The edge enforces the same stage as the origin (room-wide commands reach both).
            # Someone not on this edge's stage sends nothing here: a packet the origin piped just
            # before it applied a move to the audience, or a speaker whose room state has not
            # arrived yet (the next packet after it adds them). Adding them would leave a
            # publisher the stage no longer has.
            if user_id not in room.speakers:
                forwarder.stats.dropped_not_allowed += 1
                return
            forwarder.publisher_add(user_id, forwarding=user_id not in room.muted)
        forwarder.on_packet(user_id, packet)

    # --- channel-layer messages ---------------------------------------------------------------
    async def handle(self, message: protocol.PipeMessage) -> None:
        room_id = message.room_id
        if isinstance(message, protocol.PipeSubscribe):
            await self._subscribed(message)
        elif isinstance(message, protocol.PipeUnsubscribe):
            link = self.origins.get(room_id)
            if link is not None:
                link.drop_target(message.worker_id)
                if not link.targets:
                    self._origin_unlink(room_id)
        elif isinstance(message, protocol.PipeIdle):
            room = self.worker.rooms.get(room_id)
            if room is not None and not room.peers and self.is_edge(room_id):
                await self.worker.room_end(room_id)

    async def _subscribed(self, message: protocol.PipeSubscribe) -> None:
        if self._sock is None:
            return
        room_id, edge_id, token = message.room_id, message.worker_id, message.token_bytes
        key = message.key_bytes
        link = self.origins.get(room_id)
        known = link.targets.get(edge_id) if link is not None else None
        if known is not None and known.token == token and known.key == key:
            return  # the edge's periodic re-announcement
        address = await self._pipe_address(edge_id)
        if address is None:
            logger.warning("relay pipe: edge %s of room %s has no live pipe", edge_id, room_id)
            return
        room = self.worker.room_ensure(room_id)
        link = self.origins.get(room_id)
        if link is None:
            link = self.origins[room_id] = OriginLink(room_id, room, self._sock, self.stats)
            room.pipe = link.send
        link.set_target(EdgeTarget(edge_id, address, token, key))
        state = protocol.RoomState(
            room_id=room_id, speakers=tuple(sorted(room.speakers)), muted=tuple(sorted(room.muted))
        )
        await self.worker.layer.send(worker_channel(edge_id), protocol.encode(state))

    async def _pipe_address(self, worker_id: str) -> tuple[str, int] | None:
        """The edge's pipe endpoint, as it announces it in the registry with its heartbeat."""
        workers = await asyncio.to_thread(self.worker.registry.workers)
        info = next((w for w in workers if w["worker_id"] == worker_id and w["alive"]), None)
        if info is None or not info.get("pipe"):
            return None
        host, _, port = str(info["pipe"]).rpartition(":")
        return host.strip("[]"), int(port)

    def _origin_unlink(self, room_id: int) -> None:
        link = self.origins.pop(room_id, None)
        if link is not None and link.room.pipe == link.send:
            link.room.pipe = None

    # --- membership hooks (called by the worker) ----------------------------------------------
    async def member_joining(self, room_id: int) -> None:
        """A member's offer is about to be answered here: if another worker is the room's origin,
        this worker is one of its edges. It subscribes to the origin's pipe, and its room takes
        no publisher (a speaker placed here by mistake is answered like a listener)."""
        try:
            origin = await asyncio.to_thread(self.worker.registry.room_worker, room_id)
        except Exception:  # answer anyway; the next heartbeat retries
            logger.exception("relay pipe: no registry to find room %s's origin", room_id)
            self._unresolved.add(room_id)
            return
        self._unresolved.discard(room_id)
        await self._follow(room_id, origin)

    async def _follow(self, room_id: int, origin: str | None) -> None:
        link = self.edges.get(room_id)
        edge = origin is not None and origin != self.worker.worker_id and self.address is not None
        room = self.worker.rooms.get(room_id)
        if room is not None:
            room.accepts_publishers = not edge
        if not edge:
            if link is not None:  # the room moved here: this worker is its origin now
                del self.edges[room_id]
                await self._unsubscribe(room_id, link)
            return
        assert origin is not None
        if link is not None and link.origin != origin:
            await self._unsubscribe(room_id, link)
            link = None
        if link is None:
            link = self.edges[room_id] = EdgeLink(origin)
        try:
            subscribe = protocol.PipeSubscribe(
                room_id=room_id,
                worker_id=self.worker.worker_id,
                token=link.token.hex(),
                key=link.key.hex(),
            )
            await self.worker.layer.send(worker_channel(origin), protocol.encode(subscribe))
        except Exception as exc:  # noqa: BLE001 - e.g. ChannelFull: a dead origin; retried next beat
            logger.warning(
                "relay pipe: subscribing to %s for room %s failed: %s", origin, room_id, exc
            )

    async def _unsubscribe(self, room_id: int, link: EdgeLink) -> None:
        unsubscribe = protocol.PipeUnsubscribe(room_id=room_id, worker_id=self.worker.worker_id)
        with contextlib.suppress(Exception):
            await self.worker.layer.send(worker_channel(link.origin), protocol.encode(unsubscribe))

    async def room_ended(self, room_id: int) -> None:
        """The room is gone from this worker: an origin ends it on its edges, an edge leaves."""
        link = self.origins.get(room_id)
        if link is not None:
            self._origin_unlink(room_id)
            end = protocol.encode(protocol.End(room_id=room_id))
            for worker_id in list(link.targets):
                with contextlib.suppress(Exception):
                    await self.worker.layer.send(worker_channel(worker_id), end)
        edge = self.edges.pop(room_id, None)
        if edge is not None:
            await self._unsubscribe(room_id, edge)

    async def refresh(self) -> None:
        """Every heartbeat: edges re-announce themselves (re-targeting a moved origin), origins
        stop piping to edges whose heartbeat stopped."""
        for room_id in list(self._unresolved):
            if room_id in self.worker.rooms:
                await self.member_joining(room_id)
            else:
                self._unresolved.discard(room_id)
        if not self.edges and not self.origins:
            return
        registry = self.worker.registry
        if self.origins:
            workers = await asyncio.to_thread(registry.workers)
            alive = {w["worker_id"] for w in workers if w["alive"]}
            for room_id, link in list(self.origins.items()):
                for worker_id in [w for w in link.targets if w not in alive]:
                    link.drop_target(worker_id)
                if not link.targets:
                    self._origin_unlink(room_id)
        for room_id in list(self.edges):
            origin = await asyncio.to_thread(registry.room_worker, room_id)
            if room_id in self.edges:
                await self._follow(room_id, origin)
