"""Where rooms and their members run: relay workers register with a heartbeat and their load; a
room's origin is the least-loaded live worker and stays there while that worker lives; its
members are placed per member (speakers on the origin, listeners on the origin until it is full,
then on edge workers the origin pipes its speakers' packets to: see `media_relay.cascade`).

Redis when REDIS_URL is set (every web and relay process shares it); otherwise one in-process
registry, which is what the embedded mode (`make run`, relay inside the web process) uses. Both
implement the same decisions; each placement is atomic (a Lua script in Redis, a lock in
process), so two web processes placing members of one room at once agree on its origin and never
fill a worker past its capacity.

Keys (prefix `RELAY_REDIS_PREFIX`, default "relay"):
  <prefix>:worker:<worker_id>  JSON {worker_id, channel, heartbeat, rooms, peers, pipe, ...},
                               expires after 10 x the worker TTL (a dead worker stays visible a
                               while); `pipe` is the worker's cascade endpoint ("host:port")
  <prefix>:room:<room_id>      the room's origin worker_id
  <prefix>:members:<room_id>   hash user_id -> worker_id the member is placed on
  <prefix>:pending             hash worker_id -> rooms placed since its last heartbeat
  <prefix>:pending_peers       hash worker_id -> members placed since its last heartbeat
"""

from __future__ import annotations

import functools
import json
import threading
import time
from typing import Any, Protocol

from media_relay import conf


class RelayUnavailable(Exception):
    """No live relay worker to place a room on (or, for a listener, every live worker is full)."""


def worker_channel(worker_id: str) -> str:
    """The channel-layer channel a worker receives signalling on."""
    return f"relay.{worker_id}"


def room_events_group(room_id: int) -> str:
    """The group a worker sends a room's relay events (speaking, ...) to."""
    return f"relay.room.{room_id}"


def _load(info: dict[str, Any], pending_rooms: int, pending_peers: int = 0) -> int:
    """How busy a worker is, to choose a new room's origin: peers, and rooms weighted as 50."""
    peers = int(info.get("peers", 0)) + pending_peers
    return peers + 50 * (int(info.get("rooms", 0)) + pending_rooms)


class Registry(Protocol):
    def heartbeat(self, worker_id: str, info: dict[str, Any]) -> None: ...
    def unregister(self, worker_id: str) -> None: ...
    def workers(self) -> list[dict[str, Any]]: ...
    def workers_alive(self, worker_ids: set[str]) -> dict[str, bool]: ...
    def workers_liveness(self, worker_ids: set[str]) -> dict[str, bool | None]: ...
    def place(self, room_id: int) -> str: ...
    def room_worker(self, room_id: int) -> str | None: ...
    def forget_room(self, room_id: int) -> None: ...
    def place_member(self, room_id: int, user_id: int, publishing: bool, capacity: int) -> str: ...
    def room_workers(self, room_id: int) -> list[str]: ...
    def room_members(self, room_id: int) -> dict[int, str]: ...
    def forget_member(self, room_id: int, user_id: int, worker_id: str) -> None: ...


class MemoryRegistry:
    """The in-process registry. Its `place_member` makes exactly the decisions of the Redis
    script `_PLACE_MEMBER_SCRIPT` (the placement tests run against both)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._workers: dict[str, dict[str, Any]] = {}
        self._rooms: dict[int, str] = {}
        self._members: dict[int, dict[int, str]] = {}
        self._pending: dict[str, int] = {}
        self._pending_peers: dict[str, int] = {}

    def heartbeat(self, worker_id: str, info: dict[str, Any]) -> None:
        with self._lock:
            self._workers[worker_id] = {**info, "worker_id": worker_id, "heartbeat": time.time()}
            self._pending.pop(worker_id, None)
            self._pending_peers.pop(worker_id, None)

    def unregister(self, worker_id: str) -> None:
        with self._lock:
            self._workers.pop(worker_id, None)

    def workers(self) -> list[dict[str, Any]]:
        with self._lock:
            return [_with_alive(w) for w in self._workers.values()]

    def workers_alive(self, worker_ids: set[str]) -> dict[str, bool]:
        """For each of `worker_ids`: whether its heartbeat is fresh."""
        return {w: bool(alive) for w, alive in self.workers_liveness(worker_ids).items()}

    def workers_liveness(self, worker_ids: set[str]) -> dict[str, bool | None]:
        """For each of `worker_ids`: True (fresh heartbeat), False (stale), None (no record)."""
        known = {w["worker_id"]: bool(w["alive"]) for w in self.workers()}
        return {worker_id: known.get(worker_id) for worker_id in worker_ids}

    def room_worker(self, room_id: int) -> str | None:
        return self._rooms.get(room_id)

    def forget_room(self, room_id: int) -> None:
        with self._lock:
            self._rooms.pop(room_id, None)
            self._members.pop(room_id, None)

    def room_members(self, room_id: int) -> dict[int, str]:
        with self._lock:
            return dict(self._members.get(room_id, {}))

    def room_workers(self, room_id: int) -> list[str]:
        with self._lock:
            return _room_workers(self._rooms.get(room_id), self._members.get(room_id, {}).values())

    def forget_member(self, room_id: int, user_id: int, worker_id: str) -> None:
        with self._lock:
            members = self._members.get(room_id, {})
            if members.get(user_id) == worker_id:
                del members[user_id]

    def _alive(self) -> dict[str, dict[str, Any]]:
        workers = sorted(self._workers.values(), key=lambda w: str(w["worker_id"]))
        return {w["worker_id"]: w for w in map(_with_alive, workers) if w["alive"]}

    def _origin(self, room_id: int, alive: dict[str, dict[str, Any]]) -> str:
        """The room's live origin; a room without one (new, or its origin died) starts over on the
        least-loaded live worker with no member placed. Caller holds the lock."""
        current = self._rooms.get(room_id)
        if current is not None and current in alive:
            return current
        if not alive:
            raise RelayUnavailable("no live relay worker")
        chosen = min(
            alive,
            key=lambda w: _load(alive[w], self._pending.get(w, 0), self._pending_peers.get(w, 0)),
        )
        self._pending[chosen] = self._pending.get(chosen, 0) + 1
        self._rooms[room_id] = chosen
        self._members.pop(room_id, None)
        return chosen

    def place(self, room_id: int) -> str:
        with self._lock:
            return self._origin(room_id, self._alive())

    def place_member(self, room_id: int, user_id: int, publishing: bool, capacity: int) -> str:
        with self._lock:
            alive = self._alive()
            origin = self._origin(room_id, alive)
            members = self._members.setdefault(room_id, {})
            current = members.get(user_id)
            if current is not None and current in alive and (current == origin or not publishing):
                return current

            def peers(w: str) -> int:
                return int(alive[w].get("peers", 0)) + self._pending_peers.get(w, 0)

            def has_room(w: str) -> bool:
                return peers(w) < _capacity(alive[w], capacity)

            if publishing or has_room(origin):
                chosen = origin
            else:
                edges = sorted(
                    {w for w in members.values() if w != origin and w in alive and has_room(w)}
                )
                if not edges:
                    edges = [w for w in alive if w != origin and has_room(w)]
                if not edges:
                    raise RelayUnavailable("every relay worker is full")
                chosen = min(edges, key=peers)
            members[user_id] = chosen
            self._pending_peers[chosen] = self._pending_peers.get(chosen, 0) + 1
            return chosen


# Atomically: keep the room where it is if that worker is still the recorded one, else move it
# (and forget where its members were: they are all re-placed).
_PLACE_SCRIPT = """
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[2] then return current end
if current then redis.call('DEL', KEYS[3]) end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
return ARGV[1]
"""

# One member's placement, atomically (the same decisions as MemoryRegistry.place_member).
# KEYS: origin, members hash, pending rooms hash, pending peers hash.
# ARGV: user_id, publishing ("1"/"0"), then per live worker (sorted by id):
#       worker_id, peers, rooms (from its last heartbeat), capacity.
# Returns {"ok", worker_id} or {"unavailable", reason}.
_PLACE_MEMBER_SCRIPT = """
local user, publishing = ARGV[1], ARGV[2] == '1'
local alive, peers, rooms, capacity = {}, {}, {}, {}
for i = 3, #ARGV, 4 do
  local w = ARGV[i]
  alive[#alive + 1] = w
  peers[w] = tonumber(ARGV[i + 1])
  rooms[w] = tonumber(ARGV[i + 2])
  capacity[w] = tonumber(ARGV[i + 3])
end
local function pending(key, w) return tonumber(redis.call('HGET', key, w) or '0') end
local function on(w) return peers[w] + pending(KEYS[4], w) end
local function load(w) return on(w) + 50 * (rooms[w] + pending(KEYS[3], w)) end
local function least(candidates, score)
  local best, best_score = nil, nil
  for _, w in ipairs(candidates) do
    local s = score(w)
    if best == nil or s < best_score then best, best_score = w, s end
  end
  return best
end
local origin = redis.call('GET', KEYS[1])
if not origin or peers[origin] == nil then
  if #alive == 0 then return {'unavailable', 'no live relay worker'} end
  origin = least(alive, load)
  redis.call('SET', KEYS[1], origin)
  redis.call('DEL', KEYS[2])
  redis.call('HINCRBY', KEYS[3], origin, 1)
end
local current = redis.call('HGET', KEYS[2], user)
if current and peers[current] ~= nil and (current == origin or not publishing) then
  return {'ok', current}
end
local chosen
if publishing or on(origin) < capacity[origin] then
  chosen = origin
else
  local edges, seen = {}, {}
  for _, w in ipairs(redis.call('HVALS', KEYS[2])) do
    if w ~= origin and peers[w] ~= nil and not seen[w] and on(w) < capacity[w] then
      seen[w] = true
      edges[#edges + 1] = w
    end
  end
  table.sort(edges)
  if #edges == 0 then
    for _, w in ipairs(alive) do
      if w ~= origin and on(w) < capacity[w] then edges[#edges + 1] = w end
    end
  end
  if #edges == 0 then return {'unavailable', 'every relay worker is full'} end
  chosen = least(edges, on)
end
redis.call('HSET', KEYS[2], user, chosen)
redis.call('HINCRBY', KEYS[4], chosen, 1)
return {'ok', chosen}
"""

_FORGET_MEMBER_SCRIPT = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
"""


class RedisRegistry:
    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = prefix
        self._place_script = self._redis.register_script(_PLACE_SCRIPT)
        self._place_member_script = self._redis.register_script(_PLACE_MEMBER_SCRIPT)
        self._forget_member_script = self._redis.register_script(_FORGET_MEMBER_SCRIPT)

    def _worker_key(self, worker_id: str) -> str:
        return f"{self._prefix}:worker:{worker_id}"

    def _room_key(self, room_id: int) -> str:
        return f"{self._prefix}:room:{room_id}"

    def _members_key(self, room_id: int) -> str:
        return f"{self._prefix}:members:{room_id}"

    def heartbeat(self, worker_id: str, info: dict[str, Any]) -> None:
        body = json.dumps({**info, "worker_id": worker_id, "heartbeat": time.time()})
        pipe = self._redis.pipeline()
        pipe.set(self._worker_key(worker_id), body, ex=max(1, int(10 * conf.worker_ttl_s())))
        pipe.hdel(f"{self._prefix}:pending", worker_id)
        pipe.hdel(f"{self._prefix}:pending_peers", worker_id)
        pipe.execute()

    def unregister(self, worker_id: str) -> None:
        self._redis.delete(self._worker_key(worker_id))

    def workers(self) -> list[dict[str, Any]]:
        keys = list(self._redis.scan_iter(match=f"{self._prefix}:worker:*", count=500))
        if not keys:
            return []
        return [_with_alive(json.loads(raw)) for raw in self._redis.mget(keys) if raw]

    def workers_alive(self, worker_ids: set[str]) -> dict[str, bool]:
        """For each of `worker_ids`: whether its heartbeat is fresh. One MGET of just these
        workers' keys (every web process with WebRTC sockets asks this every few seconds), not
        the SCAN of `workers`."""
        return {w: bool(alive) for w, alive in self.workers_liveness(worker_ids).items()}

    def workers_liveness(self, worker_ids: set[str]) -> dict[str, bool | None]:
        """`workers_alive`, telling a stale heartbeat (False) from no record at all (None: the
        worker unregistered, its key expired, or Redis restarted empty)."""
        if not worker_ids:
            return {}
        ordered = sorted(worker_ids)
        raw = self._redis.mget([self._worker_key(w) for w in ordered])
        return {
            worker_id: None if body is None else bool(_with_alive(json.loads(body))["alive"])
            for worker_id, body in zip(ordered, raw, strict=True)
        }

    def room_worker(self, room_id: int) -> str | None:
        raw = self._redis.get(self._room_key(room_id))
        return None if raw is None else _text(raw)

    def forget_room(self, room_id: int) -> None:
        self._redis.delete(self._room_key(room_id), self._members_key(room_id))

    def room_members(self, room_id: int) -> dict[int, str]:
        raw = self._redis.hgetall(self._members_key(room_id))
        return {int(_text(k)): _text(v) for k, v in raw.items()}

    def room_workers(self, room_id: int) -> list[str]:
        pipe = self._redis.pipeline(transaction=True)
        pipe.get(self._room_key(room_id))
        pipe.hvals(self._members_key(room_id))
        origin, workers = pipe.execute()
        return _room_workers(None if origin is None else _text(origin), map(_text, workers))

    def forget_member(self, room_id: int, user_id: int, worker_id: str) -> None:
        self._forget_member_script(keys=[self._members_key(room_id)], args=[user_id, worker_id])

    def place(self, room_id: int) -> str:
        alive = {w["worker_id"]: w for w in self.workers() if w["alive"]}
        current = self.room_worker(room_id)
        if current in alive:
            assert current is not None
            return current
        if not alive:
            raise RelayUnavailable("no live relay worker")
        pending = self._pending(f"{self._prefix}:pending")
        pending_peers = self._pending(f"{self._prefix}:pending_peers")
        chosen = min(
            sorted(alive),
            key=lambda w: _load(alive[w], pending.get(w, 0), pending_peers.get(w, 0)),
        )
        result = self._place_script(
            keys=[self._room_key(room_id), f"{self._prefix}:pending", self._members_key(room_id)],
            args=[chosen, current or ""],
        )
        return _text(result)

    def place_member(self, room_id: int, user_id: int, publishing: bool, capacity: int) -> str:
        alive = sorted((w for w in self.workers() if w["alive"]), key=lambda w: str(w["worker_id"]))
        args: list[Any] = [user_id, "1" if publishing else "0"]
        for w in alive:
            args += [
                w["worker_id"],
                int(w.get("peers", 0)),
                int(w.get("rooms", 0)),
                _capacity(w, capacity),
            ]
        status, value = self._place_member_script(
            keys=[
                self._room_key(room_id),
                self._members_key(room_id),
                f"{self._prefix}:pending",
                f"{self._prefix}:pending_peers",
            ],
            args=args,
        )
        if _text(status) != "ok":
            raise RelayUnavailable(_text(value))
        return _text(value)

    def _pending(self, key: str) -> dict[str, int]:
        return {_text(k): int(v) for k, v in self._redis.hgetall(key).items()}


def _capacity(info: dict[str, Any], default: int) -> int:
    """The peers a worker takes: what it announces (`max_peers`), else the caller's default."""
    return int(info.get("max_peers") or default)


def _room_workers(origin: str | None, members: Any) -> list[str]:
    """Origin first, then the room's edges (sorted)."""
    edges = sorted({str(w) for w in members} - {origin})
    return ([origin] if origin is not None else []) + edges


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _with_alive(info: dict[str, Any]) -> dict[str, Any]:
    age = time.time() - float(info.get("heartbeat", 0))
    return {**info, "alive": age <= conf.worker_ttl_s(), "heartbeat_age_s": round(age, 2)}


_memory = MemoryRegistry()


def relay_registry() -> Registry:
    url = conf.redis_url()
    if url:
        return _redis_registry(url, conf.key_prefix())
    return _memory


@functools.lru_cache(maxsize=8)
def _redis_registry(url: str, prefix: str) -> RedisRegistry:
    """One client (and connection pool, thread-safe) per Redis URL, not one per placement."""
    return RedisRegistry(url, prefix)


def relay_place_room(room_id: int) -> str:
    """The worker_id serving room_id: where it already is if that worker lives, else the
    least-loaded live worker. Raises RelayUnavailable when no worker is alive. Blocking (Redis):
    call it from async code through `sync_to_async`."""
    return relay_registry().place(room_id)


def relay_place_member(room_id: int, user_id: int, publishing: bool) -> str:
    """The worker_id a member's peer connection goes to.

    Speakers (`publishing=True`) always go to the room's origin. Listeners go to the origin while
    it has fewer peers than its capacity (the `max_peers` each worker announces from its
    `RELAY_WORKER_MAX_PEERS`; this process's setting for a worker that announces none), then to
    the room's existing edges with room to spare, then to the least-loaded other live worker (a
    new edge). A member stays where it is
    while that worker lives, except a listener who starts publishing: it moves to the origin. If
    the origin died, the room starts over on a live worker and every member is re-placed.

    When the answer differs from the member's previous worker (`relay_room_members`), the caller
    closes the old connection (`relay.remove` to the old worker, if it lives) and has the client
    re-offer. Raises RelayUnavailable when no worker lives, or when a listener finds every live
    worker full. Blocking (Redis): call it from async code through `sync_to_async`."""
    return relay_registry().place_member(room_id, user_id, publishing, conf.worker_max_peers())


def relay_room_workers(room_id: int) -> list[str]:
    """Every worker serving the room, origin first: where room-wide commands (room_state, mute,
    move_to_audience, remove, end) go. Includes workers whose heartbeat stopped (a message to
    them is harmless); empty for a room that was never placed or has ended."""
    return relay_registry().room_workers(room_id)


def relay_room_members(room_id: int) -> dict[int, str]:
    """user_id -> worker_id for every member placed in the room."""
    return relay_registry().room_members(room_id)


def relay_room_members_to_replace(room_id: int) -> list[int]:
    """Members whose connection is gone with a dead worker and who must re-offer (push them
    `rtc.renegotiate` with reason `relay_moved`): everyone if the origin died (the room moves),
    otherwise the listeners of dead edges."""
    registry = relay_registry()
    origin = registry.room_worker(room_id)
    if origin is None:
        return []
    alive = {w["worker_id"] for w in registry.workers() if w["alive"]}
    members = registry.room_members(room_id)
    if origin not in alive:
        return sorted(members)
    return sorted(user_id for user_id, worker in members.items() if worker not in alive)


def relay_forget_member(room_id: int, user_id: int, worker_id: str) -> None:
    """The member's connection on worker_id is gone (left, removed, failed). A no-op if the
    member was meanwhile placed elsewhere."""
    relay_registry().forget_member(room_id, user_id, worker_id)
