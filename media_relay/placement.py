"""Where rooms run: relay workers register with a heartbeat and their load; a room is placed on
the least-loaded live worker and stays there while that worker lives.

Redis when REDIS_URL is set (every web and relay process shares it); otherwise one in-process
registry, which is what the embedded mode (`make run`, relay inside the web process) uses.

Keys (prefix `RELAY_REDIS_PREFIX`, default "relay"):
  <prefix>:worker:<worker_id>  JSON {worker_id, channel, heartbeat, rooms, peers, ...}, expires
                               after 10 x the worker TTL (a dead worker stays visible a while)
  <prefix>:room:<room_id>      the worker_id the room is placed on
  <prefix>:pending             hash worker_id -> rooms placed since its last heartbeat
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Protocol

from media_relay import conf


class RelayUnavailable(Exception):
    """No live relay worker to place a room on."""


def worker_channel(worker_id: str) -> str:
    """The channel-layer channel a worker receives signalling on."""
    return f"relay.{worker_id}"


def room_events_group(room_id: int) -> str:
    """The group a worker sends a room's relay events (speaking, ...) to."""
    return f"relay.room.{room_id}"


def _load(info: dict[str, Any], pending: int) -> tuple[int, int]:
    return (int(info.get("peers", 0)) + 50 * (int(info.get("rooms", 0)) + pending), pending)


class Registry(Protocol):
    def heartbeat(self, worker_id: str, info: dict[str, Any]) -> None: ...
    def unregister(self, worker_id: str) -> None: ...
    def workers(self) -> list[dict[str, Any]]: ...
    def place(self, room_id: int) -> str: ...
    def room_worker(self, room_id: int) -> str | None: ...
    def forget_room(self, room_id: int) -> None: ...


class MemoryRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._workers: dict[str, dict[str, Any]] = {}
        self._rooms: dict[int, str] = {}
        self._pending: dict[str, int] = {}

    def heartbeat(self, worker_id: str, info: dict[str, Any]) -> None:
        with self._lock:
            self._workers[worker_id] = {**info, "worker_id": worker_id, "heartbeat": time.time()}
            self._pending.pop(worker_id, None)

    def unregister(self, worker_id: str) -> None:
        with self._lock:
            self._workers.pop(worker_id, None)

    def workers(self) -> list[dict[str, Any]]:
        with self._lock:
            return [_with_alive(w) for w in self._workers.values()]

    def room_worker(self, room_id: int) -> str | None:
        return self._rooms.get(room_id)

    def forget_room(self, room_id: int) -> None:
        self._rooms.pop(room_id, None)

    def place(self, room_id: int) -> str:
        with self._lock:
            alive = {
                w["worker_id"]: w for w in map(_with_alive, self._workers.values()) if w["alive"]
            }
            current = self._rooms.get(room_id)
            if current is not None and current in alive:
                return current
            if not alive:
                raise RelayUnavailable("no live relay worker")
            chosen = min(alive, key=lambda wid: _load(alive[wid], self._pending.get(wid, 0)))
            self._pending[chosen] = self._pending.get(chosen, 0) + 1
            self._rooms[room_id] = chosen
            return chosen


# Atomically: keep the room where it is if that worker is still the recorded one, else move it.
_PLACE_SCRIPT = """
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[2] then return current end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
return ARGV[1]
"""


class RedisRegistry:
    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = prefix
        self._place_script = self._redis.register_script(_PLACE_SCRIPT)

    def _worker_key(self, worker_id: str) -> str:
        return f"{self._prefix}:worker:{worker_id}"

    def _room_key(self, room_id: int) -> str:
        return f"{self._prefix}:room:{room_id}"

    def heartbeat(self, worker_id: str, info: dict[str, Any]) -> None:
        body = json.dumps({**info, "worker_id": worker_id, "heartbeat": time.time()})
        pipe = self._redis.pipeline()
        pipe.set(self._worker_key(worker_id), body, ex=max(1, int(10 * conf.worker_ttl_s())))
        pipe.hdel(f"{self._prefix}:pending", worker_id)
        pipe.execute()

    def unregister(self, worker_id: str) -> None:
        self._redis.delete(self._worker_key(worker_id))

    def workers(self) -> list[dict[str, Any]]:
        keys = list(self._redis.scan_iter(match=f"{self._prefix}:worker:*", count=500))
        if not keys:
            return []
        return [_with_alive(json.loads(raw)) for raw in self._redis.mget(keys) if raw]

    def room_worker(self, room_id: int) -> str | None:
        raw = self._redis.get(self._room_key(room_id))
        return None if raw is None else _text(raw)

    def forget_room(self, room_id: int) -> None:
        self._redis.delete(self._room_key(room_id))

    def place(self, room_id: int) -> str:
        alive = {w["worker_id"]: w for w in self.workers() if w["alive"]}
        current = self.room_worker(room_id)
        if current in alive:
            assert current is not None
            return current
        if not alive:
            raise RelayUnavailable("no live relay worker")
        pending_raw = self._redis.hgetall(f"{self._prefix}:pending")
        pending = {_text(k): int(v) for k, v in pending_raw.items()}
        chosen = min(alive, key=lambda wid: _load(alive[wid], pending.get(wid, 0)))
        result = self._place_script(
            keys=[self._room_key(room_id), f"{self._prefix}:pending"],
            args=[chosen, current or ""],
        )
        return _text(result)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _with_alive(info: dict[str, Any]) -> dict[str, Any]:
    age = time.time() - float(info.get("heartbeat", 0))
    return {**info, "alive": age <= conf.worker_ttl_s(), "heartbeat_age_s": round(age, 2)}


_memory = MemoryRegistry()


def relay_registry() -> Registry:
    url = conf.redis_url()
    if url:
        return RedisRegistry(url, conf.key_prefix())
    return _memory


def relay_place_room(room_id: int) -> str:
    """The worker_id serving room_id: where it already is if that worker lives, else the
    least-loaded live worker. Raises RelayUnavailable when no worker is alive. Blocking (Redis):
    call it from async code through `sync_to_async`."""
    return relay_registry().place(room_id)
