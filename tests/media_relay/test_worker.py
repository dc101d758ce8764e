"""The worker through the channel layer: the messages the room consumer will send and receive."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.layers import InMemoryChannelLayer

from media_relay import fastpath, protocol
from media_relay.placement import MemoryRegistry, room_events_group
from media_relay.testing import ListenerClient, SpeakerClient, wait_for
from media_relay.worker import RelayWorker

ROOM = 42


class Web:
    """Stands in for the room consumer: one reply channel per member."""

    def __init__(self, layer: Any, worker: RelayWorker) -> None:
        self.layer = layer
        self.worker = worker
        self.clients: list[Any] = []

    async def send(self, message: protocol.WorkerMessage) -> None:
        await self.layer.send(self.worker.channel, protocol.encode(message))

    async def receive(self, channel: str, timeout: float = 5.0) -> dict[str, Any]:
        return await asyncio.wait_for(self.layer.receive(channel), timeout)

    async def join(self, user_id: int, client: Any, offer: str) -> str:
        self.clients.append(client)
        channel = await self.layer.new_channel()
        await self.send(
            protocol.Offer(
                room_id=ROOM, user_id=user_id, sdp=offer, reply_to=channel, request_id="r1"
            )
        )
        reply = protocol.decode(await self.receive(channel))
        assert isinstance(reply, protocol.Answer), reply
        assert (reply.user_id, reply.request_id) == (user_id, "r1")
        await client.answer(reply.sdp)
        return channel


@pytest.fixture
async def web() -> AsyncIterator[Web]:
    async for w in _web(InMemoryChannelLayer()):
        yield w


@pytest.fixture
async def redis_web(settings: Any, redis_url: str) -> AsyncIterator[Web]:
    from channels_redis.core import RedisChannelLayer

    layer = RedisChannelLayer(
        hosts=[settings.REDIS_URL], prefix=f"relay-test-{uuid.uuid4().hex[:6]}"
    )
    try:
        async for w in _web(layer):
            yield w
    finally:
        await layer.flush()


async def _web(layer: Any) -> AsyncIterator[Web]:
    registry = MemoryRegistry()
    worker = RelayWorker(layer, worker_id="w1", registry=registry, slots=3)
    task = asyncio.create_task(worker.run())
    w = Web(layer, worker)
    try:
        yield w
    finally:
        worker.stop()
        await asyncio.wait_for(task, 5)
        for client in w.clients:
            await client.close()


async def test_offer_answer_and_media_through_the_channel_layer(web: Web) -> None:
    events = await web.layer.new_channel()
    await web.layer.group_add(room_events_group(ROOM), events)
    await web.send(protocol.RoomState(room_id=ROOM, speakers=(1,)))
    speaker = SpeakerClient()
    await web.join(1, speaker, await speaker.offer())
    listener = ListenerClient()
    await web.join(2, listener, await listener.offer())
    assert await wait_for(lambda: listener.tone_frames >= 15, 6.0)
    event = protocol.decode(await web.receive(events))
    assert isinstance(event, protocol.Speaking)
    assert event == protocol.Speaking(room_id=ROOM, user_id=1, speaking=True, level=event.level)

    await web.send(protocol.Mute(room_id=ROOM, user_id=1, muted=True))
    await asyncio.sleep(1.0)  # what was already in flight, in jitter buffers and decoders
    before = listener.tone_frames
    await asyncio.sleep(0.7)
    assert listener.tone_frames == before


async def test_remove_tells_the_members_channel_and_end_closes_the_room(web: Web) -> None:
    listener = ListenerClient()
    channel = await web.join(2, listener, await listener.offer())
    assert await wait_for(lambda: listener.pc.connectionState == "connected", 5.0)
    await web.send(protocol.Remove(room_id=ROOM, user_id=2))
    assert protocol.decode(await web.receive(channel)) == protocol.PeerClosed(
        room_id=ROOM, user_id=2, reason="removed"
    )
    assert await wait_for(lambda: listener.pc.connectionState == "closed", 5.0)
    await web.send(protocol.End(room_id=ROOM))
    assert await wait_for(lambda: ROOM not in web.worker.rooms, 3.0)


async def test_errors_reply_on_the_reply_channel(web: Web) -> None:
    channel = await web.layer.new_channel()
    await web.send(
        protocol.Offer(room_id=ROOM, user_id=3, sdp="not sdp", reply_to=channel, request_id="x")
    )
    reply = protocol.decode(await web.receive(channel))
    assert isinstance(reply, protocol.Error)
    assert (reply.code, reply.request_id) == ("bad_offer", "x")
    # not a message of the protocol: no `protocol` builder makes one
    nonsense = {"type": "relay.nonsense", "v": protocol.VERSION, "room_id": ROOM, "user_id": 3}
    await web.layer.send(web.worker.channel, {**nonsense, "reply_to": channel})
    assert (await web.receive(channel))["code"] == "unknown_type"


async def test_worker_heartbeats_its_load(web: Web) -> None:
    listener = ListenerClient()
    await web.join(2, listener, await listener.offer())
    await web.worker._heartbeat()
    (info,) = web.worker.registry.workers()
    assert (info["worker_id"], info["channel"], info["alive"]) == ("w1", "relay.w1", True)
    assert (info["rooms"], info["peers"]) == (1, 1)
    assert {"packets_in", "packets_out", "drops", "cpu_s", "cpu_percent", "rss_bytes"} <= set(info)
    assert info["send_loop"] == fastpath.status()


@pytest.mark.redis
async def test_signalling_over_the_redis_channel_layer(redis_web: Web) -> None:
    await redis_web.send(protocol.RoomState(room_id=ROOM, speakers=(1,)))
    speaker = SpeakerClient()
    await redis_web.join(1, speaker, await speaker.offer())
    listener = ListenerClient()
    await redis_web.join(2, listener, await listener.offer())
    assert await wait_for(lambda: listener.tone_frames >= 15, 6.0)


async def test_a_dead_workers_room_is_re_placed_and_listeners_hear_again_within_5s(
    settings: Any,
) -> None:
    settings.RELAY_WORKER_TTL_S = 1.0
    settings.RELAY_HEARTBEAT_S = 0.3
    layer = InMemoryChannelLayer()
    registry = MemoryRegistry()
    workers = {wid: RelayWorker(layer, worker_id=wid, registry=registry, slots=3) for wid in "ab"}
    tasks = {wid: asyncio.create_task(w.run()) for wid, w in workers.items()}
    clients: list[Any] = []
    try:
        await asyncio.sleep(0.05)
        first = registry.place(ROOM)

        async def join_room_on(worker: RelayWorker) -> ListenerClient:
            web = Web(layer, worker)
            await web.send(protocol.RoomState(room_id=ROOM, speakers=(1,)))
            speaker, listener = SpeakerClient(), ListenerClient()
            clients.extend([speaker, listener])
            await web.join(1, speaker, await speaker.offer())
            await web.join(2, listener, await listener.offer())
            return listener

        listener = await join_room_on(workers[first])
        assert await wait_for(lambda: listener.tone_frames >= 15, 6.0)

        # The worker dies: no goodbye to the registry, its connections vanish.
        workers[first].registry = MemoryRegistry()  # its last words go nowhere
        tasks[first].cancel()
        died = asyncio.get_running_loop().time()
        assert await wait_for(lambda: listener.pc.connectionState in ("closed", "failed"), 3.0)

        # The web tier re-places the room once the heartbeat is stale, and clients re-offer.
        replaced: list[str] = []

        def moved() -> bool:
            worker_id = registry.place(ROOM)
            replaced.append(worker_id)
            return worker_id != first

        assert await wait_for(moved, 3.0, interval=0.1)
        again = await join_room_on(workers[replaced[-1]])
        assert await wait_for(lambda: again.tone_frames >= 5, 5.0)
        assert asyncio.get_running_loop().time() - died < 5.0
    finally:
        for wid, worker in workers.items():
            worker.stop()
            if not tasks[wid].done():
                await asyncio.wait_for(tasks[wid], 5)
        for client in clients:
            await client.close()


def test_a_relay_process_freezes_its_start_up_state_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from media_relay import worker as worker_module

    monkeypatch.setattr(worker_module, "_gc_frozen", False)
    start_up_state = [object() for _ in range(1000)]  # alive when the worker starts serving
    try:
        assert worker_module.relay_gc_freeze() is True
        frozen = gc.get_freeze_count()
        assert frozen >= len(start_up_state)
        assert worker_module.relay_gc_freeze() is False  # once per process
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


# --- a removal that overtakes the offer (issue #12, point 9) ----------------------------------


async def _offer(
    web: Web, user_id: int, client: Any, seq: int | None = None
) -> tuple[str, protocol.Message]:
    web.clients.append(client)
    channel = await web.layer.new_channel()
    await web.send(
        protocol.Offer(
            room_id=ROOM,
            user_id=user_id,
            sdp=await client.offer(),
            reply_to=channel,
            request_id="r1",
            seq=seq,
        )
    )
    return channel, protocol.decode(await web.receive(channel))


async def test_a_removal_that_arrives_before_the_offer_refuses_the_offer(web: Web) -> None:
    """The room removed member 2 at seq 8 while their offer (prepared at seq 7) was on its way:
    the worker gets the removal first. The late offer gets no connection and no audio."""
    await web.send(protocol.RoomState(room_id=ROOM, speakers=(1,), seq=5))
    speaker = SpeakerClient()
    await web.join(1, speaker, await speaker.offer())
    await web.send(protocol.Remove(room_id=ROOM, user_id=2, reason="removed", seq=8))

    listener = ListenerClient()
    _channel, reply = await _offer(web, 2, listener, seq=7)

    assert isinstance(reply, protocol.Error)
    assert (reply.code, reply.request_id) == ("removed", "r1")
    assert 2 not in web.worker.rooms[ROOM].peers
    assert 2 not in web.worker.rooms[ROOM].forwarder.listeners
    await asyncio.sleep(1.5)
    assert listener.tone_frames == 0


async def test_an_offer_without_a_room_seq_is_refused_after_a_removal(web: Web) -> None:
    await web.send(protocol.Remove(room_id=ROOM, user_id=2, reason="removed", seq=3))
    _channel, reply = await _offer(web, 2, ListenerClient())
    assert isinstance(reply, protocol.Error)
    assert reply.code == "removed"


async def test_a_member_re_admitted_after_the_removal_is_answered(web: Web) -> None:
    """Let back in (a later room state than the removal): the offer is answered, and they hear."""
    await web.send(protocol.RoomState(room_id=ROOM, speakers=(1,), seq=5))
    speaker = SpeakerClient()
    await web.join(1, speaker, await speaker.offer())
    await web.send(protocol.Remove(room_id=ROOM, user_id=2, reason="removed", seq=8))
    _channel, refused = await _offer(web, 2, ListenerClient(), seq=7)
    assert isinstance(refused, protocol.Error)
    assert refused.code == "removed"

    listener = ListenerClient()
    _channel, reply = await _offer(web, 2, listener, seq=9)

    assert isinstance(reply, protocol.Answer), reply
    await listener.answer(reply.sdp)
    assert await wait_for(lambda: listener.tone_frames >= 15, 6.0)


async def test_a_removal_that_arrives_after_the_members_re_admission_is_ignored(
    web: Web,
) -> None:
    """The room removed member 2 at seq 8 and let them back in; their new offer (seq 9) reached
    the worker before the removal did. The late removal is older than the connection it would
    close: the member keeps hearing, and nothing is remembered against them."""
    await web.send(protocol.RoomState(room_id=ROOM, speakers=(1,), seq=5))
    speaker = SpeakerClient()
    await web.join(1, speaker, await speaker.offer())
    listener = ListenerClient()
    _channel, reply = await _offer(web, 2, listener, seq=9)
    assert isinstance(reply, protocol.Answer), reply
    await listener.answer(reply.sdp)
    assert await wait_for(lambda: listener.tone_frames >= 5, 6.0)

    await web.send(protocol.Remove(room_id=ROOM, user_id=2, reason="removed", seq=8))
    await web.send(protocol.RoomState(room_id=ROOM, speakers=(1,), seq=10))  # a later command

    assert await wait_for(lambda: web.worker._room_seq.get(ROOM) == 10, 3.0)
    assert 2 in web.worker.rooms[ROOM].peers
    assert not web.worker.removed_members(ROOM)
    heard = listener.tone_frames
    assert await wait_for(lambda: listener.tone_frames >= heard + 15, 6.0)


async def test_a_socket_leaving_does_not_count_as_a_removal(web: Web) -> None:
    """`relay.remove` from a socket that left or closed (no room seq) forgets nothing about
    the member's right to come back."""
    listener = ListenerClient()
    channel = await web.join(2, listener, await listener.offer())
    await web.send(protocol.Remove(room_id=ROOM, user_id=2, reason="left", if_channel=channel))
    assert isinstance(protocol.decode(await web.receive(channel)), protocol.PeerClosed)
    _channel, reply = await _offer(web, 2, ListenerClient(), seq=1)
    assert isinstance(reply, protocol.Answer)


async def test_a_removal_is_forgotten_when_the_room_ends(web: Web) -> None:
    await web.send(protocol.Remove(room_id=ROOM, user_id=2, reason="removed", seq=8))
    await web.send(protocol.End(room_id=ROOM))
    assert await wait_for(lambda: not web.worker.removed_members(ROOM), 3.0)


# --- ICE candidates through the worker (issue #12, point 10) ----------------------------------


async def test_a_refused_candidate_is_answered_with_an_error_and_a_good_one_acknowledged(
    web: Web, settings: Any
) -> None:
    settings.RELAY_ALLOW_LOOPBACK_CANDIDATES = False
    listener = ListenerClient()
    channel = await web.join(2, listener, await listener.offer())

    def ice(host: str, request_id: str) -> protocol.Ice:
        line = f"candidate:7 1 udp 2130706431 {host} 6379 typ host"
        return protocol.Ice(
            room_id=ROOM,
            user_id=2,
            candidate={"candidate": line, "sdpMid": "0", "sdpMLineIndex": 0},
            reply_to=channel,
            request_id=request_id,
        )

    await web.send(ice("127.0.0.1", "i1"))
    refused = protocol.decode(await web.receive(channel))
    assert isinstance(refused, protocol.Error)
    assert (refused.code, refused.request_id) == ("candidate_refused", "i1")
    await web.send(ice("203.0.113.9", "i2"))
    assert protocol.decode(await web.receive(channel)) == protocol.IceAdded(
        room_id=ROOM, user_id=2, request_id="i2"
    )


async def test_a_candidate_for_a_room_without_connections_creates_nothing(web: Web) -> None:
    channel = await web.layer.new_channel()
    await web.send(
        protocol.Ice(
            room_id=ROOM,
            user_id=5,
            candidate={"candidate": ""},
            reply_to=channel,
            request_id="i1",
        )
    )
    assert (await web.receive(channel))["code"] == "no_peer"
    assert ROOM not in web.worker.rooms
