"""Acceptance: aiortc clients through the real signalling path.

Each person is a RoomClient on the real `/ws/` consumer (authenticated, joined through the real
room services on PostgreSQL) plus an aiortc peer connection whose offer goes `rtc.offer` →
consumer → channel layer → relay worker → back. Listeners decode what they receive and check it
is the speaker's tone, not silence. Moderation goes through the same sockets (`room.speaker_mute`,
`room.user_remove`, ...), so the relay obeys what the room services commit.

Run on the in-memory channel layer (embedded mode, no Redis) and on Redis (pub/sub channel
layer, Redis placement registry, Redis fan-out) where the behaviour depends on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer

from accounts import services as account_services
from accounts.models import User
from media_relay import placement, protocol, signalling
from media_relay.testing import ListenerClient, SpeakerClient, wait_for
from media_relay.worker import RelayWorker
from rooms import relay_bridge
from rooms.client import ProtocolError, RoomClient
from rooms.models import Room
from rooms.realtime.fanout import Hub
from tests.rooms.factories import MemberFactory, RoomFactory, participant
from tests.rooms.test_realtime_support import flush_redis_keys, make_hub, open_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.slow]

TONE_FRAMES = 15  # 0.3 s of decoded tone


@dataclass
class Person:
    user: User
    ws: RoomClient
    peer: SpeakerClient | ListenerClient | None = None
    answers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def tone_frames(self) -> int:
        return self.peer.tone_frames if self.peer is not None else 0

    async def listen(self) -> dict[str, Any]:
        """(Re-)offer as a listener: RELAY_LISTENER_SLOTS receive-only m-lines."""
        return await self._offer(ListenerClient())

    async def speak(self) -> dict[str, Any]:
        """(Re-)offer with a microphone playing a 440 Hz tone, plus the receive slots."""
        return await self._offer(SpeakerClient(), slots=3)

    async def _offer(self, client: SpeakerClient | ListenerClient, **kw: Any) -> dict[str, Any]:
        old, self.peer = self.peer, client
        if old is not None:
            await old.close()
        sdp = await client.offer(**kw)
        answer = await self.ws.rtc_offer(sdp)
        await client.answer(answer["sdp"])
        self.answers.append(answer)
        return answer


@dataclass
class Scene:
    hub: Hub
    workers: dict[str, RelayWorker]
    tasks: dict[str, asyncio.Task[None]]
    room: Room | None = None
    people: list[Person] = field(default_factory=list)
    sockets: list[Any] = field(default_factory=list)

    async def worker(self, worker_id: str | None = None) -> RelayWorker:
        worker_id = worker_id or f"w-{uuid.uuid4().hex[:6]}"
        worker = RelayWorker(get_channel_layer(), worker_id=worker_id, registry=_registry())
        self.workers[worker_id] = worker
        self.tasks[worker_id] = asyncio.create_task(worker.run())
        await wait_for(lambda: any(w["worker_id"] == worker_id for w in _registry().workers()), 3)
        return worker

    async def person(self, user: User | None = None, *, join: bool = True) -> Person:
        user = user or await sync_to_async(MemberFactory)()
        ws, communicator = await open_socket(self.hub, user)
        assert ws is not None
        self.sockets.append(communicator)
        person = Person(user, ws)
        self.people.append(person)
        if join and self.room is not None:
            await ws.join(self.room.pk)
        return person

    async def stage(self, *, listeners: int = 2) -> tuple[Person, Person, list[Person]]:
        """A live room: its moderator, a speaker (on stage, unmuted) publishing the tone, and
        listeners offering receive slots. Returns once every listener hears the tone."""
        self.room = await sync_to_async(RoomFactory)()
        speaker_user = await sync_to_async(MemberFactory)()
        await sync_to_async(participant)(self.room, speaker_user, "speaker", muted=False)
        moderator = await self.person(self.room.created_by)
        speaker = await self.person(speaker_user)
        await speaker.speak()
        audience = [await self.person() for _ in range(listeners)]
        for listener in audience:
            await listener.listen()
        assert await hears_tone(audience), [p.tone_frames for p in audience]
        return moderator, speaker, audience

    def kill(self, worker_id: str) -> None:
        """The worker process dies: no goodbye to the registry, no last messages, its peer
        connections are gone."""
        worker = self.workers[worker_id]
        worker.registry = placement.MemoryRegistry()
        worker.layer = _Void()
        self.tasks[worker_id].cancel()


class _Void:
    async def send(self, channel: str, message: dict[str, Any]) -> None:
        return None

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        return None


def _registry() -> placement.Registry:
    return signalling._registry()


async def hears_tone(people: list[Person], timeout: float = 15.0) -> bool:
    start = [p.tone_frames for p in people]
    return await wait_for(
        lambda: all(p.tone_frames - s >= TONE_FRAMES for p, s in zip(people, start, strict=True)),
        timeout,
    )


async def silent(people: list[Person], seconds: float = 1.0) -> bool:
    await asyncio.sleep(1.5)  # what was already in flight, in jitter buffers and decoders
    start = [p.tone_frames for p in people]
    await asyncio.sleep(seconds)
    return [p.tone_frames for p in people] == start


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def scene(
    request: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Scene]:
    async for made in _scene(request.param, settings, monkeypatch):
        yield made


@pytest.fixture
async def memory_scene(settings: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Scene]:
    async for made in _scene("memory", settings, monkeypatch):
        yield made


async def _scene(kind: str, settings: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Scene]:
    settings.RELAY_EMBEDDED = False
    settings.RELAY_WORKER_TTL_S = 1.0
    settings.RELAY_HEARTBEAT_S = 0.25
    settings.REALTIME_RELAY_CHECK_SECONDS = 0.2
    settings.RELAY_REDIS_PREFIX = f"relay-test-{uuid.uuid4().hex[:8]}"
    if kind == "memory":
        settings.REDIS_URL = ""
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
        monkeypatch.setattr(placement, "_memory", placement.MemoryRegistry())
    else:
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [settings.REDIS_URL], "prefix": f"sig{uuid.uuid4().hex[:6]}"},
            }
        }
        from rooms.realtime import conf

        await flush_redis_keys(conf.key_prefix())
    monkeypatch.setattr(signalling, "_registries", {})
    hub = make_hub(redis_url=settings.REDIS_URL)
    await hub.start()
    made = Scene(hub, {}, {})
    try:
        yield made
    finally:
        for person in made.people:
            if person.peer is not None:
                await person.peer.close()
        for communicator in made.sockets:
            with contextlib.suppress(Exception):
                await communicator.disconnect()
        await hub.close()  # bounded by the hub itself (CLOSE_TIMEOUT_S per step)
        for worker_id, worker in made.workers.items():
            worker.stop()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(made.tasks[worker_id], 5)


# --- the tone, mute, unmute, speaking ------------------------------------------------------


async def test_tone_reaches_listeners_and_moderation_stops_and_resumes_it(scene: Scene) -> None:
    await scene.worker()
    moderator, speaker, audience = await scene.stage(listeners=3)
    assert speaker.answers[-1]["worker_id"] in scene.workers
    assert "a=recvonly" in speaker.answers[-1]["sdp"]  # the mic m-line is accepted

    # a newcomer learns at once who is talking (the speaker's start was long before)
    newcomer = await scene.person()
    await newcomer.listen()
    push = await newcomer.ws.wait_push(
        "room.speaking", where=lambda p: p["data"]["speaking"], timeout=8
    )
    assert push["data"]["user_id"] == speaker.user.pk

    watcher = await scene.person()  # in the room, never starts audio
    assert scene.room is not None
    room_id = scene.room.pk
    marks = {id(p): len(p.ws.pushes) for p in (audience[0], watcher)}

    # a moderator mute stops the tone for everyone, and the speaking indicator
    await moderator.ws.request("room.speaker_mute", room_id=room_id, user_id=speaker.user.pk)
    assert await silent(audience)
    for person in (audience[0], watcher):
        push = await person.ws.wait_push("room.speaking", since=marks[id(person)], timeout=8)
        assert push["room_id"] == room_id
        assert "seq" not in push
        assert (push["data"]["user_id"], push["data"]["speaking"]) == (speaker.user.pk, False)
    marks = {id(p): len(p.ws.pushes) for p in (audience[0], watcher)}

    # the speaker unmuting resumes it; speaking indicators reach every socket in the room
    await speaker.ws.request("room.self_unmute", room_id=room_id)
    assert await hears_tone(audience)
    for person in (audience[0], watcher):
        push = await person.ws.wait_push(
            "room.speaking",
            since=marks[id(person)],
            where=lambda p: p["data"]["speaking"],
            timeout=8,
        )
        assert push["data"]["user_id"] == speaker.user.pk
        assert push["data"]["level"] < 40


async def test_move_to_audience_stops_the_tone_and_asks_to_renegotiate(scene: Scene) -> None:
    await scene.worker()
    moderator, speaker, audience = await scene.stage(listeners=2)
    assert scene.room is not None
    room_id = scene.room.pk
    mark = len(speaker.ws.pushes)
    await moderator.ws.request(
        "room.speaker_move_to_audience", room_id=room_id, user_id=speaker.user.pk
    )
    assert await silent(audience)
    push = await speaker.ws.wait_push("rtc.renegotiate", since=mark)
    assert push == {
        "type": "rtc.renegotiate",
        "room_id": room_id,
        "data": {"reason": "stage_changed"},
    }
    # Re-offering with a mic as a listener: the mic m-line is refused, nothing is forwarded.
    answer = await speaker.speak()
    assert "a=inactive" in answer["sdp"].split("m=audio")[1]  # the mic m-line
    assert await silent(audience)

    # Invited back on stage: told to renegotiate again; after unmuting, heard again.
    mark = len(speaker.ws.pushes)
    await moderator.ws.request("room.speaker_invite", room_id=room_id, user_id=speaker.user.pk)
    await speaker.ws.request("room.speaker_invite_accept", room_id=room_id)
    await speaker.ws.wait_push("rtc.renegotiate", since=mark)
    await speaker.ws.request("room.self_unmute", room_id=room_id)
    await speaker.speak()
    assert await hears_tone(audience)


# --- removal, end ---------------------------------------------------------------------------


async def test_removed_listener_is_disconnected_and_the_end_tears_everything_down(
    scene: Scene,
) -> None:
    await scene.worker()
    moderator, speaker, audience = await scene.stage(listeners=2)
    assert scene.room is not None
    room_id = scene.room.pk
    troll, stays = audience
    await moderator.ws.request("room.user_remove", room_id=room_id, user_id=troll.user.pk)
    closed = await troll.ws.wait_push("rtc.closed")
    assert closed == {"type": "rtc.closed", "room_id": room_id, "data": {"reason": "removed"}}
    assert troll.peer is not None
    assert await wait_for(lambda: troll.peer.pc.connectionState in ("closed", "failed"), 8)
    assert await hears_tone([stays])
    with pytest.raises(ProtocolError) as refused:  # the socket left the room
        await troll.listen()
    assert refused.value.code == "not_in_room"

    await moderator.ws.request("room.end", room_id=room_id)
    for person in (speaker, stays):
        push = await person.ws.wait_push("rtc.closed", timeout=8)
        assert push["data"] == {"reason": "room_ended"}
    (worker,) = scene.workers.values()
    assert await wait_for(lambda: room_id not in worker.rooms, 5)
    assert await wait_for(lambda: _registry().room_worker(room_id) is None, 5)


async def test_a_banned_speaker_is_cut_off_and_the_relay_drops_their_connection(
    scene: Scene,
) -> None:
    """Issue #12: a ban closes the person's socket (4403) and their audio at the relay, on
    commit, without waiting for them to disconnect."""
    worker = await scene.worker()
    moderator, speaker, audience = await scene.stage(listeners=2)
    assert scene.room is not None
    peers = worker.rooms[scene.room.pk].peers
    assert speaker.user.pk in peers
    staff = await sync_to_async(MemberFactory)(staff=True)

    await sync_to_async(account_services.user_ban)(user=speaker.user, staff=staff)

    assert await speaker.ws.wait_closed(timeout=10) == 4403
    assert await wait_for(lambda: speaker.user.pk not in peers, 5)
    assert speaker.peer is not None
    speaker_pc = speaker.peer.pc
    assert await wait_for(lambda: speaker_pc.connectionState in ("closed", "failed"), 8)
    assert await silent(audience)
    # nobody else's connection
    assert all(listener.user.pk in peers for listener in audience)
    assert "time" in await moderator.ws.request("ping")


# --- leaving, a second tab ------------------------------------------------------------------


async def test_leaving_closes_the_audio_connection_but_an_old_tab_closing_does_not(
    memory_scene: Scene,
) -> None:
    scene = memory_scene
    worker = await scene.worker()
    _moderator, speaker, (listener,) = await scene.stage(listeners=1)
    assert scene.room is not None
    room_id = scene.room.pk
    peers = worker.rooms[room_id].peers

    # The listener opens a second tab, which offers: it replaces the first tab's connection.
    second_tab = await scene.person(listener.user)
    await second_tab.listen()
    assert await hears_tone([second_tab])
    first_tab_pc = listener.peer.pc if listener.peer is not None else None
    assert first_tab_pc is not None
    assert await wait_for(lambda: first_tab_pc.connectionState in ("closed", "failed"), 8)
    # Closing the first tab does not cut the second tab's audio.
    await scene.sockets[scene.people.index(listener)].disconnect()
    await asyncio.sleep(0.5)
    assert listener.user.pk in peers
    assert await hears_tone([second_tab])

    # Leaving the room closes the connection at the relay at once.
    await second_tab.ws.leave()
    assert await wait_for(lambda: listener.user.pk not in peers, 5)
    assert second_tab.peer is not None
    tab_pc = second_tab.peer.pc
    assert await wait_for(lambda: tab_pc.connectionState in ("closed", "failed"), 8)
    assert speaker.user.pk in peers  # nobody else's connection


# --- errors ---------------------------------------------------------------------------------


async def test_offer_errors(memory_scene: Scene) -> None:
    scene = memory_scene
    scene.room = await sync_to_async(RoomFactory)()
    outsider = await scene.person(join=False)
    listener = ListenerClient()
    sdp = await listener.offer()
    try:
        with pytest.raises(ProtocolError) as caught:
            await outsider.ws.rtc_offer(sdp)
        assert caught.value.code == "not_in_room"

        member = await scene.person()
        with pytest.raises(ProtocolError) as caught:  # no relay worker runs
            await member.ws.rtc_offer(sdp)
        assert caught.value.code == "relay_unavailable"

        await scene.worker()
        with pytest.raises(ProtocolError) as caught:
            await member.ws.rtc_offer("v=0\r\nnot an offer")
        assert (caught.value.code, list(caught.value.fields)) == ("bad_offer", ["sdp"])
        with pytest.raises(ProtocolError) as caught:
            await member.ws.rtc_offer("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n")
        assert caught.value.code == "bad_offer"  # answered by the relay: it cannot parse it
        with pytest.raises(ProtocolError) as caught:
            await member.ws.rtc_ice({"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0})
        assert caught.value.code == "no_peer"
        with pytest.raises(ProtocolError) as caught:
            await member.ws.request("rtc.ice", candidate="nonsense")
        assert caught.value.code == "invalid"

        answer = await member.ws.rtc_offer(sdp)
        assert answer["sdp"].startswith("v=0")
        assert answer["worker_id"] in scene.workers
        assert await member.ws.rtc_ice({"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0}) == {}
    finally:
        await listener.close()


async def test_ordinary_sockets_get_no_channel_layer_channel(memory_scene: Scene) -> None:
    scene = memory_scene
    await scene.worker()
    scene.room = await sync_to_async(RoomFactory)()
    plain = await scene.person()
    assert scene.hub.relay is None  # nobody started audio: no channel, no group
    (consumer,) = scene.hub.room_members(scene.room.pk)
    assert getattr(consumer, "rtc", None) is None
    await plain.listen()
    assert consumer.rtc is not None
    assert consumer.rtc.channel is not None
    assert scene.hub.relay is not None
    assert scene.room.pk in scene.hub.relay.rooms


# --- relay-kill recovery --------------------------------------------------------------------


async def test_relay_kill_listeners_are_told_to_renegotiate_and_hear_again_within_5s(
    scene: Scene,
) -> None:
    first = await scene.worker()
    moderator, speaker, audience = await scene.stage(listeners=2)
    assert speaker.answers[-1]["worker_id"] == first.worker_id
    second = await scene.worker()

    marks = {id(p): len(p.ws.pushes) for p in (speaker, *audience)}
    scene.kill(first.worker_id)
    died = time.monotonic()

    async def recover(person: Person, offer: Any) -> None:
        push = await person.ws.wait_push("rtc.renegotiate", since=marks[id(person)], timeout=8)
        assert push["data"] == {"reason": "relay_moved"}
        told.append(time.monotonic() - died)
        answer = await offer()
        assert answer["worker_id"] == second.worker_id

    told: list[float] = []
    await asyncio.gather(recover(speaker, speaker.speak), *(recover(p, p.listen) for p in audience))
    assert await hears_tone(audience, timeout=8)
    back = time.monotonic() - died
    assert back < 5.0, (told, back)
    assert moderator.ws.pushes_of("rtc.renegotiate") == []  # no audio, nothing to re-offer


# --- embedded mode --------------------------------------------------------------------------


async def test_embedded_mode_starts_the_relay_in_process_on_first_offer(
    memory_scene: Scene, settings: Any
) -> None:
    scene = memory_scene
    del settings.RELAY_EMBEDDED  # the default: embedded, because there is no REDIS_URL
    scene.room = await sync_to_async(RoomFactory)()
    speaker_user = await sync_to_async(MemberFactory)()
    await sync_to_async(participant)(scene.room, speaker_user, "speaker", muted=False)
    try:
        speaker = await scene.person(speaker_user)
        answer = await speaker.speak()
        assert answer["worker_id"] == "embedded"
        listener = await scene.person()
        await listener.listen()
        assert await hears_tone([listener])
    finally:
        await signalling.relay_embedded_stop()


async def test_the_offer_that_starts_the_embedded_relay_waits_for_it_to_register(
    memory_scene: Scene, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker starts as a task on the loop and registers after its pipe is bound; the first
    offer must be placed on it, not refused with relay_unavailable because placement (in a
    thread) looked before the first heartbeat. A slow start makes the race certain."""
    from media_relay.cascade import Cascade

    start = Cascade.start

    async def slow_start(self: Any) -> None:
        await asyncio.sleep(0.5)
        await start(self)

    monkeypatch.setattr(Cascade, "start", slow_start)
    scene = memory_scene
    del settings.RELAY_EMBEDDED  # the default: embedded, because there is no REDIS_URL
    scene.room = await sync_to_async(RoomFactory)()
    speaker_user = await sync_to_async(MemberFactory)()
    await sync_to_async(participant)(scene.room, speaker_user, "speaker", muted=False)
    try:
        speaker = await scene.person(speaker_user)
        answer = await speaker.speak()
        assert answer["worker_id"] == "embedded"
    finally:
        await signalling.relay_embedded_stop()


# --- ordering -------------------------------------------------------------------------------


async def test_a_state_command_older_than_the_applied_seq_is_dropped() -> None:
    """Two web processes' on-commit hooks may deliver out of order: the room's `seq` decides."""
    from channels.layers import InMemoryChannelLayer

    worker = RelayWorker(InMemoryChannelLayer(), worker_id="w", registry=placement.MemoryRegistry())
    try:
        await worker.handle(protocol.RoomState(room_id=1, seq=5, speakers=(7,), muted=()))
        await worker.handle(protocol.Mute(room_id=1, seq=4, user_id=7, muted=True))
        await worker.handle(protocol.RoomState(room_id=1, seq=3, speakers=(), muted=()))
        assert (worker.rooms[1].speakers, worker.rooms[1].muted) == ({7}, set())
        await worker.handle(protocol.Mute(room_id=1, seq=6, user_id=7, muted=True))
        assert worker.rooms[1].muted == {7}
        await worker.handle(protocol.Mute(room_id=1, user_id=7, muted=False))
        assert worker.rooms[1].muted == set()  # without `seq`: always applied
    finally:
        await worker.shutdown()


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            {"type": "room.speaker_muted", "data": {"user_id": 3}},
            protocol.Mute(room_id=11, user_id=3, muted=True, seq=9),
        ),
        (
            {"type": "room.speaker_unmuted", "data": {"user_id": 3}},
            protocol.Mute(room_id=11, user_id=3, muted=False, seq=9),
        ),
        (
            {"type": "room.speaker_removed", "data": {"user_id": 3, "reason": "moved"}},
            protocol.MoveToAudience(room_id=11, user_id=3, seq=9),
        ),
        (
            {"type": "room.user_removed", "data": {"user_id": 3}},
            protocol.Remove(room_id=11, user_id=3, reason="removed", seq=9),
        ),
        ({"type": "room.ended", "data": {"reason": "empty"}}, protocol.End(room_id=11)),
    ],
)
def test_room_events_become_relay_commands_for_the_rooms_worker(
    event: dict[str, Any],
    expected: protocol.Message,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from channels.layers import InMemoryChannelLayer

    settings.REDIS_URL = ""
    layer = InMemoryChannelLayer()
    monkeypatch.setattr(signalling, "get_channel_layer", lambda: layer)
    monkeypatch.setattr(signalling, "_registries", {})
    monkeypatch.setattr(placement, "_memory", placement.MemoryRegistry())
    relay_bridge.relay_room_event(11, {"room_id": 11, "seq": 9, **event})
    assert layer.channels == {}  # the room has no relay worker: nothing to tell
    placement._memory.heartbeat("w", {})
    placement._memory.place(11)
    relay_bridge.relay_room_event(11, {"room_id": 11, "seq": 9, **event})
    message = async_to_sync(layer.receive)(placement.worker_channel("w"))
    assert not layer.channels.get(placement.worker_channel("w"))  # exactly one command
    assert protocol.decode(message) == expected


@pytest.mark.parametrize("kind", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
def test_workers_alive_reads_each_workers_heartbeat(
    kind: str, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.RELAY_WORKER_TTL_S = 1.0
    settings.RELAY_REDIS_PREFIX = f"relay-test-{uuid.uuid4().hex[:8]}"
    if kind == "memory":
        settings.REDIS_URL = ""
        monkeypatch.setattr(placement, "_memory", placement.MemoryRegistry())
    monkeypatch.setattr(signalling, "_registries", {})
    registry = signalling._registry()
    now = [1_000_000.0]
    monkeypatch.setattr("media_relay.placement.time.time", lambda: now[0])
    registry.heartbeat("old", {})
    now[0] += 0.8
    registry.heartbeat("new", {})
    assert signalling.workers_alive({"old", "new", "never"}) == {
        "old": True,
        "new": True,
        "never": False,
    }
    now[0] += 0.5  # "old" last beat 1.3 s ago: past the TTL
    assert signalling.workers_alive({"old", "new"}) == {"old": False, "new": True}
    assert signalling.workers_alive(set()) == {}
    # Liveness tells a stale heartbeat from no record at all (a Redis that restarted empty).
    assert signalling.workers_liveness({"old", "new", "never"}) == {
        "old": False,
        "new": True,
        "never": None,
    }
    assert signalling.workers_liveness(set()) == {}


async def test_a_sockets_offer_reaches_the_worker_log_under_the_frames_request_id(
    memory_scene: Scene, json_logs: Any
) -> None:
    """The request id follows a socket frame into the relay (docs/operations.md, "Logs and
    errors"): the worker logs the offer under `<connection id>.<frame number>`."""
    await memory_scene.worker()
    await memory_scene.stage(listeners=0)
    assert memory_scene.room is not None
    person = await memory_scene.person()
    await person.listen()

    offers = [
        line
        for line in json_logs.lines()
        if line["logger"] == "media_relay.worker"
        and str(line["message"]) == f"relay command relay.offer for room {memory_scene.room.pk}"
    ]
    assert len(offers) == 2  # the speaker's (from stage) and this listener's
    ids = [str(line["request_id"]) for line in offers]
    assert all(re.fullmatch(r"[0-9a-f]{32}\.\d+", rid) for rid in ids), ids
    assert ids[0].split(".")[0] != ids[1].split(".")[0]  # two sockets, two connections
