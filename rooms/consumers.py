"""The room WebSocket at /ws/ (docs/protocol.md): authenticate, parse, call one service, forward.

A socket is in at most one room at a time. Room events do not come through the channel layer:
the process's fan-out hub (rooms/realtime/fanout.py) calls `push()` directly, so an event costs
one dict lookup and one write per socket instead of a channel-layer message, a task and a
thread hop each.

WebRTC signalling (`rtc.offer`, `rtc.ice`) goes to the room's relay worker over the channel
layer (the relay protocol, media_relay/protocol.py; where the offer goes,
rooms/relay_bridge.py); a socket gets a channel-layer channel of its own only once it
offers (rooms/realtime/rtc.py), so sockets that never start audio stay cheap.

The user is loaded once, at connect, but an account can be disabled (banned) while its sockets
are open. The ban's `account.disabled` push, on the person's user channel, refuses every socket
of theirs (error `account_disabled`, close 4403); a frame that races that push is refused too,
because every frame that reaches the room domain or the relay first re-reads the account
(`user_require_member_now`, one primary-key query in the same database call).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from typing import Any

from channels.consumer import AsyncConsumer
from channels.exceptions import StopConsumer

from accounts.permissions import user_require_member, user_require_member_now
from clubhouse.errors import ApplicationError
from clubhouse.logs import request_id_bound, request_id_from
from clubhouse.metrics import WEBSOCKETS_OPEN
from rooms import relay_bridge
from rooms.realtime import admission, conf, domain, framing
from rooms.realtime.dbpool import db_call
from rooms.realtime.fanout import Hub, get_hub
from rooms.realtime.framing import FrameError, Request
from rooms.realtime.rtc import RtcLink

logger = logging.getLogger(__name__)

SUBPROTOCOL = "clubhouse.v1"
# A session token sent in the URL (`?token=`) is refused (clubhouse/ws_auth.py marks the scope).
TOKEN_IN_URL = "token_in_url"  # noqa: S105 (an error code, not a secret)
CLOSE_TOKEN_IN_URL = 4400
CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_MANY = 4429  # over a per-member limit (REALTIME_MAX_SOCKETS_PER_USER)


class _FailureLog:
    """Unexpected failures while answering a frame: the first in each `window` seconds is
    logged with its traceback, the rest are counted and the count is told with the next one,
    so a client repeating a frame that trips a bug cannot flood the log."""

    def __init__(self, window: float = 60.0) -> None:
        self.window = window
        self.next_at = 0.0
        self.suppressed = 0

    def log(self, unparsed: bool, text: str) -> None:
        now = time.monotonic()
        if now < self.next_at:
            self.suppressed += 1
            return
        self.next_at = now + self.window
        suppressed, self.suppressed = self.suppressed, 0
        logger.exception(
            "realtime: a %s frame failed (%d more failures in the last %d s not logged): %.80r",
            "malformed" if unparsed else "request",
            suppressed,
            self.window,
            text,
        )


_failures = _FailureLog()


class RoomConsumer(AsyncConsumer):
    # Room events arrive through the hub; this consumer needs no channel of its own (one fewer
    # Redis subscription and one fewer pending receive per socket).
    channel_layer_alias = "__none__"

    def __init__(self, hub: Hub | None = None) -> None:
        self.hub = hub
        self.sid = uuid.uuid4().hex
        self.user: Any = None
        self.user_id = 0
        self.room_id: int | None = None
        self.syncing = False
        self.buffer: list[tuple[dict[str, Any], dict[str, Any], bytes]] = []
        self.last_seq = 0
        self.closed = False
        self.wire: Any = None
        self.bucket = framing.TokenBucket(conf.rate_per_second(), conf.rate_burst(), 0.0)
        self.max_bytes = conf.max_frame_bytes()
        self.rtc: RtcLink | None = None
        self.listening = False  # on the hub's user channel, counted online
        self.counted_open = False  # in the sockets-open gauge (clubhouse/metrics.py)
        # Held while a frame is handled, so a refusal pushed meanwhile lets go of the room and
        # the audio only once that frame is done with them.
        self.busy = asyncio.Lock()
        # Log lines name the connection (the upgrade request's valid X-Request-ID, else a new id)
        # and, while a frame is answered, the frame: `<connection>.<frame number>`. Relay
        # commands and tasks a frame causes carry the frame's.
        self.request_id = ""
        self.frames = 0

    # Channels ≥ 4.2 runs close_old_connections() in a thread before *every* handler; that was
    # ~28% of daphne's CPU at 2,000 members. Here every database call goes through
    # the database pool (rooms/realtime/dbpool.py), which closes stale connections itself, so the hop is skipped.
    async def dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "websocket.receive":
            self.frames += 1
            with request_id_bound(f"{self.request_id}.{self.frames}"):
                await self.websocket_receive(message)
        elif kind == "websocket.connect":
            upgrade = dict(self.scope.get("headers") or ()).get(b"x-request-id", b"")
            self.request_id = request_id_from(upgrade.decode("latin-1"))
            with request_id_bound(self.request_id):
                await self.websocket_connect(message)
        elif kind == "websocket.disconnect":
            with request_id_bound(self.request_id):
                await self.websocket_disconnect(message)

    # connection ------------------------------------------------------------------------------

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        await self.base_send({"type": "websocket.accept", "subprotocol": self._subprotocol()})
        WEBSOCKETS_OPEN.inc()
        self.counted_open = True
        self.user = self.scope.get("user")
        if self.scope.get("auth_method") == TOKEN_IN_URL:
            await self._send_text(
                framing.error(
                    TOKEN_IN_URL,
                    "Session tokens are not accepted in the URL (it ends up in logs); send it in "
                    "the X-Session-Token header or as the subprotocol `token.<token>`.",
                )
            )
            await self.base_send({"type": "websocket.close", "code": CLOSE_TOKEN_IN_URL})
            self.closed = True
            return
        try:
            user_require_member(self.user)
        except ApplicationError as exc:
            if exc.code == "not_authenticated" and self.scope.get("auth_method") == "invalid_token":
                exc.message = "The session token is not valid (expired or logged out)."
            await self._send_text(framing.error(exc.code, exc.message))
            code = CLOSE_NOT_AUTHENTICATED if exc.code == "not_authenticated" else CLOSE_FORBIDDEN
            await self.base_send({"type": "websocket.close", "code": code})
            self.closed = True
            return
        self.user_id = self.user.pk
        self.wire = _daphne_protocol(self.base_send)
        if self.hub is None:
            self.hub = get_hub()
        await self.hub.join_user(self.user_id, self)
        self.listening = True
        try:
            counted = await self.hub.connected_user(self.user_id, self.sid)
        except Exception:  # being shown online is a nicety: never refuse the socket for it
            logger.exception("realtime: recording that a member is online failed")
            counted = True
        if not counted:  # the person's sockets are counted with their online mark
            self.listening = False
            self.hub.leave_user(self.user_id, self)
            most = conf.max_sockets_per_user()
            error = framing.error(
                "too_many_sockets", f"At most {most} open connections per member; close one."
            )
            await self._send_text(error)
            await self.base_send({"type": "websocket.close", "code": CLOSE_TOO_MANY})
            self.closed = True

    def _subprotocol(self) -> str | None:
        offered = self.scope.get("subprotocols") or []
        if SUBPROTOCOL in offered:
            return SUBPROTOCOL
        # A browser that offered only `token.<value>` needs one of its offers echoed back.
        return offered[0] if offered else None

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        self.closed = True
        if self.counted_open:
            self.counted_open = False
            WEBSOCKETS_OPEN.dec()
        async with self.busy:
            await self._release()
        raise StopConsumer()

    async def _release(self) -> None:
        """Let go of what the socket holds: its audio connection at the relay, its room (whose
        grace period starts), its user channel and its online mark. Each is given up once, so a
        refused socket's later disconnect finds nothing left to do."""
        rtc, self.rtc = self.rtc, None
        if rtc is not None:
            try:
                await rtc.close()  # the relay closes this socket's audio connection
            except Exception:
                logger.exception("realtime: closing the relay connection failed")
        if self.hub is None or not self.user_id:
            return
        if self.listening:
            self.listening = False
            self.hub.leave_user(self.user_id, self)
            try:
                await self.hub.disconnected_user(self.user_id, self.sid)
            except Exception:
                logger.exception("realtime: recording that a member went offline failed")
        if self.room_id is not None:
            room_id, self.room_id = self.room_id, None
            self.hub.leave_room(room_id, self)
            try:
                await self.hub.detach(room_id, self.user_id, self.sid, grace=True)
            except Exception:
                logger.exception("realtime: recording a disconnect failed")

    def _account_disabled(self) -> None:
        """The account was disabled while this socket was open (a ban's push on the user
        channel). Runs in the hub's fan-out loop: the socket stops acting at once; the close and
        the release are left to a task."""
        if self.closed or self.hub is None:
            return
        self.closed = True
        error = framing.error("account_disabled", "This account has been disabled.")
        self.hub.spawn(self._refuse(error))

    async def _refuse(self, error: str | None) -> None:
        """Close as a refused socket (4403), after `error` if given, and release everything."""
        if error is not None:
            await self.base_send({"type": "websocket.send", "text": error})
        await self.base_send({"type": "websocket.close", "code": CLOSE_FORBIDDEN})
        async with self.busy:
            await self._release()

    # client frames ---------------------------------------------------------------------------

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        if self.closed:
            return
        async with self.busy:
            refused = await self._receive(message)
        if refused:
            self.closed = True
            await self._refuse(None)

    async def _receive(self, message: dict[str, Any]) -> bool:
        """Answer one frame. Returns True when the account turned out to be disabled (the
        error is sent; the socket is to be refused)."""
        if self.closed:
            return False
        if not self.bucket.take(time.monotonic()):
            await self._send_text(
                framing.error("rate_limited", "Too many frames; slow down and retry.")
            )
            return False
        request_id: str | None = None
        try:
            request = framing.parse_request(message.get("text"), max_bytes=self.max_bytes)
            request_id = request.id
            data = await self._handle(request)
            await self._send_text(framing.reply(request.id, data if data is not None else {}))
        except FrameError as exc:
            await self._send_text(
                framing.error(
                    exc.code,
                    exc.message,
                    request_id=exc.request_id or request_id,
                    fields=exc.fields,
                    retry_after=exc.retry_after,
                )
            )
        except ApplicationError as exc:
            await self._send_text(
                framing.error(exc.code, exc.message, request_id=request_id, fields=exc.fields)
            )
            # Only ever about the person acting: their account was disabled since connecting.
            return exc.code == "account_disabled"
        except Exception:  # noqa: BLE001 - logged by _failures, answered with an `internal` frame
            _failures.log(request_id is None, message.get("text") or "")
            await self._send_text(
                framing.error("internal", "Something went wrong.", request_id=request_id)
            )
        return False

    async def _handle(self, request: Request) -> Any:
        """Returns the reply's data; room.join/room.snapshot reply themselves (see _reply_with_snapshot)."""
        if request.type == "ping":
            return {"time": time.time()}
        if request.type == "room.join":
            room_id = framing.require_int(request, "room_id")
            # Admission control (rooms/realtime/admission.py): past the process's joins in
            # flight, an immediate `room_busy` rather than a place at the back of the queue.
            if not admission.joins.try_enter():
                raise framing.room_busy(request.id, admission.retry_after_ms())
            try:
                await self._join(request, room_id)
            finally:
                admission.joins.leave()
            return None
        if request.type == "room.snapshot":
            await self._snapshot(request)
            return None
        if request.type == "room.leave":
            return await self._leave()
        if request.type == "rtc.offer":
            return await self._rtc_offer(request)
        if request.type == "rtc.ice":
            return await self._rtc_ice(request)
        action = domain.action(request.type)
        if action is None:
            raise FrameError("unknown_type", f"Unknown frame type `{request.type}`.")
        return await db_call(domain.as_member)(self.user, action, request.payload)

    # rooms -----------------------------------------------------------------------------------

    async def _join(self, request: Request, room_id: int) -> None:
        assert self.hub is not None
        if self.room_id is not None and self.room_id != room_id:
            # Not even the first room is left for a disabled account's frame.
            await db_call(user_require_member_now)(self.user)
            await self._leave()
        self.room_id = room_id
        self.syncing = True
        self.buffer = []
        try:
            # Subscribe first: from here on no event of this room can be missed, and the
            # snapshot read below covers everything published before.
            await self.hub.join_room(room_id, self)
            snapshot = await db_call(domain.as_member)(self.user, domain.join, room_id)
        except BaseException:
            self.hub.leave_room(room_id, self)
            self.room_id = None
            self.syncing = False
            self.buffer = []
            raise
        await self.hub.attach(room_id, self.user_id, self.sid)
        await self._reply_with_snapshot(request, snapshot)

    async def _snapshot(self, request: Request) -> None:
        if self.room_id is None:
            raise FrameError("not_in_room", "Join a room first.", request_id=request.id)
        room_id = self.room_id
        self.syncing = True
        self.buffer = []
        try:
            snapshot = await db_call(domain.as_member)(self.user, domain.snapshot, room_id)
        except BaseException:
            self.syncing = False
            self.buffer = []
            raise
        await self._reply_with_snapshot(request, snapshot)

    async def _reply_with_snapshot(self, request: Request, snapshot: dict[str, Any]) -> None:
        """Reply with the snapshot, then the events buffered meanwhile that it does not cover."""
        await self._send_text(framing.reply(request.id, snapshot))
        self.last_seq = int(snapshot.get("seq") or 0)
        while self.buffer:
            event, message, frame = self.buffer.pop(0)
            await self._forward(event, message, frame)
        self.syncing = False

    async def _leave(self) -> dict[str, Any]:
        """An explicit leave: no grace period, the domain is told at once."""
        assert self.hub is not None
        room_id = self.room_id
        if room_id is None:
            return {"room_id": None}
        if self.rtc is not None:
            await self.rtc.close_peer("left")
        self._forget_room()
        await self.hub.detach(room_id, self.user_id, self.sid, grace=False)
        await db_call(domain.leave)(self.user, room_id)
        return {"room_id": room_id}

    def _forget_room(self) -> None:
        if self.room_id is not None and self.hub is not None:
            self.hub.leave_room(self.room_id, self)
        self.room_id = None
        self.syncing = False
        self.buffer = []

    # WebRTC ----------------------------------------------------------------------------------

    def _rtc_room(self, request: Request) -> int:
        """The room the socket joined (the join enforced bans, club access and tickets)."""
        room_id = framing.optional_int(request, "room_id")
        if (
            self.room_id is None
            or self.syncing
            or (room_id is not None and room_id != self.room_id)
        ):
            raise FrameError(
                "not_in_room", "Join the room before starting audio.", request_id=request.id
            )
        return self.room_id

    async def _rtc_offer(self, request: Request) -> dict[str, Any]:
        room_id = self._rtc_room(request)
        assert self.hub is not None
        # The relay only checks that the person is in the room: check the account here.
        await db_call(user_require_member_now)(self.user)
        if self.rtc is None:
            self.rtc = RtcLink(self.user_id, self._send_text, relay_bridge.member_offer_prepare)
        # Follow the room's relay events before the offer: the relay tells a newcomer's room
        # who is talking right after answering.
        await self.hub.relay_follow(room_id)
        answer = await self.rtc.offer(request, room_id)
        if self.room_id != room_id:
            # Ejected while the relay answered (removed, or the room ended): no audio.
            await self.rtc.close_peer("removed")
            raise FrameError(
                "not_in_room", "You are no longer in this room.", request_id=request.id
            )
        return answer

    async def _rtc_ice(self, request: Request) -> dict[str, Any]:
        room_id = self._rtc_room(request)
        if self.rtc is None:
            raise FrameError(
                "no_peer", "Send an `rtc.offer` before ICE candidates.", request_id=request.id
            )
        return await self.rtc.ice(request, room_id)

    # pushes from the hub ---------------------------------------------------------------------

    async def push(
        self, kind: str, key: int, event: dict[str, Any], message: dict[str, Any], frame: bytes
    ) -> None:
        if self.closed:
            return
        if kind == "user":
            if event.get("type") == framing.ACCOUNT_DISABLED:
                self._account_disabled()
                return
            if event.get("type") == "room.left":
                # The person left this room elsewhere (over REST): this socket leaves it too.
                if event.get("room_id") != self.room_id or self.syncing:
                    return
                await self._write(message, frame)
                self._ejected("left")
                return
            if event.get("type", "").startswith("rtc.") and (
                self.rtc is None or self.rtc.room_id != event.get("room_id")
            ):
                return  # only the socket holding the audio connection re-offers
            await self._write(message, frame)
            return
        if key != self.room_id:
            return
        if self.syncing:
            self.buffer.append((event, message, frame))
            return
        await self._forward(event, message, frame)

    async def _write(self, message: dict[str, Any], frame: bytes) -> None:
        # Under daphne, write the frame built once by the hub straight to the connection: the
        # same bytes autobahn's sendMessage() would build again for each socket (server frames
        # are unmasked), without daphne's and autobahn's per-call work. Anything unusual (the
        # socket closing, an extension such as compression in use, not daphne) takes the
        # ordinary ASGI path.
        wire = self.wire
        if (
            wire is not None
            and wire.state == wire.STATE_OPEN
            and not wire.websocket_extensions_in_use
        ):
            _transport_write(wire.transport, frame)
            return
        await self.base_send(message)

    async def _forward(self, event: dict[str, Any], message: dict[str, Any], frame: bytes) -> None:
        seq = event.get("seq")
        if seq is not None:
            if seq <= self.last_seq:
                return  # already covered by the snapshot (or a duplicate)
            self.last_seq = seq
        await self._write(message, frame)
        kind = event.get("type")
        if kind == "room.ended":
            self._ejected("room_ended")
        elif (
            kind == "room.user_removed" and (event.get("data") or {}).get("user_id") == self.user_id
        ):
            self._ejected("removed", seq)

    def _ejected(self, reason: str, seq: int | None = None) -> None:
        """The room ended, this member was removed, or they left it elsewhere (over REST): stop
        following it, without a grace, and close this socket's audio connection at the relay
        itself (the room-wide command may be lost or overtaken; the worker remembers the
        removal's `seq` against a late offer).

        Runs inside the hub's fan-out loop, so the Redis write and the relay message are left
        to tasks instead of making the other members of the room wait for them."""
        room_id = self.room_id
        if room_id is None or self.hub is None:
            return
        self._forget_room()
        if self.rtc is not None and self.rtc.room_id == room_id:
            self.hub.spawn(self.rtc.close_peer(reason, seq=seq))
        self.hub.spawn(self.hub.detach(room_id, self.user_id, self.sid, grace=False))

    async def _send_text(self, text: str) -> None:
        if not self.closed:
            await self.base_send({"type": "websocket.send", "text": text})


def _transport_write(transport: Any, frame: bytes) -> None:
    """Write to a Twisted TCP transport, sending straight to the socket when nothing is queued.

    Twisted's own write() queues the bytes and registers the socket with the event loop for one
    writable callback, then unregisters it: two epoll changes and a loop turn per socket per
    event, which dominated daphne's CPU when fanning one event out to thousands. When Twisted
    has nothing queued for this socket, a non-blocking send() keeps the byte order; whatever
    the kernel does not take (or any other transport, e.g. TLS) goes through write() as usual.
    """
    sock = getattr(transport, "socket", None)
    queued: int = getattr(transport, "_tempDataLen", 1)
    unflushed = len(getattr(transport, "dataBuffer", b"x")) - getattr(transport, "offset", 0)
    writable = getattr(transport, "connected", False) and not getattr(
        transport, "_writeDisconnected", True
    )
    if sock is None or queued > 0 or unflushed > 0 or not writable:
        transport.write(frame)
        return
    try:
        sent = sock.send(frame)
    except (BlockingIOError, InterruptedError):
        sent = 0
    except OSError:
        transport.write(frame)  # let Twisted see and report the broken connection
        return
    if sent < len(frame):
        transport.write(frame[sent:])


def _daphne_protocol(send: Any) -> Any:
    """daphne passes `functools.partial(server.handle_reply, protocol)` as the ASGI send; its
    protocol is an autobahn WebSocketServerProtocol. None under any other server."""
    if not isinstance(send, functools.partial) or not send.args:
        return None
    protocol = send.args[0]
    needed = ("transport", "state", "STATE_OPEN", "websocket_extensions_in_use")
    return protocol if all(hasattr(protocol, name) for name in needed) else None
