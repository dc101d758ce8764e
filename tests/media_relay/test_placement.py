"""Least-loaded placement with heartbeats, in process and in Redis."""

from __future__ import annotations

import uuid
from typing import Any as SettingsWrapper

import pytest

from media_relay.health import relay_health
from media_relay.placement import (
    MemoryRegistry,
    RedisRegistry,
    RelayUnavailable,
    relay_place_room,
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
    assert health["ok"] is True and health["state"] == "running"
    assert (health["peers"], health["packets_out"]) == (3, 30)
    assert health["workers"][0]["worker_id"] == "embedded"
