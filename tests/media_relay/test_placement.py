"""Least-loaded placement with heartbeats, in process and in Redis."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from typing import Any as SettingsWrapper

import pytest

from media_relay.health import relay_health
from media_relay.placement import (
    MemoryRegistry,
    RedisRegistry,
    RelayUnavailable,
    relay_place_member,
    relay_place_room,
    relay_room_members_to_replace,
    relay_room_workers,
)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def registry(request: pytest.FixtureRequest, settings: SettingsWrapper):  # type: ignore[no-untyped-def]
    settings.RELAY_WORKER_TTL_S = 6.0
    if request.param == "memory":
        yield MemoryRegistry()
        return
    prefix = f"relay-test-{uuid.uuid4().hex[:8]}"
    reg = RedisRegistry(settings.REDIS_URL, prefix)
    yield reg
    for key in reg._redis.scan_iter(match=f"{prefix}:*"):
        reg._redis.delete(key)


def test_a_room_goes_to_the_least_loaded_live_worker(registry) -> None:  # type: ignore[no-untyped-def]
    registry.heartbeat("busy", {"rooms": 3, "peers": 400})
    registry.heartbeat("idle", {"rooms": 1, "peers": 20})
    assert registry.place(1) == "idle"


def test_a_placed_room_stays_on_its_worker(registry) -> None:  # type: ignore[no-untyped-def]
    registry.heartbeat("a", {"rooms": 0, "peers": 0})
    first = registry.place(1)
    registry.heartbeat("b", {"rooms": 0, "peers": 0})
    registry.heartbeat(first, {"rooms": 5, "peers": 900})
    assert registry.place(1) == first


def test_placements_between_heartbeats_spread_rooms(registry) -> None:  # type: ignore[no-untyped-def]
    registry.heartbeat("a", {"rooms": 0, "peers": 0})
    registry.heartbeat("b", {"rooms": 0, "peers": 0})
    assert {registry.place(1), registry.place(2)} == {"a", "b"}


def test_a_dead_workers_room_is_re_placed(registry, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    now = [1_000_000.0]
    monkeypatch.setattr("media_relay.placement.time.time", lambda: now[0])
    registry.heartbeat("old", {"rooms": 0, "peers": 0})
    assert registry.place(1) == "old"
    now[0] += 7.0  # past the 6 s TTL: "old" stopped beating
    registry.heartbeat("new", {"rooms": 0, "peers": 0})
    assert registry.place(1) == "new"
    assert {w["worker_id"]: w["alive"] for w in registry.workers()} == {"old": False, "new": True}


def test_no_live_worker_is_an_error(registry) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RelayUnavailable):
        registry.place(1)


def test_without_redis_placement_and_health_use_the_in_process_registry(
    settings: SettingsWrapper, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.REDIS_URL = ""
    reg = MemoryRegistry()
    monkeypatch.setattr("media_relay.placement._memory", reg)
    assert relay_health() == {"ok": True, "state": "no_workers", "workers": []}
    reg.heartbeat("embedded", {"rooms": 1, "peers": 3, "packets_in": 10, "packets_out": 30})
    assert relay_place_room(9) == "embedded"
    health = relay_health()
    assert health["ok"] is True
    assert health["state"] == "running"
    assert (health["peers"], health["packets_out"]) == (3, 30)
    assert health["workers"][0]["worker_id"] == "embedded"


# --- per-member placement and cascading -------------------------------------------------------


def _beat(registry, **peers: int) -> None:  # type: ignore[no-untyped-def]
    for worker_id, count in peers.items():
        registry.heartbeat(worker_id, {"rooms": 0, "peers": count})


def test_speakers_go_to_the_origin_and_listeners_overflow_to_the_least_loaded_edges(
    registry,
) -> None:  # type: ignore[no-untyped-def]
    _beat(registry, a=0, b=1, c=0)
    assert registry.place_member(1, 10, True, 2) == "a"  # the room's origin: least loaded
    assert registry.place_member(1, 20, False, 2) == "a"  # the origin has room for one more
    assert registry.place_member(1, 21, False, 2) == "c"  # origin full: least-loaded edge
    assert registry.place_member(1, 22, False, 2) == "c"  # an edge the room already has first
    assert registry.place_member(1, 23, False, 2) == "b"  # c is full now (b has 1 + 1)
    with pytest.raises(RelayUnavailable, match="full"):
        registry.place_member(1, 24, False, 2)
    assert registry.place_member(1, 11, True, 2) == "a"  # the stage is never refused
    assert registry.room_worker(1) == "a"
    assert registry.room_workers(1) == ["a", "b", "c"]
    assert registry.room_members(1) == {10: "a", 11: "a", 20: "a", 21: "c", 22: "c", 23: "b"}


def test_a_worker_announcing_its_capacity_is_filled_to_it_not_to_the_default(registry) -> None:  # type: ignore[no-untyped-def]
    registry.heartbeat("a", {"rooms": 0, "peers": 0, "max_peers": 1})
    registry.heartbeat("b", {"rooms": 0, "peers": 0, "max_peers": 3})
    placed = [registry.place_member(1, user_id, user_id == 1, 100) for user_id in range(1, 5)]
    assert placed == ["a", "b", "b", "b"]
    with pytest.raises(RelayUnavailable):
        registry.place_member(1, 5, False, 100)


def test_a_member_stays_where_it_is_until_it_starts_publishing(registry) -> None:  # type: ignore[no-untyped-def]
    _beat(registry, a=0, b=0)
    assert registry.place_member(1, 10, True, 1) == "a"
    assert registry.place_member(1, 20, False, 1) == "b"
    _beat(registry, a=0, b=0)  # both report no load: placement stays sticky anyway
    assert registry.place_member(1, 20, False, 1) == "b"
    assert registry.place_member(1, 20, True, 1) == "a"  # invited on stage: to the origin
    assert registry.room_members(1) == {10: "a", 20: "a"}


def test_a_forgotten_member_frees_its_place_only_if_it_is_still_there(registry) -> None:  # type: ignore[no-untyped-def]
    _beat(registry, a=0, b=0)
    registry.place_member(1, 10, True, 1)
    assert registry.place_member(1, 20, False, 1) == "b"
    registry.forget_member(1, 20, "a")  # a stale goodbye from a worker it has left
    assert registry.room_workers(1) == ["a", "b"]
    registry.forget_member(1, 20, "b")
    assert registry.room_workers(1) == ["a"]
    assert registry.room_members(1) == {10: "a"}


def test_an_edge_dying_re_places_only_its_listeners(
    registry, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    now = [1_000_000.0]
    monkeypatch.setattr("media_relay.placement.time.time", lambda: now[0])
    monkeypatch.setattr("media_relay.placement.relay_registry", lambda: registry)
    _beat(registry, a=0, b=0)
    registry.place_member(1, 10, True, 1)
    registry.place_member(1, 20, False, 1)
    assert registry.room_members(1) == {10: "a", 20: "b"}
    now[0] += 7.0
    _beat(registry, a=1, c=0)  # b stopped beating
    assert relay_room_members_to_replace(1) == [20]
    assert registry.place_member(1, 20, False, 1) == "c"
    assert registry.place_member(1, 10, True, 1) == "a"
    assert relay_room_members_to_replace(1) == []


def test_the_origin_dying_re_places_the_whole_room(
    registry, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    now = [1_000_000.0]
    monkeypatch.setattr("media_relay.placement.time.time", lambda: now[0])
    monkeypatch.setattr("media_relay.placement.relay_registry", lambda: registry)
    _beat(registry, a=0, b=0)
    registry.place_member(1, 10, True, 1)
    registry.place_member(1, 20, False, 1)
    assert registry.room_members(1) == {10: "a", 20: "b"}
    now[0] += 7.0
    _beat(registry, b=1, c=0)  # the origin a stopped beating; edge b lives
    assert relay_room_members_to_replace(1) == [10, 20]  # everyone re-negotiates
    assert registry.place_member(1, 20, False, 1) == "c"  # the new origin, least loaded
    assert registry.room_worker(1) == "c"
    assert registry.room_members(1) == {20: "c"}  # where the others were is forgotten
    assert registry.place_member(1, 10, True, 1) == "c"
    assert relay_place_room(1) == "c"


def test_relay_place_room_is_the_origin_members_are_placed_around(registry, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("media_relay.placement.relay_registry", lambda: registry)
    _beat(registry, a=3, b=0)
    assert relay_place_room(5) == "b"
    assert registry.place_member(5, 10, True, 10) == "b"
    assert relay_room_workers(5) == ["b"]
    registry.forget_room(5)
    assert relay_room_workers(5) == []
    assert registry.room_members(5) == {}


def test_relay_place_member_uses_the_capacity_setting(
    settings: SettingsWrapper, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.REDIS_URL = ""
    settings.RELAY_WORKER_MAX_PEERS = 1
    reg = MemoryRegistry()
    monkeypatch.setattr("media_relay.placement._memory", reg)
    _beat(reg, a=0, b=0)
    assert relay_place_member(3, 1, publishing=True) == "a"
    assert relay_place_member(3, 2, publishing=False) == "b"
    assert relay_room_workers(3) == ["a", "b"]


@pytest.mark.redis
def test_placement_in_redis_is_atomic_across_callers(settings: SettingsWrapper) -> None:
    """Two web processes place one new room's members at once: they agree on the origin and no
    worker is filled past its capacity."""
    settings.RELAY_WORKER_TTL_S = 6.0
    prefix = f"relay-test-{uuid.uuid4().hex[:8]}"
    callers = [RedisRegistry(settings.REDIS_URL, prefix) for _ in range(2)]
    _beat(callers[0], a=0, b=0, c=0, d=0)
    capacity, per_caller = 3, 6
    barrier = threading.Barrier(len(callers))
    placed: dict[int, str] = {}

    def place_all(index: int, registry: RedisRegistry) -> None:
        barrier.wait()  # the speakers of a new room at once, then listeners at once
        placed[index * 100] = registry.place_member(77, index * 100, True, capacity)
        barrier.wait()
        for n in range(1, per_caller):
            user_id = index * 100 + n
            placed[user_id] = registry.place_member(77, user_id, False, capacity)

    try:
        threads = [
            threading.Thread(target=place_all, args=(i, reg)) for i, reg in enumerate(callers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert len(placed) == 2 * per_caller
        origin = callers[0].room_worker(77)
        assert placed[0] == placed[100] == origin  # both speakers on the one origin
        per_worker = Counter(placed.values())
        assert max(per_worker.values()) <= capacity, per_worker
        assert callers[1].room_members(77) == placed
    finally:
        for key in callers[0]._redis.scan_iter(match=f"{prefix}:*"):
            callers[0]._redis.delete(key)
