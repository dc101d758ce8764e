"""A small asyncio client for the room protocol (docs/protocol.md), used by tests and benchmarks.

    client = await RoomClient.connect("ws://127.0.0.1:8000/ws/", token=token)
    snapshot = await client.join(7)
    event = await client.next_event()          # pushes, in order, gaps already repaired
    await client.request("room.hand_raise", room_id=7)
    answer = await client.rtc_offer(pc.localDescription.sdp)   # WebRTC with the room's relay
    push = await client.wait_push("rtc.renegotiate")           # un-sequenced pushes, kept too

It speaks RFC 6455 itself over asyncio streams (no third-party WebSocket package), and can also
run over any object with `send_text()`, `recv()` and `close()` (the tests pass Channels'
WebsocketCommunicator through a thin adapter).

Sequence numbers: the client keeps the room's `seq`. An event with `seq` at or below it is old
news and dropped; one with `seq` above `seq + 1` means something was missed, so the client asks
for `room.snapshot` and yields `{"type": "client.resync", "snapshot": ...}` before the events
that follow it. Events that arrive while that request is in flight are held back and replayed
if the new snapshot does not cover them. A `room.resync` push from the server (its Redis
subscription came back; events may have been missed) starts the same repair at once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import logging
import os
import ssl as ssl_module
import struct
from typing import Any, Protocol
from urllib.parse import urlparse

logger = logging.getLogger(__name__)

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class ProtocolError(Exception):
    """An `error` frame: `code`, `message`, `fields` as documented."""

    def __init__(self, frame: dict[str, Any]) -> None:
        super().__init__(f"{frame.get('code')}: {frame.get('message')}")
        self.frame = frame
        self.code: str = frame.get("code", "")
        self.message: str = frame.get("message", "")
        self.fields: dict[str, list[str]] = frame.get("fields") or {}
        # `room_busy`: milliseconds to wait before joining again.
        self.retry_after: int | None = frame.get("retry_after")


class ConnectionClosed(Exception):
    def __init__(self, code: int | None) -> None:
        super().__init__(f"connection closed (code {code})")
        self.code = code


class Transport(Protocol):
    async def send_text(self, text: str) -> None: ...

    async def recv(self) -> str | None:
        """The next text message, or None once the connection is closed."""

    async def close(self) -> None: ...


# --- RFC 6455, client side --------------------------------------------------------------------


def _mask(data: bytes, key: bytes) -> bytes:
    if not data:
        return data
    size = len(data)
    repeated = (key * (size // 4 + 1))[:size]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(size, "big")


class WebSocket:
    """A plain WebSocket client connection: text messages, ping/pong, close."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.close_code: int | None = None
        self.subprotocol: str | None = None
        self._closed = False

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        subprotocols: list[str] | None = None,
        timeout: float = 10.0,
        ssl_context: ssl_module.SSLContext | None = None,
    ) -> WebSocket:
        """`ssl_context` for wss:// (e.g. one trusting a private CA); default: the system's."""
        parsed = urlparse(url)
        host = parsed.hostname or "127.0.0.1"
        port = parsed.port or (443 if parsed.scheme == "wss" else 80)
        ssl = parsed.scheme == "wss"
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                host, port, ssl=(ssl_context or True) if ssl else None, limit=2**20
            ),
            timeout,
        )
        key = base64.b64encode(os.urandom(16)).decode()
        target = parsed.path or "/"
        if parsed.query:
            target += "?" + parsed.query
        scheme = "https" if ssl else "http"
        lines = [
            f"GET {target} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            f"Origin: {scheme}://{host}:{port}",
        ]
        if subprotocols:
            lines.append("Sec-WebSocket-Protocol: " + ", ".join(subprotocols))
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status, *header_lines = head.decode("latin-1").split("\r\n")
        if " 101 " not in status + " ":
            writer.close()
            raise ConnectionError(f"WebSocket handshake refused: {status}")
        response = {}
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                response[name.strip().lower()] = value.strip()
        expected = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()  # noqa: S324 - RFC 6455
        if response.get("sec-websocket-accept") != expected:
            writer.close()
            raise ConnectionError("WebSocket handshake: bad Sec-WebSocket-Accept")
        ws = cls(reader, writer)
        ws.subprotocol = response.get("sec-websocket-protocol")
        return ws

    def _frame(self, opcode: int, payload: bytes) -> bytes:
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        key = os.urandom(4)
        return header + key + _mask(payload, key)

    async def send_text(self, text: str) -> None:
        await self.send_frame(0x1, text.encode())

    async def send_bytes(self, data: bytes) -> None:
        await self.send_frame(0x2, data)

    async def send_frame(self, opcode: int, payload: bytes) -> None:
        if self._closed:
            raise ConnectionClosed(self.close_code)
        self._writer.write(self._frame(opcode, payload))
        await self._writer.drain()

    async def recv(self) -> str | None:
        parts: list[bytes] = []
        while True:
            try:
                first, second = await self._reader.readexactly(2)
                size = second & 0x7F
                if size == 126:
                    (size,) = struct.unpack("!H", await self._reader.readexactly(2))
                elif size == 127:
                    (size,) = struct.unpack("!Q", await self._reader.readexactly(8))
                key = await self._reader.readexactly(4) if second & 0x80 else b""
                payload = await self._reader.readexactly(size)
            except (asyncio.IncompleteReadError, ConnectionError):
                self._closed = True
                return None
            if key:
                payload = _mask(payload, key)
            opcode = first & 0x0F
            if opcode == 0x8:  # close
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                with contextlib.suppress(Exception):
                    self._writer.write(self._frame(0x8, payload[:2]))
                self._closed = True
                self._writer.close()
                return None
            if opcode == 0x9:  # ping
                with contextlib.suppress(Exception):
                    self._writer.write(self._frame(0xA, payload))
                continue
            if opcode == 0xA:  # pong
                continue
            parts.append(payload)
            if first & 0x80:  # FIN: a whole message (text; binary is decoded the same way)
                return b"".join(parts).decode()

    async def close(self, code: int = 1000) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(Exception):
                self._writer.write(self._frame(0x8, struct.pack("!H", code)))
                await self._writer.drain()
        self._writer.close()


# --- the room protocol ------------------------------------------------------------------------


class RoomClient:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.room_id: int | None = None
        self.seq = 0
        self.snapshot: dict[str, Any] | None = None
        self.gaps = 0
        self.close_code: int | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[Any]] = {}
        self._events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._resyncing = False
        self._held: list[dict[str, Any]] = []
        # Every un-sequenced push but audience counts (rtc.*, room.speaking, personal events,
        # errors), also kept here so a caller can wait for one kind without consuming the
        # others from next_event().
        self.pushes: list[dict[str, Any]] = []
        self._pushed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        token: str | None = None,
        session_cookie: str | None = None,
        cookie_name: str = "sessionid",
        ssl_context: ssl_module.SSLContext | None = None,
    ) -> RoomClient:
        headers = {}
        if token:
            # A header, never the URL: URLs end up in proxy logs (the server refuses `?token=`).
            headers["X-Session-Token"] = token
        if session_cookie:
            headers["Cookie"] = f"{cookie_name}={session_cookie}"
        ws = await WebSocket.connect(
            url, headers=headers, subprotocols=["clubhouse.v1"], ssl_context=ssl_context
        )
        return cls(ws)

    # requests ----------------------------------------------------------------------------------

    async def request(self, frame_type: str, timeout: float = 10.0, **payload: Any) -> Any:
        """Send a request and wait for its reply's `data`; an `error` frame raises ProtocolError."""
        request_id = f"r{next(self._ids)}"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            await self.transport.send_text(
                json.dumps({"id": request_id, "type": frame_type, **payload})
            )
            return await asyncio.wait_for(future, timeout)
        finally:
            self._waiting.pop(request_id, None)

    async def join(self, room_id: int) -> dict[str, Any]:
        self._resyncing = True  # hold this room's events until the snapshot is in
        self._held = []
        self.room_id = room_id
        try:
            snapshot = await self.request("room.join", room_id=room_id)
        except BaseException:
            self.room_id = None
            self._resyncing = False
            raise
        self._apply_snapshot(snapshot)
        return snapshot

    async def leave(self) -> Any:
        data = await self.request("room.leave")
        self.room_id = None
        self.snapshot = None
        return data

    # WebRTC signalling (docs/protocol.md, "Audio") ---------------------------------------------

    async def rtc_offer(self, sdp: str, timeout: float = 20.0) -> dict[str, Any]:
        """Send an SDP offer for the joined room; returns `{sdp: <answer>, worker_id}`."""
        data: dict[str, Any] = await self.request("rtc.offer", timeout=timeout, sdp=sdp)
        return data

    async def rtc_ice(self, candidate: dict[str, Any]) -> dict[str, Any]:
        """Trickle one ICE candidate `{candidate, sdpMid, sdpMLineIndex}` (optional)."""
        data: dict[str, Any] = await self.request("rtc.ice", candidate=candidate)
        return data

    def pushes_of(self, kind: str, since: int = 0) -> list[dict[str, Any]]:
        return [push for push in self.pushes[since:] if push.get("type") == kind]

    async def wait_push(
        self, kind: str, *, since: int = 0, timeout: float = 10.0, where: Any = None
    ) -> dict[str, Any]:
        """The first un-sequenced push of `kind` received at index `since` or later (and
        matching `where(push)` if given), waiting up to `timeout` seconds for it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for push in self.pushes_of(kind, since):
                if where is None or where(push):
                    return push
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no {kind} push within {timeout} s")
            self._pushed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._pushed.wait(), remaining)

    async def resync(self) -> dict[str, Any]:
        self._resyncing = True
        self._held = []
        try:
            snapshot = await self.request("room.snapshot")
        except BaseException:
            self._resyncing = False
            raise
        self._events.put_nowait({"type": "client.resync", "snapshot": snapshot})
        self._apply_snapshot(snapshot)
        return snapshot

    def _apply_snapshot(self, snapshot: dict[str, Any]) -> None:
        self.snapshot = snapshot
        self.seq = int(snapshot.get("seq") or 0)
        held, self._held = self._held, []
        self._resyncing = False
        for event in held:
            self._on_room_event(event)

    # pushes ------------------------------------------------------------------------------------

    async def next_event(self, timeout: float = 10.0) -> dict[str, Any]:
        event = await asyncio.wait_for(self._events.get(), timeout)
        if event is None:
            self._events.put_nowait(None)
            raise ConnectionClosed(self.close_code)
        return event

    def pending_events(self) -> list[dict[str, Any]]:
        out = []
        while not self._events.empty():
            event = self._events.get_nowait()
            if event is None:
                self._events.put_nowait(None)
                break
            out.append(event)
        return out

    @property
    def closed(self) -> bool:
        """The connection is gone (the reader finished)."""
        return self._reader.done()

    async def wait_closed(self, timeout: float = 10.0) -> int | None:
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.close_code

    async def close(self) -> None:
        await self.transport.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader

    async def _read(self) -> None:
        try:
            while True:
                text = await self.transport.recv()
                if text is None:
                    break
                self._on_frame(json.loads(text))
        finally:
            self.close_code = getattr(self.transport, "close_code", None)
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(ConnectionClosed(self.close_code))
            self._events.put_nowait(None)

    def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        request_id = frame.get("id")
        if kind in ("reply", "error") and request_id in self._waiting:
            future = self._waiting[request_id]
            if not future.done():
                if kind == "reply":
                    future.set_result(frame.get("data"))
                else:
                    future.set_exception(ProtocolError(frame))
            return
        if "room_id" in frame and "seq" in frame:
            self._on_room_event(frame)
        elif kind == "room.resync":  # rooms.realtime.framing.ROOM_RESYNC; this module stands alone
            self.pushes.append(frame)
            self._pushed.set()
            if frame.get("room_id") == self.room_id and not self._resyncing:
                self._resyncing = True
                self._held = []
                asyncio.get_running_loop().create_task(self._repair())
        else:
            self._events.put_nowait(frame)  # un-sequenced pushes, personal events, errors
            if kind != "room.audience_count":  # frequent and only ever the latest matters
                self.pushes.append(frame)
                self._pushed.set()

    def _on_room_event(self, event: dict[str, Any]) -> None:
        if event.get("room_id") != self.room_id:
            return
        if self._resyncing:
            self._held.append(event)
            return
        seq = int(event["seq"])
        if seq <= self.seq:
            return
        if seq > self.seq + 1:
            self.gaps += 1
            self._resyncing = True
            self._held = [event]
            asyncio.get_running_loop().create_task(self._repair())
            return
        self.seq = seq
        self._events.put_nowait(event)

    async def _repair(self) -> None:
        try:
            snapshot = await self.request("room.snapshot")
        except Exception:  # the next gap asks again; say why this one could not be repaired
            logger.warning("room client: resync after a gap failed", exc_info=True)
            self._resyncing = False
            return
        self._events.put_nowait({"type": "client.resync", "snapshot": snapshot})
        self._apply_snapshot(snapshot)
