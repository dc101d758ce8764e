"""`manage.py demo_speaker`: the `make run` bot speakers.

By default the stage of the demo music room (rooms/demo.py: nina, miles and linus in "Late-night
jazz listening") plays there, one bot per person, all in this process. Each bot joins the room
like any client: its own room WebSocket (`/ws/`, a session token), then its own WebRTC peer
connection with `rtc.offer`, publishing its part of generated music (media_relay/demo_audio.py).
They take turns: one plays while the others send silence, so the relay's speaking indicator
(`room.speaking`) moves from one to the next. Each bot re-offers on `rtc.renegotiate`,
reconnects if the server goes away, gets back on stage or reopens the room if it ended, and stops
cleanly on SIGINT/SIGTERM. Demo use only: it logs in as demo accounts without a password.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.core.management.base import BaseCommand, CommandError

from clubhouse.errors import ApplicationError
from media_relay.demo_audio import DemoMusicTrack, Turns
from rooms import demo
from rooms.client import ConnectionClosed, ProtocolError, RoomClient

if TYPE_CHECKING:
    from accounts.models import User
else:
    User = get_user_model()

logger = logging.getLogger(__name__)

DEFAULT_ROOM = demo.MUSIC_ROOM.title
DEFAULT_USERS = demo.MUSIC_ROOM.stage
DEFAULT_TURN_S = 8.0


def prepare(username: str, title: str, band: Sequence[str] = ()) -> tuple[int, str]:
    """The room's id and a session token for the bot's account.

    The room is the newest live room titled `title` with someone of the band on stage; the bot
    gets on stage there as a person would (join, a moderator's invitation, accept). If there is
    none, the room is opened again (by the first of the band, with the demo room's topics and
    audience when `title` is a demo room's, rooms/demo.py)."""
    user = User.objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"No user {username!r}: run `manage.py demo_data` first.")
    spec = demo.room_spec(title, tuple(band) or (username,))
    room = demo.room_find(spec)
    if room is None:
        room = demo.room_ensure(spec)
        assert room is not None  # the bot's own account exists
    demo.stage_take(room, user)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    assert session.session_key is not None
    return room.pk, session.session_key


class Bot:
    """One bot speaker: a room socket and a peer connection publishing player `player`'s part
    of the music during its `turns`."""

    def __init__(
        self,
        url: str,
        username: str,
        title: str,
        out: Callable[[str], Any],
        *,
        band: Sequence[str] = (),
        player: int = 0,
        turns: Turns | None = None,
        epoch: float | None = None,
        stopping: asyncio.Event | None = None,
    ) -> None:
        self.url, self.username, self.title, self.out = url, username, title, out
        self.band = tuple(band) or (username,)
        self.player, self.turns = player, turns or Turns()
        self.epoch = time.monotonic() if epoch is None else epoch
        self.stopping = stopping or asyncio.Event()
        self.pc: RTCPeerConnection | None = None

    async def run(self) -> None:
        delay = 1.0
        try:
            while not self.stopping.is_set():
                try:
                    await self.session()
                    delay = 1.0
                except (
                    OSError,
                    ConnectionError,
                    ConnectionClosed,
                    ProtocolError,
                    TimeoutError,
                    ApplicationError,  # e.g. a moderator removed it: say so, try again later
                ) as exc:
                    self.out(
                        f"demo speaker: {self.username}: {exc.__class__.__name__}: {exc}; "
                        f"retrying in {delay:.0f} s"
                    )
                await self._close_pc()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), delay)
                delay = min(delay * 2, 10.0)
        finally:
            await self._close_pc()

    async def session(self) -> None:
        room_id, token = await sync_to_async(prepare)(self.username, self.title, self.band)
        client = await RoomClient.connect(self.url, token=token)
        try:
            snapshot = await client.join(room_id)
            you = snapshot.get("you") or {}
            if you.get("role") == "listener":
                self.out(f"demo speaker: {self.username} is not on stage in room {room_id}")
            elif you.get("muted"):
                await client.request("room.self_unmute", room_id=room_id)
            await self.offer(client)
            turns = (
                f" (taking turns with {', '.join(u for u in self.band if u != self.username)})"
                if self.turns.players > 1
                else ""
            )
            self.out(f"demo speaker: {self.username} is playing music in room {room_id}{turns}")
            await self.follow(client)
        finally:
            await client.close()

    async def offer(self, client: RoomClient) -> None:
        await self._close_pc()
        pc = self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        track = DemoMusicTrack(self.player, self.turns, self.epoch)
        pc.addTransceiver(track, direction="sendonly")
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


class Band:
    """Several bots on one stage, in one process, taking turns on one clock."""

    def __init__(
        self,
        url: str,
        usernames: Sequence[str],
        title: str,
        out: Callable[[str], Any],
        *,
        turn_s: float = DEFAULT_TURN_S,
        rest_s: float = Turns.rest_s,
    ) -> None:
        self.stopping = asyncio.Event()
        turns = Turns(players=len(usernames), turn_s=turn_s, rest_s=rest_s)
        epoch = time.monotonic()
        self.bots = [
            Bot(
                url,
                username,
                title,
                out,
                band=usernames,
                player=index,
                turns=turns,
                epoch=epoch,
                stopping=self.stopping,
            )
            for index, username in enumerate(usernames)
        ]

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for bot in self.bots:
                group.create_task(bot.run())


class Command(BaseCommand):
    help = (
        "Demo: bot speakers that join a live room over /ws/ + WebRTC and take turns playing music."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--url", default="ws://127.0.0.1:8000/ws/", help="the room socket")
        parser.add_argument(
            "--user",
            action="append",
            dest="users",
            help=(
                "a demo account on stage; repeat it for several, which take turns "
                f"(default: {', '.join(DEFAULT_USERS)})"
            ),
        )
        parser.add_argument("--room", default=DEFAULT_ROOM, help="the live room's title")
        parser.add_argument(
            "--turn-seconds",
            type=float,
            default=DEFAULT_TURN_S,
            help="how long each bot plays before the next one (with several)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        users = list(dict.fromkeys(options["users"] or DEFAULT_USERS))
        if options["turn_seconds"] < 2 * Turns.rest_s:
            raise CommandError(f"--turn-seconds must be at least {2 * Turns.rest_s:g}.")
        found = set(User.objects.filter(username__in=users).values_list("username", flat=True))
        if missing := [u for u in users if u not in found]:
            raise CommandError(f"No user {missing[0]!r}: run `manage.py demo_data` first.")
        logging.getLogger("aioice").setLevel(logging.WARNING)  # one line per ICE check otherwise
        asyncio.run(self._run(options["url"], users, options["room"], options["turn_seconds"]))

    async def _run(self, url: str, users: list[str], title: str, turn_s: float) -> None:
        band = Band(url, users, title, lambda line: self.stdout.write(line), turn_s=turn_s)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, band.stopping.set)
        await band.run()
        self.stdout.write("demo speaker: stopped")
