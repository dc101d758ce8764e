"""`manage.py demo_speaker`: the `make run` bot speaker.

A demo person (default `miles`, on stage in the demo room "Late-night jazz listening") joins
the room like any client: over the room WebSocket (`/ws/`, a session token), then WebRTC with
`rtc.offer`, publishing generated music (media_relay/demo_audio.py). It re-offers on
`rtc.renegotiate`, reconnects if the server goes away, reopens the room if it ended, and stops
cleanly on SIGINT/SIGTERM. Demo use only: it logs in as a demo account without a password.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from media_relay.demo_audio import DemoMusicTrack
from rooms import services
from rooms.client import ConnectionClosed, ProtocolError, RoomClient
from rooms.models import Room, RoomParticipant

logger = logging.getLogger(__name__)

DEFAULT_ROOM = "Late-night jazz listening"


def prepare(username: str, title: str) -> tuple[int, str]:
    """The demo room's id and a session token for the bot's account. The room is the newest
    live room with that title where the bot is on stage; if there is none, the bot opens one
    (as its moderator, through the room services)."""
    user = User.objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"No user {username!r}: run `manage.py demo_data` first.")
    room = (
        Room.objects.filter(
            title=title,
            status=Room.Status.LIVE,
            participants__user=user,
            participants__role__in=RoomParticipant.STAGE_ROLES,
        )
        .order_by("-pk")
        .first()
    )
    if room is None:
        room = services.room_create(user=user, title=title, type=Room.Type.OPEN)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    assert session.session_key is not None
    return room.pk, session.session_key


class Bot:
    def __init__(self, url: str, username: str, title: str, out: Any) -> None:
        self.url, self.username, self.title, self.out = url, username, title, out
        self.stopping = asyncio.Event()
        self.pc: RTCPeerConnection | None = None

    async def run(self) -> None:
        delay = 1.0
        while not self.stopping.is_set():
            try:
                await self.session()
                delay = 1.0
            except (OSError, ConnectionError, ConnectionClosed, ProtocolError, TimeoutError) as exc:
                self.out(
                    f"demo speaker: {exc.__class__.__name__}: {exc}; retrying in {delay:.0f} s"
                )
            await self._close_pc()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
            delay = min(delay * 2, 10.0)

    async def session(self) -> None:
        room_id, token = await sync_to_async(prepare)(self.username, self.title)
        client = await RoomClient.connect(self.url, token=token)
        try:
            snapshot = await client.join(room_id)
            you = snapshot.get("you") or {}
            if you.get("role") == "listener":
                self.out(f"demo speaker: {self.username} is not on stage in room {room_id}")
            elif you.get("muted"):
                await client.request("room.self_unmute", room_id=room_id)
            await self.offer(client)
            self.out(f"demo speaker: {self.username} is playing music in room {room_id}")
            await self.follow(client)
        finally:
            await client.close()

    async def offer(self, client: RoomClient) -> None:
        await self._close_pc()
        pc = self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTransceiver(DemoMusicTrack(), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        answer = await client.rtc_offer(pc.localDescription.sdp)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))

    async def follow(self, client: RoomClient) -> None:
        """Until the bot stops or the socket closes: re-offer when told to; start over (a new
        socket, perhaps a new room) when the relay closed the connection or the room ended."""
        seen = len(client.pushes)
        while not self.stopping.is_set():
            if client.closed:
                raise ConnectionClosed(client.close_code)
            frames, seen = client.pushes[seen:], len(client.pushes)
            for frame in frames:
                if frame.get("type") == "rtc.renegotiate":
                    await self.offer(client)
                elif frame.get("type") in ("rtc.closed", "room.removed"):
                    return
            if client.room_id is None or any(
                e.get("type") == "room.ended" for e in client.pending_events()
            ):
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), 0.25)

    async def _close_pc(self) -> None:
        pc, self.pc = self.pc, None
        if pc is not None:
            with contextlib.suppress(Exception):
                await pc.close()


class Command(BaseCommand):
    help = "Demo: a bot speaker that joins a live room over /ws/ + WebRTC and plays music."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--url", default="ws://127.0.0.1:8000/ws/", help="the room socket")
        parser.add_argument("--user", default="miles", help="the demo account it speaks as")
        parser.add_argument("--room", default=DEFAULT_ROOM, help="the live room's title")

    def handle(self, *args: Any, **options: Any) -> None:
        logging.getLogger("aioice").setLevel(logging.WARNING)  # one line per ICE check otherwise
        asyncio.run(self._run(options["url"], options["user"], options["room"]))

    async def _run(self, url: str, username: str, title: str) -> None:
        bot = Bot(url, username, title, lambda line: self.stdout.write(line))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, bot.stopping.set)
        await bot.run()
        self.stdout.write("demo speaker: stopped")
