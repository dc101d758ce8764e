"""The room WebSocket (/ws/), driven through Channels' WebsocketCommunicator.

Hubs are this process's fan-out (one per "web process"): two hubs hold separate Redis
connections, so two sockets on two hubs behave like two sockets on two daphne processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from rooms import consumers
from rooms.client import ProtocolError, RoomClient
from rooms.realtime import broadcast, conf, domain
from rooms.realtime.fanout import Hub
from tests.rooms.test_realtime_support import (
    FakeRooms,
    eventually,
    flush_redis_keys,
    make_hub,
    make_user,
    open_socket,
    session_key_for,
)

pytestmark = [pytest.mark.django_db(transaction=True)]

ROOM = 9101


@pytest.fixture
def rooms(monkeypatch: pytest.MonkeyPatch) -> FakeRooms:
    fake = FakeRooms()
    monkeypatch.setattr(domain, "_registered", fake.as_domain())
    return fake


@pytest.fixture
async def hubs(redis_url: str, settings: Any) -> AsyncIterator[Callable[..., Any]]:
    """Hubs on Redis (each its own connections, like separate web processes), under a key
    prefix of this test's own: the browser tests' daphne (a session-long child process) runs a
    hub on the same Redis, and with the shared prefix its sweeper could take this test's expired
    member and leave through the real room domain, which has no such room (failed in CI)."""
    settings.REALTIME_KEY_PREFIX = f"cons{uuid.uuid4().hex[:8]}"
    await flush_redis_keys(conf.key_prefix())
    made: list[Hub] = []

    async def factory(**overrides: Any) -> Hub:
        hub = make_hub(**overrides)
        await hub.start()
        made.append(hub)
        return hub

    yield factory
    for hub in made:
        await hub.close()  # bounded by the hub itself


@pytest.fixture
async def hub(hubs: Callable[..., Any]) -> Hub:
    return await hubs()


@pytest.fixture
async def sockets() -> AsyncIterator[list[WebsocketCommunicator]]:
    opened: list[WebsocketCommunicator] = []
    yield opened
    for communicator in opened:
        # asyncio.wait, not wait_for: a consumer that ignores cancellation must fail the test
        # run loudly rather than hang it.
        closing = asyncio.ensure_future(communicator.disconnect())
        done, _ = await asyncio.wait({closing}, timeout=10)
        assert done, "a socket did not close within 10 s"
        with contextlib.suppress(Exception):
            closing.result()


async def connect(
    hub: Hub, sockets: list, user: Any = None, **kwargs: Any
) -> tuple[RoomClient, WebsocketCommunicator]:
    client, communicator = await open_socket(hub, user, **kwargs)
    sockets.append(communicator)
    assert client is not None
    return client, communicator


async def connect_raw(hub: Hub, sockets: list, user: Any) -> WebsocketCommunicator:
    _, communicator = await open_socket(hub, user, raw=True)
    sockets.append(communicator)
    return communicator


async def next_of_type(client: RoomClient, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        event = await client.next_event(timeout=max(0.01, deadline - time.monotonic()))
        if event["type"] == kind:
            return event


# --- authentication ------------------------------------------------------------------------------


async def test_anonymous_socket_gets_not_authenticated_and_is_closed_4401(
    hub: Hub, sockets: list
) -> None:
    client, _ = await connect(hub, sockets)
    error = await client.next_event()
    assert error["type"] == "error"
    assert error["code"] == "not_authenticated"
    assert await client.wait_closed() == 4401


async def test_invalid_token_is_not_authenticated(hub: Hub, sockets: list) -> None:
    client, _ = await connect(hub, sockets, headers=[(b"x-session-token", b"nope")])
    error = await client.next_event()
    assert error["code"] == "not_authenticated"
    assert "token" in error["message"]
    assert await client.wait_closed() == 4401


async def test_waitlisted_person_gets_waitlisted_and_is_closed_4403(
    hub: Hub, sockets: list
) -> None:
    waiting = await make_user("wendy", member=False)
    client, _ = await connect(hub, sockets, waiting)
    error = await client.next_event()
    assert error["code"] == "waitlisted"
    assert await client.wait_closed() == 4403


async def test_session_cookie_authenticates(hub: Hub, sockets: list) -> None:
    alice = await make_user("alice")
    client, _ = await connect(hub, sockets, alice)
    assert "time" in await client.request("ping")


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(b"x-session-token", id="x-session-token"),
        pytest.param(b"authorization", id="authorization-bearer"),
    ],
)
async def test_session_token_in_a_header_authenticates(
    hub: Hub, sockets: list, header: bytes
) -> None:
    alice = await make_user("alice")
    token = await session_key_for(alice)
    value = f"Bearer {token}" if header == b"authorization" else token
    client, _ = await connect(hub, sockets, headers=[(header, value.encode())])
    assert "time" in await client.request("ping")


async def test_session_token_as_subprotocol_authenticates(hub: Hub, sockets: list) -> None:
    alice = await make_user("alice")
    token = await session_key_for(alice)
    communicator = WebsocketCommunicator(
        __import__("tests.rooms.test_realtime_support", fromlist=["application"]).application(hub),
        "/ws/",
        subprotocols=[f"token.{token}"],
    )
    sockets.append(communicator)
    connected, subprotocol = await communicator.connect()
    assert connected
    assert subprotocol == f"token.{token}"  # browsers need an offered subprotocol echoed
    await communicator.send_json_to({"id": "1", "type": "ping"})
    assert (await communicator.receive_json_from())["type"] == "reply"


@pytest.mark.parametrize("with_cookie", [False, True], ids=["token-only", "with-cookie-too"])
async def test_session_token_in_the_url_is_refused_with_4400(
    hub: Hub, sockets: list, with_cookie: bool
) -> None:
    """Even a valid token: URLs land in proxy logs, so the client must be fixed, not served."""
    alice = await make_user("alice")
    token = await session_key_for(alice)
    client, _ = await connect(hub, sockets, alice if with_cookie else None, query=f"?token={token}")
    error = await client.next_event()
    assert error["type"] == "error"
    assert error["code"] == "token_in_url"
    assert "X-Session-Token" in error["message"]
    assert await client.wait_closed() == 4400


async def test_room_client_sends_its_token_in_a_header_not_the_url() -> None:
    """What a proxy would log: the request line of the client's upgrade has no token."""
    seen: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.set_result(await reader.readuntil(b"\r\n\r\n"))
        writer.close()

    server = await asyncio.start_server(handshake, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with contextlib.suppress(Exception):  # the stand-in server refuses the upgrade
            await RoomClient.connect(f"ws://127.0.0.1:{port}/ws/", token="s3cr3t-session")
        request = (await asyncio.wait_for(seen, 10)).decode("latin-1")
    finally:
        server.close()
        await server.wait_closed()
    request_line, *headers = request.split("\r\n")
    assert request_line == "GET /ws/ HTTP/1.1"
    assert "x-session-token: s3cr3t-session" in [h.lower() for h in headers]


async def test_real_asgi_application_routes_ws(rooms: FakeRooms) -> None:
    from clubhouse.asgi import application

    alice = await make_user("alice")
    key = await session_key_for(alice)
    communicator = WebsocketCommunicator(
        application,
        "/ws/",
        headers=[(b"origin", b"http://127.0.0.1"), (b"cookie", f"sessionid={key}".encode())],
    )
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_json_to({"id": "a", "type": "room.join", "room_id": ROOM})
    reply = await communicator.receive_json_from(timeout=5)
    assert reply == {"type": "reply", "id": "a", "data": await_snapshot_shape(reply)}
    await communicator.disconnect()


def await_snapshot_shape(reply: dict[str, Any]) -> dict[str, Any]:
    data = reply["data"]
    assert data["room"] == {"id": ROOM}
    assert data["seq"] == 0
    return data


# --- frames --------------------------------------------------------------------------------------

BAD_FRAMES = [
    pytest.param({"text_data": "{not json"}, "malformed", None, id="not-json"),
    pytest.param({"text_data": "[1, 2]"}, "malformed", None, id="not-an-object"),
    pytest.param({"bytes_data": b"\x00\x01"}, "malformed", None, id="binary"),
    pytest.param({"text_data": json.dumps({"type": "ping"})}, "invalid", None, id="missing-id"),
    pytest.param(
        {"text_data": json.dumps({"id": 5, "type": "ping"})}, "invalid", None, id="id-not-string"
    ),
    pytest.param({"text_data": json.dumps({"id": "x"})}, "invalid", "x", id="missing-type"),
    pytest.param(
        {"text_data": json.dumps({"id": "x", "type": 3})}, "invalid", "x", id="type-not-string"
    ),
    pytest.param(
        {"text_data": json.dumps({"id": "x", "type": "room.nope"})},
        "unknown_type",
        "x",
        id="unknown-type",
    ),
    pytest.param(
        {"text_data": json.dumps({"id": "x", "type": "room.join"})},
        "invalid",
        "x",
        id="join-without-room",
    ),
    pytest.param(
        {"text_data": json.dumps({"id": "x", "type": "room.join", "room_id": "7"})},
        "invalid",
        "x",
        id="room-id-string",
    ),
    pytest.param(
        {"text_data": json.dumps({"id": "x", "type": "room.join", "room_id": True})},
        "invalid",
        "x",
        id="room-id-bool",
    ),
    pytest.param(
        {"text_data": json.dumps({"id": "x", "type": "room.snapshot"})},
        "not_in_room",
        "x",
        id="snapshot-outside-room",
    ),
    pytest.param(
        {"text_data": json.dumps({"id": "x", "type": "ping", "pad": "a" * 17000})},
        "too_large",
        None,
        id="oversized",
    ),
]


@pytest.mark.parametrize(("frame", "code", "request_id"), BAD_FRAMES)
async def test_bad_frame_gets_error_frame_and_socket_stays_open(
    hub: Hub,
    sockets: list,
    rooms: FakeRooms,
    frame: dict[str, Any],
    code: str,
    request_id: str | None,
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    communicator = await connect_raw(hub, sockets, alice)
    bystander, _ = await connect(hub, sockets, bob)
    await bystander.join(ROOM)

    await communicator.send_to(**frame)
    error = await communicator.receive_json_from(timeout=5)
    assert error["type"] == "error"
    assert error["code"] == code
    assert error["id"] == request_id
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["fields"], dict)

    # The same socket still answers, and the other person's socket never noticed.
    await communicator.send_json_to({"id": "after", "type": "ping"})
    assert (await communicator.receive_json_from(timeout=5))["id"] == "after"
    assert "time" in await bystander.request("ping")


async def test_application_error_becomes_error_frame_with_fields(
    hub: Hub, sockets: list, rooms: FakeRooms
) -> None:
    client, _ = await connect(hub, sockets, await make_user("alice"))
    with pytest.raises(ProtocolError) as caught:
        await client.request("room.invalid", room_id=ROOM)
    assert caught.value.code == "invalid"
    assert caught.value.fields == {"title": ["Too long."]}


async def test_crashing_handler_answers_internal_and_hurts_nobody(
    hub: Hub, sockets: list, rooms: FakeRooms
) -> None:
    client, _ = await connect(hub, sockets, await make_user("alice"))
    other, _ = await connect(hub, sockets, await make_user("bob"))
    await other.join(ROOM)
    with pytest.raises(ProtocolError) as caught:
        await client.request("room.boom", room_id=ROOM)
    assert caught.value.code == "internal"
    assert "time" in await client.request("ping")
    await client.join(ROOM)
    await client.request("room.tally", room_id=ROOM)
    assert (await next_of_type(other, "room.tallied"))["seq"] == 1


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("[" * 5000 + "]" * 5000, id="arrays-past-the-recursion-limit"),
        pytest.param('{"a":' * 2000 + "1" + "}" * 2000, id="objects-past-the-recursion-limit"),
        pytest.param(
            '{"id": "x", "type": "ping", "n": ' + "[" * 40 + "]" * 40 + "}", id="past-32-levels"
        ),
    ],
)
async def test_deeply_nested_frame_is_refused_quietly(
    hub: Hub, sockets: list, caplog: pytest.LogCaptureFixture, text: str
) -> None:
    communicator = await connect_raw(hub, sockets, await make_user("alice"))
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        for _ in range(5):
            await communicator.send_to(text_data=text)
            error = await communicator.receive_json_from(timeout=5)
            assert (error["type"], error["code"], error["id"]) == ("error", "malformed", None)
        await communicator.send_json_to({"id": "after", "type": "ping"})
        assert (await communicator.receive_json_from(timeout=5))["type"] == "reply"
    assert [r for r in caplog.records if r.exc_info] == []
    assert [r for r in caplog.records if r.name.startswith("rooms")] == []


async def test_nesting_within_the_limit_and_brackets_in_strings_are_fine(
    hub: Hub, sockets: list
) -> None:
    communicator = await connect_raw(hub, sockets, await make_user("alice"))
    nested = {"id": "a", "type": "ping", "n": json.loads("[" * 30 + "]" * 30), "s": "[{" * 100}
    await communicator.send_json_to(nested)
    assert (await communicator.receive_json_from(timeout=5))["type"] == "reply"


async def test_a_repeated_crash_logs_one_traceback_not_one_per_frame(
    hub: Hub, sockets: list, rooms: FakeRooms, caplog: pytest.LogCaptureFixture
) -> None:
    consumers._failures.next_at = 0.0  # a fresh window, whatever earlier tests logged
    client, _ = await connect(hub, sockets, await make_user("alice"))
    with caplog.at_level(logging.ERROR, logger="rooms.consumers"):
        for _ in range(5):
            with pytest.raises(ProtocolError) as caught:
                await client.request("room.boom", room_id=ROOM)
            assert caught.value.code == "internal"
    tracebacks = [r for r in caplog.records if r.name == "rooms.consumers" and r.exc_info]
    assert len(tracebacks) == 1, [r.getMessage() for r in tracebacks]
    assert consumers._failures.suppressed == 4


async def test_too_many_frames_are_rate_limited(hub: Hub, sockets: list, settings: Any) -> None:
    settings.REALTIME_RATE_PER_SECOND = 1
    settings.REALTIME_RATE_BURST = 3
    communicator = await connect_raw(hub, sockets, await make_user("alice"))
    for n in range(5):
        await communicator.send_json_to({"id": str(n), "type": "ping"})
    frames = [await communicator.receive_json_from(timeout=5) for _ in range(5)]
    assert [f["type"] for f in frames[:3]] == ["reply"] * 3
    assert [f["code"] for f in frames[3:]] == ["rate_limited"] * 2


# --- rooms ---------------------------------------------------------------------------------------


@pytest.mark.redis
async def test_two_processes_see_the_same_room_events(
    hubs: Callable[..., Any], sockets: list, rooms: FakeRooms
) -> None:
    first, second = await hubs(), await hubs()  # separate Redis connections
    alice, bob = await make_user("alice"), await make_user("bob")
    on_first, _ = await connect(first, sockets, alice)
    on_second, _ = await connect(second, sockets, bob)
    assert (await on_first.join(ROOM))["seq"] == 0
    assert (await on_second.join(ROOM))["seq"] == 0

    await on_first.request("room.tally", room_id=ROOM)
    await on_second.request("room.tally", room_id=ROOM)

    for client in (on_first, on_second):
        events = [await next_of_type(client, "room.tallied") for _ in range(2)]
        assert [(e["seq"], e["data"]["tally"]) for e in events] == [(1, 1), (2, 2)]


@pytest.mark.redis
async def test_no_update_is_lost_between_snapshot_and_events(
    hubs: Callable[..., Any], sockets: list, rooms: FakeRooms
) -> None:
    """Members join one by one while another thread changes the room as fast as it can: each
    joiner's snapshot plus the events after it add up to the final state, with no gap."""
    first, second = await hubs(), await hubs()
    actor = await make_user("actor")
    stop = threading.Event()

    def act() -> None:
        while not stop.is_set():
            rooms.tally(actor, {"room_id": ROOM})
            time.sleep(0.001)

    worker = threading.Thread(target=act)
    worker.start()
    joiners = []
    try:
        for n in range(6):
            client, _ = await connect(
                (first, second)[n % 2], sockets, await make_user(f"joiner{n}")
            )
            snapshot = await client.join(ROOM)
            joiners.append((client, snapshot["tally"]))
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        worker.join()
    final = rooms.rooms[ROOM]
    assert final["seq"] > 20  # the actions really overlapped the joins

    for client, tally in joiners:
        await eventually(lambda c=client: c.seq == final["seq"])
        events = [e for e in client.pending_events() if e["type"] == "room.tallied"]
        assert client.gaps == 0
        # Every event after the snapshot, once, in order: the state adds up.
        assert [e["data"]["tally"] for e in events] == list(range(tally + 1, final["tally"] + 1))


@pytest.mark.redis
async def test_client_repairs_a_gap_by_refetching_the_snapshot(
    hubs: Callable[..., Any], sockets: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With several web processes publishing, events of one room can reach Redis out of order;
    the client notices the gap, asks for a fresh snapshot and ends in the true state."""
    rooms = FakeRooms(publish_jitter=0.01)
    monkeypatch.setattr(domain, "_registered", rooms.as_domain())
    hub = await hubs()
    actor = await make_user("actor")
    client, _ = await connect(hub, sockets, await make_user("alice"))
    await client.join(ROOM)

    threads = [
        threading.Thread(target=lambda: [rooms.tally(actor, {"room_id": ROOM}) for _ in range(15)])
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        await asyncio.to_thread(thread.join)

    final = rooms.rooms[ROOM]
    await eventually(lambda: client.seq == final["seq"])
    state = 0
    for event in client.pending_events():
        if event["type"] == "client.resync":
            state = event["snapshot"]["tally"]
        elif event["type"] == "room.tallied":
            state = event["data"]["tally"]
    assert state == final["tally"] == 60
    assert client.gaps >= 1


async def test_joining_another_room_leaves_the_first(
    hub: Hub, sockets: list, rooms: FakeRooms
) -> None:
    alice = await make_user("alice")
    client, _ = await connect(hub, sockets, alice)
    await client.join(ROOM)
    await client.join(ROOM + 1)
    assert rooms.leaves == [(ROOM, alice.pk)]
    assert list(hub.room_members(ROOM)) == []
    assert await client.leave() == {"room_id": ROOM + 1}
    assert rooms.leaves == [(ROOM, alice.pk), (ROOM + 1, alice.pk)]


async def test_events_of_a_room_left_are_not_delivered(
    hub: Hub, sockets: list, rooms: FakeRooms
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    leaver, _ = await connect(hub, sockets, alice)
    stayer, _ = await connect(hub, sockets, bob)
    await leaver.join(ROOM)
    await stayer.join(ROOM)
    await leaver.leave()
    await stayer.request("room.tally", room_id=ROOM)
    await next_of_type(stayer, "room.tallied")
    assert "time" in await leaver.request("ping")
    assert [e for e in leaver.pending_events() if e["type"] == "room.tallied"] == []


async def test_join_refused_by_the_domain_is_an_error_and_subscribes_nothing(
    hub: Hub, sockets: list, rooms: FakeRooms
) -> None:
    alice = await make_user("alice")
    rooms._room(ROOM)["removed"].add(alice.pk)
    client, _ = await connect(hub, sockets, alice)
    with pytest.raises(ProtocolError) as caught:
        await client.join(ROOM)
    assert caught.value.code == "removed"
    assert list(hub.room_members(ROOM)) == []


@pytest.mark.redis
async def test_removed_member_is_ejected_and_others_stay(
    hubs: Callable[..., Any], sockets: list, rooms: FakeRooms
) -> None:
    first, second = await hubs(), await hubs()
    mod, troll = await make_user("mod"), await make_user("troll")
    moderator, _ = await connect(first, sockets, mod)
    removed, _ = await connect(second, sockets, troll)
    await moderator.join(ROOM)
    await removed.join(ROOM)

    await moderator.request("room.remove", room_id=ROOM, user_id=troll.pk)
    seen = await next_of_type(removed, "room.user_removed")
    assert seen["data"] == {"user_id": troll.pk}
    await eventually(lambda: list(second.room_members(ROOM)) == [])

    await moderator.request("room.tally", room_id=ROOM)
    await next_of_type(moderator, "room.tallied")
    assert "time" in await removed.request("ping")
    assert [e for e in removed.pending_events() if e["type"] == "room.tallied"] == []
    with pytest.raises(ProtocolError):
        await removed.join(ROOM)  # and they cannot come back


@pytest.mark.redis
async def test_room_ended_reaches_everyone_and_unsubscribes_them(
    hubs: Callable[..., Any], sockets: list, rooms: FakeRooms
) -> None:
    first, second = await hubs(), await hubs()
    clients = []
    for n in range(4):
        client, _ = await connect((first, second)[n % 2], sockets, await make_user(f"u{n}"))
        await client.join(ROOM)
        clients.append(client)
    await clients[0].request("room.end", room_id=ROOM)
    for client in clients:
        assert (await next_of_type(client, "room.ended"))["seq"] == 1
    await eventually(lambda: not first.room_members(ROOM) and not second.room_members(ROOM))
    assert rooms.leaves == []  # an ended room needs no leave, and no grace period runs


@pytest.mark.redis
async def test_personal_events_reach_every_socket_of_the_user(
    hubs: Callable[..., Any], sockets: list
) -> None:
    first, second = await hubs(), await hubs()
    alice, bob = await make_user("alice"), await make_user("bob")
    phone, _ = await connect(first, sockets, alice)
    laptop, _ = await connect(second, sockets, alice)
    someone_else, _ = await connect(first, sockets, bob)
    for client in (phone, laptop, someone_else):
        await client.request("ping")  # connected and subscribed
    await asyncio.to_thread(
        broadcast.user_send, alice.pk, {"type": "room.speaker_invited", "data": {"room_id": 1}}
    )
    for client in (phone, laptop):
        assert (await client.next_event())["type"] == "room.speaker_invited"
    await asyncio.sleep(0.1)
    assert someone_else.pending_events() == []


# --- presence ------------------------------------------------------------------------------------


@pytest.mark.redis
async def test_reconnecting_within_grace_keeps_place_and_role(
    hubs: Callable[..., Any], sockets: list, rooms: FakeRooms
) -> None:
    first, second = await hubs(grace=1.0), await hubs(grace=1.0)
    alice = await make_user("alice")
    client, communicator = await connect(first, sockets, alice)
    await client.join(ROOM)
    await client.request("room.set_role", room_id=ROOM, role="speaker")
    await communicator.disconnect()

    await asyncio.sleep(0.3)  # the network blips; the app reconnects to another process
    again, _ = await connect(second, sockets, alice)
    snapshot = await again.join(ROOM)
    assert snapshot["your_role"] == "speaker"
    await asyncio.sleep(1.3)  # well past the grace period
    assert rooms.leaves == []
    assert rooms.rooms[ROOM]["members"] == {alice.pk: "speaker"}


@pytest.mark.redis
async def test_member_is_removed_after_grace_exactly_once_with_several_processes(
    hubs: Callable[..., Any], sockets: list, rooms: FakeRooms
) -> None:
    processes = [await hubs(grace=0.3) for _ in range(3)]  # all three sweep
    alice, bob = await make_user("alice"), await make_user("bob")
    gone, communicator = await connect(processes[0], sockets, alice)
    stays, _ = await connect(processes[1], sockets, bob)
    await gone.join(ROOM)
    await stays.join(ROOM)
    await communicator.disconnect()

    await asyncio.sleep(0.1)
    assert rooms.leaves == []  # still inside the grace period
    await eventually(lambda: rooms.leaves != [])
    await asyncio.sleep(0.5)
    assert rooms.leaves == [(ROOM, alice.pk)]
    assert rooms.rooms[ROOM]["members"] == {bob.pk: "listener"}


@pytest.mark.redis
async def test_sockets_of_a_crashed_process_leave_after_heartbeat_ttl_and_grace(
    hubs: Callable[..., Any], sockets: list, rooms: FakeRooms
) -> None:
    crashing = await hubs(grace=0.2, ttl=0.4)
    survivor = await hubs(grace=0.2, ttl=0.4)
    alice = await make_user("alice")
    client, _ = await connect(crashing, sockets, alice)
    await client.join(ROOM)
    # The process dies: no disconnect handler runs, its heartbeats and sweeps stop. The moment the
    # member leaves is taken by a watcher started before the crash, so a slow close (a loaded
    # machine) cannot hide a leave that came too early.
    started = time.monotonic()
    left_at: list[float] = []

    async def watch() -> None:
        while not rooms.leaves:  # noqa: ASYNC110 - the fake domain has no event to await
            await asyncio.sleep(0.01)
        left_at.append(time.monotonic() - started)

    watcher = asyncio.ensure_future(watch())
    await crashing.close()
    crashing.attached.clear()
    await asyncio.wait_for(watcher, timeout=5)
    # Its last heartbeat was at most one beat (0.1 s) before the crash; the survivor waits for the
    # heartbeat TTL (0.4 s) to expire, then the grace (0.2 s).
    assert left_at[0] >= 0.4 - 0.1, left_at
    assert rooms.leaves == [(ROOM, alice.pk)]
    assert survivor is not crashing


# --- coalescing ----------------------------------------------------------------------------------


@pytest.mark.redis
async def test_audience_count_pushes_are_coalesced(
    hubs: Callable[..., Any], sockets: list, rooms: FakeRooms
) -> None:
    first, _second_process_also_flushing = await hubs(interval=0.25), await hubs(interval=0.25)
    client, _ = await connect(first, sockets, await make_user("alice"))
    await client.join(ROOM)
    await asyncio.sleep(0.4)
    client.pending_events()

    started = time.monotonic()

    def burst() -> None:
        for n in range(200):
            broadcast.room_audience_changed(ROOM, n + 1)
            time.sleep(0.004)

    await asyncio.to_thread(burst)
    # Read until the final count arrives (a loaded machine flushes late, never wrongly), then
    # bound the number of pushes by the time it really took.
    counts: list[dict[str, Any]] = []
    deadline = time.monotonic() + 15
    while not (counts and counts[-1]["data"]["count"] == 200) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        counts += [e for e in client.pending_events() if e["type"] == "room.audience_count"]
    elapsed = time.monotonic() - started
    assert counts, "at least one count push"
    assert len(counts) <= elapsed / 0.25 + 1  # at most one per interval, both processes flushing
    assert counts[-1] == {"type": "room.audience_count", "room_id": ROOM, "data": {"count": 200}}
    assert "seq" not in counts[-1]


async def test_audience_count_without_a_given_count_asks_the_domain(
    hub: Hub, sockets: list, rooms: FakeRooms
) -> None:
    client, _ = await connect(hub, sockets, await make_user("alice"))
    await client.join(ROOM)  # the fake's join reports a count itself; this one does not
    await asyncio.to_thread(broadcast.room_audience_changed, ROOM)
    event = await next_of_type(client, "room.audience_count")
    assert event["data"] == {"count": 1}


# --- embedded mode -------------------------------------------------------------------------------


async def test_embedded_mode_without_redis_delivers_in_process(
    sockets: list, rooms: FakeRooms, settings: Any
) -> None:
    settings.REDIS_URL = ""
    hub = make_hub(redis_url="")
    await hub.start()
    try:
        alice, bob = await make_user("alice"), await make_user("bob")
        one, _ = await connect(hub, sockets, alice)
        two, _ = await connect(hub, sockets, bob)
        await one.join(ROOM)
        await two.join(ROOM)
        await one.request("room.tally", room_id=ROOM)
        for client in (one, two):
            assert (await next_of_type(client, "room.tallied"))["seq"] == 1
    finally:
        for communicator in sockets:
            await communicator.disconnect()
        sockets.clear()
        await hub.close()


# --- request ids in the logs (clubhouse/logs.py) ------------------------------------------------


async def test_a_sockets_log_lines_name_its_connection_and_frame(
    hub: Hub, sockets: list, rooms: FakeRooms, json_logs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consumers, "_failures", consumers._FailureLog(window=0.0))
    client, _ = await connect(hub, sockets, await make_user("alice"))
    other, _ = await connect(hub, sockets, await make_user("bob"))
    for socket in (client, client, other):
        with pytest.raises(ProtocolError):
            await socket.request("room.boom", room_id=ROOM)

    failures = [
        line
        for line in json_logs.lines()
        if line["logger"] == "rooms.consumers" and "failed" in str(line["message"])
    ]
    assert len(failures) == 3
    ids = [str(line["request_id"]) for line in failures]
    connections = [rid.rsplit(".", 1)[0] for rid in ids]
    assert connections[0] == connections[1] != connections[2]  # one id per connection
    assert len(set(ids)) == 3  # and one per frame
    assert all("Traceback" in str(line["exception"]) for line in failures)


async def test_a_socket_keeps_a_valid_request_id_from_its_upgrade_request(
    hub: Hub, sockets: list, rooms: FakeRooms, json_logs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consumers, "_failures", consumers._FailureLog(window=0.0))
    client, _ = await connect(
        hub, sockets, await make_user("alice"), headers=[(b"x-request-id", b"edge-42")]
    )
    with pytest.raises(ProtocolError):
        await client.request("room.boom", room_id=ROOM)
    (failure,) = [line for line in json_logs.lines() if line["logger"] == "rooms.consumers"]
    assert str(failure["request_id"]).startswith("edge-42.")
