"""WebRTC signalling on room sockets (docs/protocol.md, "Audio"): the socket side of the relay,
speaking its protocol (media_relay/protocol.py) through its client (media_relay/signalling.py).

- `RtcLink` (one per socket, created on its first `rtc.offer`): the socket's channel-layer
  channel and the task reading relay replies from it. Ordinary sockets never create one, so they
  cost no channel-layer subscription. Where an offer goes and the room state sent before it
  come from the `prepare` function it is given (rooms/relay_bridge.py, which reads the
  rooms' tables).
- `RelayFollower` (one per hub, created when a first local socket offers): for each room with
  WebRTC sockets in this process, it receives the room's `relay.speaking` events once and hands
  them to the local sockets as `room.speaking` pushes, and checks every `relay_check_seconds`
  that the workers those sockets are connected to still heartbeat; a socket whose worker died is
  pushed `rtc.renegotiate` (`relay_moved`), and its client re-offers (placed on a live worker).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from redis.exceptions import RedisError

from clubhouse.errors import ApplicationError
from media_relay import conf as relay_conf
from media_relay import protocol, signalling
from media_relay.placement import room_events_group
from rooms.realtime import conf, framing
from rooms.realtime.framing import FrameError, Request

if TYPE_CHECKING:
    from rooms.realtime.fanout import Hub

logger = logging.getLogger(__name__)

_request_ids = itertools.count(1)

# (room_id, user_id, publishing) -> (the worker the offer goes to, the room state to send first);
# blocking (database, placement). rooms/relay_bridge.py's `member_offer_prepare`.
OfferPrepare = Callable[[int, int, bool], tuple[str, protocol.RoomState]]
# What answers a request (by its request id).
Answered = protocol.Answer | protocol.IceAdded | protocol.Error
_ANSWERS = (protocol.Answer, protocol.IceAdded, protocol.Error)

# relay.error codes the client may see as they are (with their status); anything else is
# `relay_error`.
_RELAY_CODES = {
    "bad_offer": 400,
    "bad_candidate": 400,
    "candidate_refused": 400,
    "too_many_candidates": 429,
    "no_peer": 409,
    "room_ended": 409,
}


def push_frame(kind: str, room_id: int, data: dict[str, Any]) -> str:
    return framing.dumps({"type": kind, "room_id": room_id, "data": data})


class RtcLink:
    """One socket's relay connection state: its reply channel, reader and current worker."""

    def __init__(
        self, user_id: int, push: Callable[[str], Awaitable[None]], prepare: OfferPrepare
    ) -> None:
        self.user_id = user_id
        self.push = push  # writes one text frame to the socket
        self.prepare = prepare
        self.layer = get_channel_layer()
        self.channel: str | None = None
        self.room_id: int | None = None
        self.worker_id: str | None = None
        self._waiting: dict[str, asyncio.Future[Answered]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._offers: collections.deque[float] = collections.deque()  # last minute's offers

    async def _start(self) -> None:
        if self.layer is None:
            raise ApplicationError(
                "The audio relay is not configured.", code="relay_unavailable", status=503
            )
        if self.channel is None:
            self.channel = await self.layer.new_channel("rtc.")
            self._reader = asyncio.get_running_loop().create_task(self._read())

    # requests --------------------------------------------------------------------------------

    async def offer(self, request: Request, room_id: int) -> dict[str, Any]:
        sdp = request.payload.get("sdp")
        if not isinstance(sdp, str) or "m=audio" not in sdp:
            raise FrameError(
                "bad_offer",
                "`sdp` must be an SDP offer with audio m-lines.",
                request_id=request.id,
                fields={"sdp": ["An SDP offer (string) is required."]},
            )
        self._count_offer()
        await signalling.relay_embedded_ready()  # `make run`: the relay runs on this loop
        await self._start()
        assert self.channel is not None
        publishing = "a=sendonly" in sdp or "a=sendrecv" in sdp
        worker_id, state = await database_sync_to_async(self.prepare)(
            room_id, self.user_id, publishing
        )
        if self.room_id is not None and self.room_id != room_id:
            await self.close_peer()
        elif self.worker_id is not None and self.worker_id != worker_id:
            # Re-placed on another live worker (a listener who starts publishing moves to the
            # room's origin): close the connection on the old one; its `relay.peer_closed`
            # (reason `moved`) is our own doing and is not pushed to the client.
            await self.close_peer("moved")
        # Room state first: the relay answers with the mic m-line active only for speakers.
        refusal = "The relay could not answer the offer."
        answer = await self._relay_ask(
            worker_id,
            protocol.Offer(
                room_id=room_id,
                user_id=self.user_id,
                sdp=sdp,
                reply_to=self.channel,
                # the room state the membership check saw: a removal newer than it that
                # reached the worker first refuses this offer
                seq=state.seq,
            ),
            first=state,
            what="offer",
            refusal=refusal,
        )
        if not isinstance(answer, protocol.Answer):  # an answer of another kind: not ours
            raise _relay_refusal(None, refusal)
        self.room_id, self.worker_id = room_id, answer.worker_id or worker_id
        return {"sdp": answer.sdp, "worker_id": self.worker_id}

    def _count_offer(self) -> None:
        """Each offer builds a new peer connection at the relay (and closes the last): at most
        REALTIME_RTC_OFFERS_PER_MINUTE per socket."""
        now, limit = time.monotonic(), conf.rtc_offers_per_minute()
        while self._offers and now - self._offers[0] >= 60:
            self._offers.popleft()
        if len(self._offers) >= limit:
            raise ApplicationError(
                f"At most {limit} audio offers a minute; wait a moment and retry.",
                code="too_many_offers",
                status=429,
            )
        self._offers.append(now)

    async def _relay_ask(
        self,
        worker_id: str,
        message: protocol.Offer | protocol.Ice,
        *,
        what: str,
        refusal: str,
        first: protocol.RoomState | None = None,
    ) -> protocol.Answer | protocol.IceAdded:
        """Send `message` (after `first`, if given) to the worker, with a request id, and wait
        for its answer; no answer in time, or a channel layer that would not take the message,
        is 503 `relay_unavailable`, and a `relay.error` answer is the worker's refusal."""
        relay_request = f"{self.channel}#{next(_request_ids)}"
        future: asyncio.Future[Answered] = asyncio.get_running_loop().create_future()
        self._waiting[relay_request] = future
        try:
            if first is not None:
                await signalling.relay_send(worker_id, first)
            await signalling.relay_send(
                worker_id, dataclasses.replace(message, request_id=relay_request)
            )
            answer = await asyncio.wait_for(future, conf.relay_timeout_seconds())
        except (TimeoutError, ChannelFull, OSError, RedisError) as exc:
            logger.warning("realtime: %s to relay %s failed: %r", what, worker_id, exc)
            raise ApplicationError(
                "The audio relay did not answer; try again shortly.",
                code="relay_unavailable",
                status=503,
            ) from None
        finally:
            self._waiting.pop(relay_request, None)
        if isinstance(answer, protocol.Error):
            raise _relay_refusal(answer, refusal)
        return answer

    async def ice(self, request: Request, room_id: int) -> dict[str, Any]:
        candidate = request.payload.get("candidate")
        if not isinstance(candidate, dict) or not isinstance(candidate.get("candidate", ""), str):
            raise FrameError(
                "invalid",
                "`candidate` must be an object {candidate, sdpMid, sdpMLineIndex}.",
                request_id=request.id,
                fields={"candidate": ["An ICE candidate object is required."]},
            )
        if self.worker_id is None or self.room_id != room_id:
            raise FrameError(
                "no_peer", "Send an `rtc.offer` before ICE candidates.", request_id=request.id
            )
        clean = {
            "candidate": candidate.get("candidate") or "",
            "sdpMid": candidate.get("sdpMid") if isinstance(candidate.get("sdpMid"), str) else None,
            "sdpMLineIndex": candidate.get("sdpMLineIndex")
            if isinstance(candidate.get("sdpMLineIndex"), int)
            else None,
        }
        # The relay checks the candidate (address, count) and answers either way.
        assert self.channel is not None  # set by the offer
        await self._relay_ask(
            self.worker_id,
            protocol.Ice(
                room_id=room_id, user_id=self.user_id, candidate=clean, reply_to=self.channel
            ),
            what="ICE candidate",
            refusal="The relay could not add that candidate.",
        )
        return {}

    # relay → socket --------------------------------------------------------------------------

    async def _read(self) -> None:
        assert self.layer is not None
        assert self.channel is not None
        while True:
            message = await self.layer.receive(self.channel)
            try:
                await self._on_relay(message)
            except Exception:
                logger.exception("realtime: handling relay message %r failed", message.get("type"))

    async def _on_relay(self, raw: dict[str, Any]) -> None:
        message = protocol.receive(raw, protocol.REPLIES, f"the socket of user {self.user_id}")
        if isinstance(message, _ANSWERS):
            future = self._waiting.get(str(message.request_id))
            if future is not None and not future.done():
                future.set_result(message)
            elif isinstance(message, protocol.Error):
                logger.info("relay error for user %s: %s", self.user_id, message.code)
            return
        if isinstance(message, protocol.PeerClosed):
            if message.reason == "moved":
                return
            room_id = message.room_id
            if room_id == self.room_id:
                self.worker_id = None
            reason = message.reason or "closed"
            await self.push(push_frame("rtc.closed", room_id, {"reason": reason}))

    async def renegotiate(self, reason: str) -> None:
        if self.room_id is None:
            return
        if reason == "relay_moved":
            self.worker_id = None
        await self.push(push_frame("rtc.renegotiate", self.room_id, {"reason": reason}))

    # teardown --------------------------------------------------------------------------------

    async def close_peer(self, reason: str = "left", *, seq: int | None = None) -> None:
        """This socket left its room: close its relay connection (unless a newer offer of the
        same person, from another socket, replaced it). `seq`: the room event that removed the
        person (reason `removed`), which the worker remembers against a late offer."""
        room_id, worker_id = self.room_id, self.worker_id
        self.room_id = self.worker_id = None
        if room_id is None or worker_id is None:
            return
        message = protocol.Remove(
            room_id=room_id, user_id=self.user_id, reason=reason, seq=seq, if_channel=self.channel
        )
        with contextlib.suppress(Exception):
            await signalling.relay_send(worker_id, message)

    async def close(self) -> None:
        await self.close_peer("closed")
        for future in self._waiting.values():
            if not future.done():
                future.cancel()
        if self._reader is not None:
            self._reader.cancel()  # the channel layer unsubscribes a cancelled receive
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None


class RelayFollower:
    """Per hub (process): speaking events and relay-liveness for rooms with WebRTC sockets."""

    def __init__(self, hub: Hub, *, check_seconds: float | None = None) -> None:
        self.hub = hub
        self.layer = get_channel_layer()
        self.check_seconds = check_seconds or conf.relay_check_seconds()
        self.channel: str | None = None
        self.rooms: set[int] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        # Workers the registry had no record of, since when (loop time): see `check`.
        self._unrecorded_since: dict[str, float] = {}

    async def follow(self, room_id: int) -> None:
        if room_id in self.rooms or self.layer is None:
            return
        async with self._lock:
            if self.channel is None:
                self.channel = await self.layer.new_channel("relay-events.")
                loop = asyncio.get_running_loop()
                self._tasks = [loop.create_task(self._read()), loop.create_task(self._check())]
            if room_id not in self.rooms:
                self.rooms.add(room_id)
                await self.layer.group_add(room_events_group(room_id), self.channel)

    def unfollow(self, room_id: int) -> None:
        if room_id not in self.rooms or self.layer is None or self.channel is None:
            return
        self.rooms.discard(room_id)
        self.hub.spawn(self.layer.group_discard(room_events_group(room_id), self.channel))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self.layer is not None and self.channel is not None:
            for room_id in list(self.rooms):
                with contextlib.suppress(Exception):
                    await self.layer.group_discard(room_events_group(room_id), self.channel)
        self.rooms.clear()
        self.channel = None

    async def _read(self) -> None:
        assert self.layer is not None
        assert self.channel is not None
        while True:
            raw = await self.layer.receive(self.channel)
            message = protocol.receive(raw, protocol.EVENTS, "the relay follower")
            if not isinstance(message, protocol.Speaking):
                continue
            try:
                event = {
                    "type": "room.speaking",
                    "room_id": message.room_id,
                    "data": {
                        "user_id": message.user_id,
                        "speaking": message.speaking,
                        "level": message.level,
                    },
                }
                await self.hub.deliver_local(message.room_id, event)
            except Exception:
                logger.exception("realtime: delivering a speaking event failed")

    async def _check(self) -> None:
        while True:
            await asyncio.sleep(self.check_seconds)
            try:
                await self.check()
            except Exception:
                logger.exception("realtime: the relay liveness check failed")

    async def check(self) -> int:
        """Tell the sockets whose relay worker stopped heartbeating to re-offer. Returns how
        many were told."""
        links: list[RtcLink] = []
        for room_id in list(self.rooms):
            for member in self.hub.room_members(room_id):
                link = getattr(member, "rtc", None)
                if link is not None and link.worker_id is not None and link.room_id == room_id:
                    links.append(link)
        if not links:
            return 0
        # A listener on a live edge must re-offer too when the room's origin died (the room
        # moves and every placement starts over), so the origins are checked as well.
        origins = await asyncio.to_thread(
            signalling.room_origins, {link.room_id for link in links if link.room_id is not None}
        )
        workers = {link.worker_id for link in links if link.worker_id is not None}
        workers |= {origin for origin in origins.values() if origin is not None}
        alive = self._judge(await asyncio.to_thread(signalling.workers_liveness, workers))
        told = 0
        for link in links:
            if link.worker_id is None or link.room_id is None:
                continue
            origin = origins.get(link.room_id)
            if not alive.get(link.worker_id, False) or (
                origin is not None and not alive.get(origin, False)
            ):
                await link.renegotiate("relay_moved")
                told += 1
        return told

    def _judge(self, liveness: dict[str, bool | None]) -> dict[str, bool]:
        """A stale heartbeat is a dead worker at once. No record at all is one only once it has
        lasted a heartbeat TTL: a Redis that restarted empty holds no worker until each one's
        next heartbeat, and sending every socket into a re-offer then would cut audio that still
        flows (tests/recovery/test_redis_restart.py). A worker that unregistered is let go of
        after the same delay as one killed outright."""
        now = asyncio.get_running_loop().time()
        judged: dict[str, bool] = {}
        for worker_id, alive in liveness.items():
            if alive is None:
                since = self._unrecorded_since.setdefault(worker_id, now)
                judged[worker_id] = now - since < relay_conf.worker_ttl_s()
            else:
                self._unrecorded_since.pop(worker_id, None)
                judged[worker_id] = alive
        for worker_id in set(self._unrecorded_since) - set(liveness):
            del self._unrecorded_since[worker_id]
        return judged


def _relay_refusal(answer: protocol.Error | None, default: str) -> ApplicationError:
    code = (answer.code if answer is not None else "") or "relay_error"
    if code == "removed":
        return ApplicationError("You are no longer in this room.", code="not_in_room", status=409)
    return ApplicationError(
        (answer.message if answer is not None else "") or default,
        code=code if code in _RELAY_CODES else "relay_error",
        status=_RELAY_CODES.get(code, 409),
    )
