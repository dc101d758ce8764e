"""The relay protocol (media_relay/protocol.py): every message type survives the wire, and what is
not a message of the protocol is refused by `decode`, dropped and counted by its receivers, and
never stops a worker."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from channels.layers import InMemoryChannelLayer

from clubhouse.logs import request_id_bound
from media_relay import protocol
from media_relay.placement import MemoryRegistry
from media_relay.worker import RelayWorker

ROOM = 5

# One message of each type, with every field set, and a malformed variant of it on the wire.
SAMPLES: list[tuple[protocol.Message, dict[str, Any]]] = [
    (
        protocol.RoomState(room_id=ROOM, speakers=(1, 2), muted=(2,), seq=4),
        {"speakers": "1,2"},
    ),
    (
        protocol.Offer(
            room_id=ROOM, user_id=1, sdp="v=0", reply_to="rtc.x", request_id="r1", seq=4
        ),
        {"sdp": None},
    ),
    (
        protocol.Ice(
            room_id=ROOM,
            user_id=1,
            candidate={"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0},
            reply_to="rtc.x",
            request_id="r2",
        ),
        {"candidate": "candidate:1 1 udp 1 203.0.113.9 9 typ host"},
    ),
    (protocol.Mute(room_id=ROOM, user_id=1, muted=False, seq=4), {"muted": "no"}),
    (protocol.MoveToAudience(room_id=ROOM, user_id=1, seq=4), {"user_id": "1"}),
    (
        protocol.Remove(room_id=ROOM, user_id=1, reason="left", seq=4, if_channel="rtc.x"),
        {"seq": 4.5},
    ),
    (protocol.End(room_id=ROOM), {"room_id": None}),
    (
        protocol.PipeSubscribe(
            room_id=ROOM, worker_id="edge", token="00112233aabbccdd", key="ab" * 16
        ),
        {"token": "not hex"},
    ),
    (protocol.PipeUnsubscribe(room_id=ROOM, worker_id="edge"), {"worker_id": 7}),
    (protocol.PipeIdle(room_id=ROOM), {"room_id": True}),
    (
        protocol.Answer(room_id=ROOM, user_id=1, sdp="v=0", worker_id="w", request_id="r1"),
        {"worker_id": None},
    ),
    (protocol.IceAdded(room_id=ROOM, user_id=1, request_id="r2"), {"request_id": None}),
    (
        protocol.Error(code="removed", message="gone", room_id=ROOM, user_id=1, request_id="r1"),
        {"code": None},
    ),
    (protocol.PeerClosed(room_id=ROOM, user_id=1, reason="removed"), {"reason": ["removed"]}),
    (
        protocol.Speaking(room_id=ROOM, user_id=1, speaking=True, level=30),
        {"speaking": 1},
    ),
]


def _id(sample: tuple[protocol.Message, dict[str, Any]]) -> str:
    return sample[0].TYPE


def test_every_message_type_has_a_sample() -> None:
    assert sorted(type(m).TYPE for m, _ in SAMPLES) == sorted(protocol.MESSAGE_TYPES)


@pytest.mark.parametrize("sample", SAMPLES, ids=_id)
def test_a_message_comes_back_from_the_wire_as_it_left(
    sample: tuple[protocol.Message, dict[str, Any]],
) -> None:
    message, _ = sample
    wire = protocol.encode(message)
    assert wire["type"] == message.TYPE
    assert wire[protocol.VERSION_KEY] == protocol.VERSION
    assert protocol.decode(wire) == message


@pytest.mark.parametrize("sample", SAMPLES, ids=_id)
def test_a_malformed_message_is_refused(sample: tuple[protocol.Message, dict[str, Any]]) -> None:
    message, bad_fields = sample
    wire = {**protocol.encode(message), **bad_fields}
    with pytest.raises(protocol.MessageError) as refused:
        protocol.decode(wire)
    assert refused.value.code == protocol.BAD_MESSAGE


def test_optional_fields_left_out_take_their_defaults() -> None:
    wire = {"type": "relay.remove", "v": protocol.VERSION, "room_id": ROOM, "user_id": 1}
    assert protocol.decode(wire) == protocol.Remove(room_id=ROOM, user_id=1, reason="removed")
    assert "seq" not in protocol.encode(protocol.Remove(room_id=ROOM, user_id=1))


@pytest.mark.parametrize(
    ("wire", "code"),
    [
        ({"type": "relay.nonsense", "v": protocol.VERSION, "room_id": ROOM}, "unknown_type"),
        ({"v": protocol.VERSION, "room_id": ROOM}, "unknown_type"),
        ({"type": "relay.end", "room_id": ROOM}, "bad_version"),
        ({"type": "relay.end", "v": protocol.VERSION + 1, "room_id": ROOM}, "bad_version"),
        (["relay.end", ROOM], "bad_message"),
    ],
)
def test_what_is_not_a_message_of_this_protocol_is_refused(wire: Any, code: str) -> None:
    with pytest.raises(protocol.MessageError) as refused:
        protocol.decode(wire)
    assert refused.value.code == code


def test_a_message_for_another_receiver_is_an_unknown_type_there() -> None:
    answer = protocol.encode(protocol.Answer(room_id=ROOM, user_id=1, sdp="v=0", worker_id="w"))
    with pytest.raises(protocol.MessageError) as refused:
        protocol.decode(answer, protocol.WORKER_MESSAGES)
    assert refused.value.code == protocol.UNKNOWN_TYPE


def test_receive_drops_and_counts_what_it_cannot_decode(caplog: pytest.LogCaptureFixture) -> None:
    before = protocol.rejected[protocol.BAD_MESSAGE]
    wire = {"type": "relay.speaking", "v": protocol.VERSION, "room_id": ROOM}
    assert protocol.receive(wire, protocol.EVENTS, "a test") is None
    assert protocol.rejected[protocol.BAD_MESSAGE] == before + 1
    assert "relay.speaking" in caplog.text


def test_no_other_module_spells_a_relay_message_type() -> None:
    """Builders and handlers use the protocol's classes: its type strings live only there."""
    root = Path(__file__).resolve().parents[2]
    types = "|".join(re.escape(t) for t in protocol.MESSAGE_TYPES)
    pattern = re.compile(rf"[\"']({types}|relay\.pipe_)")
    spelled = [
        str(path.relative_to(root))
        for app in ("media_relay", "rooms", "clubs", "accounts", "payouts", "clubhouse")
        for path in (root / app).rglob("*.py")
        if path.name != "protocol.py" and pattern.search(path.read_text())
    ]
    assert spelled == []


# --- a worker receiving what is not a message -------------------------------------------------


@pytest.fixture
async def worker() -> AsyncIterator[RelayWorker]:
    layer = InMemoryChannelLayer()
    running = RelayWorker(layer, worker_id="w1", registry=MemoryRegistry(), freeze_gc=False)
    task = asyncio.create_task(running.run())
    try:
        yield running
    finally:
        running.stop()
        await asyncio.wait_for(task, 5)


@pytest.mark.parametrize(
    "garbage",
    [
        {"type": "relay.nonsense", "v": protocol.VERSION, "room_id": ROOM},
        {"type": "relay.mute", "v": protocol.VERSION, "room_id": ROOM, "user_id": "one"},
        {"type": "relay.room_state", "room_id": ROOM, "speakers": [1]},  # no version
        {"type": "relay.end", "v": protocol.VERSION},  # no room
        {"nothing": "here"},
    ],
)
async def test_a_worker_keeps_serving_after_a_message_it_cannot_read(
    worker: RelayWorker, garbage: dict[str, Any]
) -> None:
    layer = worker.layer
    reply_to = await layer.new_channel()
    await layer.send(worker.channel, {**garbage, "reply_to": reply_to, "request_id": "bad"})
    refused = protocol.decode(await asyncio.wait_for(layer.receive(reply_to), 3))
    assert isinstance(refused, protocol.Error)
    assert refused.request_id == "bad"
    assert refused.code in (protocol.UNKNOWN_TYPE, protocol.BAD_MESSAGE, protocol.BAD_VERSION)
    assert worker.messages_rejected == 1
    assert worker.metrics()["messages_rejected"] == 1
    assert ROOM not in worker.rooms  # nothing was made of it

    # and the next command is served
    state = protocol.RoomState(room_id=ROOM, speakers=(1,), muted=(1,))
    await layer.send(worker.channel, protocol.encode(state))
    for _ in range(50):
        if ROOM in worker.rooms:
            break
        await asyncio.sleep(0.02)
    assert (worker.rooms[ROOM].speakers, worker.rooms[ROOM].muted) == ({1}, {1})


# --- a room socket receiving what is not a reply ----------------------------------------------


async def test_a_socket_drops_a_relay_reply_it_cannot_read() -> None:
    from rooms.realtime.rtc import RtcLink

    pushed: list[str] = []

    async def push(text: str) -> None:
        pushed.append(text)

    link = RtcLink(1, push, lambda room, user, publishing: ("w1", protocol.RoomState(room)))
    link.room_id, link.worker_id = ROOM, "w1"
    before = sum(protocol.rejected.values())

    await link._on_relay({"type": "relay.peer_closed", "v": protocol.VERSION, "room_id": ROOM})
    await link._on_relay({"type": "relay.offer", "v": protocol.VERSION, "room_id": ROOM})

    assert sum(protocol.rejected.values()) == before + 2
    assert pushed == []
    assert link.worker_id == "w1"
    closed = protocol.PeerClosed(room_id=ROOM, user_id=1, reason="removed")
    await link._on_relay(protocol.encode(closed))
    assert len(pushed) == 1
    assert link.worker_id is None


# --- the request id in the envelope (clubhouse/logs.py) ---------------------------------------


def test_a_message_sent_for_a_request_carries_its_id_through_the_wire() -> None:
    message = protocol.Mute(room_id=ROOM, user_id=1, muted=True, seq=4)
    with request_id_bound("req-7f3a"):
        wire = protocol.encode(message)
    assert wire[protocol.REQUEST_ID_KEY] == "req-7f3a"
    assert protocol.decode(wire) == message
    assert protocol.request_id_of(wire) == "req-7f3a"


def test_a_message_sent_outside_a_request_has_no_request_id() -> None:
    wire = protocol.encode(protocol.End(room_id=ROOM))
    assert protocol.REQUEST_ID_KEY not in wire
    assert protocol.request_id_of(wire) is None


def test_a_message_from_before_request_ids_still_decodes() -> None:
    wire = {"type": "relay.mute", "v": protocol.VERSION, "room_id": ROOM, "user_id": 1}
    assert protocol.decode(wire) == protocol.Mute(room_id=ROOM, user_id=1)
    assert protocol.request_id_of(wire) is None


@pytest.mark.parametrize("bad", [7, "", "two words", "x" * 129, "caf\u00e9"])
def test_a_message_with_a_bad_request_id_is_refused(bad: Any) -> None:
    wire = {**protocol.encode(protocol.End(room_id=ROOM)), protocol.REQUEST_ID_KEY: bad}
    with pytest.raises(protocol.MessageError) as refused:
        protocol.decode(wire)
    assert refused.value.code == protocol.BAD_MESSAGE
    assert protocol.REQUEST_ID_KEY in refused.value.detail


async def test_the_worker_logs_a_command_with_its_senders_request_id(
    worker: RelayWorker, json_logs: Any
) -> None:
    state = protocol.RoomState(room_id=ROOM, speakers=(1,), muted=())
    with request_id_bound("req-relay-1"):
        await worker.layer.send(worker.channel, protocol.encode(state))
    for _ in range(100):
        if ROOM in worker.rooms:
            break
        await asyncio.sleep(0.02)
    lines = [line for line in json_logs.lines() if line["logger"] == "media_relay.worker"]
    assert any(
        line["request_id"] == "req-relay-1" and "relay.room_state" in str(line["message"])
        for line in lines
    ), lines
