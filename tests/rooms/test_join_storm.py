"""Every entry rule holds while many people join one room at the same moment (issue #18), on real
PostgreSQL: capacity, removals, moderator blocks, closed rooms, club access, tickets and bans.

The service-level tests run the joins from a pool of threads released together, each with its own
database connection, so the rules meet real row locks and real interleavings; the pool is
smaller than the number of joins (the machine's PostgreSQL is shared, and 50 connections from
one test would starve others). The socket-level tests send every `room.join` frame at once over
sockets spread on two hubs (two web processes) and read the answers the members would see.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, transaction

from accounts.models import User
from clubhouse.errors import ApplicationError
from clubhouse.money import Money
from payouts.services import tickets
from rooms import services
from rooms.client import ProtocolError
from rooms.models import Room, RoomInvite, RoomParticipant, RoomRemoval
from rooms.realtime import admission
from tests.clubs.factories import ClubFactory, MembershipFactory
from tests.payouts.conftest import make_creator
from tests.rooms import test_consumers
from tests.rooms.factories import MemberFactory, RoomFactory, block, participant
from tests.rooms.test_consumers import connect
from tests.rooms.test_realtime_support import eventually

hubs = test_consumers.hubs
sockets = test_consumers.sockets

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

JOINERS = 50
THREADS = 12


def storm(calls: list[Callable[[], Any]], threads: int = THREADS) -> list[Any]:
    """Run `calls` from `threads` threads released at the same moment, each taking the next call
    as soon as it is done with one; returns each call's result or exception, in order."""
    results: list[Any] = [None] * len(calls)
    barrier = threading.Barrier(threads)
    taken = iter(range(len(calls)))
    lock = threading.Lock()

    def worker() -> None:
        try:
            barrier.wait()
            while True:
                with lock:
                    index = next(taken, None)
                if index is None:
                    return
                try:
                    results[index] = calls[index]()
                except Exception as exc:  # noqa: BLE001 - handed to the test thread, which asserts on it
                    results[index] = exc
        finally:
            connection.close()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in pool), "a join did not finish within 60 s"
    return results


def outcome(result: Any) -> str:
    """What the joining member was told: `admitted`, or the error's code."""
    if isinstance(result, ApplicationError):
        return result.code
    if isinstance(result, RoomParticipant):
        return "admitted"
    raise AssertionError(f"unexpected result of a join: {result!r}")


def join_all(room: Room, people: list[User]) -> dict[int, str]:
    calls = [lambda p=p: services.room_join(user=p, room_id=room.pk) for p in people]
    return {p.pk: outcome(r) for p, r in zip(people, storm(calls), strict=True)}


@pytest.fixture(autouse=True)
def _quiet_audience_pushes(monkeypatch: pytest.MonkeyPatch) -> None:
    # The service-level tests have no hub; the audience count is the transport's business.
    monkeypatch.setattr("rooms.realtime.broadcast.room_audience_changed", lambda room_id: None)


def test_fifty_joins_into_ten_free_seats_admit_exactly_ten_and_refuse_the_rest_as_full() -> None:
    room = RoomFactory(capacity=13)
    for _ in range(2):
        participant(room, MemberFactory())  # 3 in (the moderator and two listeners): 10 free
    told = join_all(room, [MemberFactory() for _ in range(JOINERS)])
    assert Counter(told.values()) == {"admitted": 10, "room_full": JOINERS - 10}
    assert RoomParticipant.objects.filter(room=room).count() == room.capacity


def test_people_already_in_keep_their_place_when_a_full_room_is_stormed() -> None:
    room = RoomFactory(capacity=5)
    inside = [MemberFactory() for _ in range(4)]
    for person in inside:
        participant(room, person)
    told = join_all(room, inside + [MemberFactory() for _ in range(JOINERS - len(inside))])
    assert [told[p.pk] for p in inside] == ["admitted"] * len(inside)
    assert Counter(told.values()) == {"admitted": len(inside), "room_full": JOINERS - len(inside)}


def test_removed_people_stay_out_while_others_storm_in() -> None:
    room = RoomFactory()
    removed = [MemberFactory() for _ in range(10)]
    for person in removed:
        RoomRemoval.objects.create(room=room, user=person, removed_by=room.created_by)
    told = join_all(room, removed + [MemberFactory() for _ in range(JOINERS - 10)])
    assert {told[p.pk] for p in removed} == {"removed_from_room"}
    assert Counter(told.values())["admitted"] == JOINERS - 10
    assert not RoomParticipant.objects.filter(room=room, user__in=removed).exists()


def test_people_a_moderator_blocked_stay_out_while_others_storm_in() -> None:
    room = RoomFactory()
    blocked = [MemberFactory() for _ in range(10)]
    for person in blocked:
        block(room.created_by, person)
    told = join_all(room, blocked + [MemberFactory() for _ in range(JOINERS - 10)])
    assert {told[p.pk] for p in blocked} == {"blocked_by_moderator"}
    assert Counter(told.values())["admitted"] == JOINERS - 10


def test_a_closed_room_admits_only_the_invited_under_a_storm() -> None:
    room = RoomFactory(type=Room.Type.CLOSED)
    invited = [MemberFactory() for _ in range(10)]
    for person in invited:
        RoomInvite.objects.create(room=room, user=person, invited_by=room.created_by)
    told = join_all(room, invited + [MemberFactory() for _ in range(JOINERS - 10)])
    assert {told[p.pk] for p in invited} == {"admitted"}
    assert Counter(told.values()) == {"admitted": 10, "closed_room_invite_only": JOINERS - 10}


def test_a_members_only_club_room_admits_only_club_members_under_a_storm() -> None:
    club = ClubFactory()
    room = services.room_create(
        user=club.created_by, title="Club talk", club_id=club.pk, members_only=True
    )
    members = [MembershipFactory(club=club).user for _ in range(10)]
    told = join_all(room, members + [MemberFactory() for _ in range(JOINERS - 10)])
    assert {told[p.pk] for p in members} == {"admitted"}
    assert Counter(told.values()) == {"admitted": 10, "club_members_only": JOINERS - 10}


def test_a_priced_room_admits_only_ticket_holders_under_a_storm() -> None:
    creator = make_creator()
    room = RoomFactory(created_by=creator)
    tickets.ticket_price_set(user=creator, room_id=room.pk, price=Money(1500, "USD"))
    holders = [MemberFactory() for _ in range(10)]
    for person in holders:
        tickets.ticket_buy(buyer=person, room_id=room.pk, payment_method="pm_card_visa")
    told = join_all(room, holders + [MemberFactory() for _ in range(JOINERS - 10)])
    assert {told[p.pk] for p in holders} == {"admitted"}
    assert Counter(told.values()) == {"admitted": 10, "ticket_required": JOINERS - 10}


def test_an_ended_room_admits_nobody_however_many_arrive() -> None:
    room = RoomFactory()
    services.room_end(user=room.created_by, room_id=room.pk)
    told = join_all(room, [MemberFactory() for _ in range(JOINERS)])
    assert set(told.values()) == {"room_ended"}


# --- over the socket: what the members see ------------------------------------------------------


@sync_to_async
def room_with_free_seats(free: int) -> Room:
    room = RoomFactory()
    Room.objects.filter(pk=room.pk).update(capacity=1 + free)  # the moderator holds one
    return room


@sync_to_async
def members(count: int) -> list[User]:
    return [MemberFactory() for _ in range(count)]


@sync_to_async
def in_room(room: Room) -> int:
    return RoomParticipant.objects.filter(room=room).count()


async def join_answer(client: Any, room_id: int) -> str:
    """Join as the web client does: after `room_busy`, again once its `retry_after` passed."""
    while True:
        try:
            snapshot = await client.join(room_id)
        except ProtocolError as error:
            if error.code == "room_busy":
                await asyncio.sleep(error.retry_after / 1000)
                continue
            return error.code
        assert snapshot["you"]["role"] == "listener"
        return "admitted"


async def test_fifty_sockets_joining_ten_free_seats_at_once_get_ten_snapshots_and_forty_room_full(
    hubs: Callable[..., Any], sockets: list
) -> None:
    first, second = await hubs(), await hubs()
    room = await room_with_free_seats(10)
    people = await members(JOINERS)
    clients = [
        (await connect((first, second)[n % 2], sockets, person))[0]
        for n, person in enumerate(people)
    ]
    answers = await asyncio.gather(*(join_answer(client, room.pk) for client in clients))
    assert Counter(answers) == {"admitted": 10, "room_full": JOINERS - 10}
    assert await in_room(room) == 11


@sync_to_async
def disable(people: list[User]) -> None:
    # The ban's own push is not what is tested here: the join frame re-reads the account.
    User.objects.filter(pk__in=[p.pk for p in people]).update(is_active=False)


async def test_accounts_banned_after_connecting_are_refused_when_they_storm_a_room(
    hubs: Callable[..., Any], sockets: list
) -> None:
    hub = await hubs()
    room = await room_with_free_seats(100)
    people = await members(20)
    clients = [(await connect(hub, sockets, person))[0] for person in people]
    banned = people[:5]
    await disable(banned)
    answers = await asyncio.gather(*(join_answer(client, room.pk) for client in clients))
    assert answers[:5] == ["account_disabled"] * 5
    assert answers[5:] == ["admitted"] * 15
    assert await in_room(room) == 16


# --- admission control: a saturated process answers at once ---------------------------------


class RoomLockHeld:
    """Holds a room's row lock from a thread of its own (its own database connection), so a
    join that reaches the database stays in flight until `release()`."""

    def __init__(self, room: Room) -> None:
        self.room = room
        self.taken = threading.Event()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._hold)

    def _hold(self) -> None:
        try:
            with transaction.atomic():
                Room.objects.select_for_update().get(pk=self.room.pk)
                self.taken.set()
                self.done.wait(timeout=30)
        finally:
            connection.close()

    async def __aenter__(self) -> RoomLockHeld:
        self.thread.start()
        assert await asyncio.to_thread(self.taken.wait, 10)
        return self

    def release(self) -> None:
        self.done.set()

    async def __aexit__(self, *exc: object) -> None:
        self.release()
        await asyncio.to_thread(self.thread.join, 10)


async def until_in_flight(count: int) -> None:
    await eventually(lambda: admission.joins.in_flight == count)


async def test_a_saturated_process_answers_room_busy_at_once_and_the_retry_gets_in(
    hubs: Callable[..., Any], sockets: list, settings: Any
) -> None:
    settings.ROOM_JOIN_MAX_IN_FLIGHT = 1
    settings.ROOM_JOIN_RETRY_AFTER_MS = 400
    hub = await hubs()
    room = await room_with_free_seats(10)
    first_person, second_person = await members(2)
    first, _ = await connect(hub, sockets, first_person)
    second, _ = await connect(hub, sockets, second_person)
    async with RoomLockHeld(room) as lock:
        first_join = asyncio.ensure_future(first.join(room.pk))
        await until_in_flight(1)  # the first join waits for the room, inside the database
        with pytest.raises(ProtocolError) as busy:
            await second.join(room.pk)
        assert busy.value.code == "room_busy"
        assert busy.value.retry_after is not None
        assert 200 <= busy.value.retry_after <= 600
        assert not first_join.done()
        lock.release()
        assert (await first_join)["you"]["role"] == "listener"
    await until_in_flight(0)
    assert (await second.join(room.pk))["you"]["role"] == "listener"
    assert await in_room(room) == 3


async def test_room_busy_answers_are_jittered_so_refused_joiners_do_not_return_together(
    hubs: Callable[..., Any], sockets: list, settings: Any
) -> None:
    settings.ROOM_JOIN_MAX_IN_FLIGHT = 1
    settings.ROOM_JOIN_RETRY_AFTER_MS = 1000
    hub = await hubs()
    room = await room_with_free_seats(20)
    people = await members(11)
    clients = [(await connect(hub, sockets, person))[0] for person in people]
    async with RoomLockHeld(room):
        held = asyncio.ensure_future(clients[0].join(room.pk))
        await until_in_flight(1)
        refusals = await asyncio.gather(
            *(client.join(room.pk) for client in clients[1:]), return_exceptions=True
        )
    await held
    assert {r.code for r in refusals} == {"room_busy"}
    waits = [r.retry_after for r in refusals]
    assert all(500 <= wait <= 1500 for wait in waits)
    assert len(set(waits)) > 1


async def test_a_full_room_answers_room_full_not_room_busy(
    hubs: Callable[..., Any], sockets: list, settings: Any
) -> None:
    settings.ROOM_JOIN_MAX_IN_FLIGHT = 1
    hub = await hubs()
    room = await room_with_free_seats(0)
    (late,) = await members(1)
    client, _ = await connect(hub, sockets, late)
    with pytest.raises(ProtocolError) as full:
        await client.join(room.pk)
    assert full.value.code == "room_full"
    assert full.value.retry_after is None
