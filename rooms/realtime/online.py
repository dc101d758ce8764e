"""Who has the app open: a member is *online* while at least one of their `/ws/` sockets is open
(the web shell keeps one on every page, the room page its own), and for a short grace after the
last one closed, so moving from one page to the next does not make them blink off and on.

This sits beside the room presence (presence.py) rather than in `accounts`: it is fed by the
socket layer only, shares its Redis, key prefix and heartbeat loop, and costs no database query
(a socket connect, a heartbeat and a close are one Redis script call each, or a dict update).
Readers (the `me/following/online/` API, a sync view) ask `online_user_ids()` which of a list of
people are online; who may see whom is the caller's business (follows, blocks).

Redis layout (`<prefix>:rt:online:` + ...), changed only inside Lua scripts with Redis's clock:

  s:<user>  ZSET  socket id -> heartbeat deadline (expires on its own if every process died)
  until     ZSET  user -> online until (server time); +heartbeat TTL while a socket is open,
                   now + grace when the last socket closes

A person is online while `until[user]` is in the future. Each process refreshes its open
sockets every `REALTIME_HEARTBEAT_SECONDS` (the hub's heartbeat); the sockets of a process that
died stop being refreshed, and their owner drops off after the heartbeat TTL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings

from rooms.realtime import conf

_NOW = """
local p = ARGV[1]
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
"""

_CONNECT = (
    _NOW
    + """
local user, sid, ttl, most = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local t = now()
local deadline = t + ttl
local s = p .. 's:' .. user
redis.call('ZREMRANGEBYSCORE', s, '-inf', t)
if not redis.call('ZSCORE', s, sid) and redis.call('ZCARD', s) >= most then
  return 0
end
redis.call('ZADD', s, deadline, sid)
redis.call('PEXPIRE', s, math.ceil(ttl * 2000))
redis.call('ZADD', p .. 'until', 'GT', deadline, user)
return 1
"""
)

_DISCONNECT = (
    _NOW
    + """
local user, sid, grace = ARGV[2], ARGV[3], tonumber(ARGV[4])
local t = now()
local s = p .. 's:' .. user
redis.call('ZREM', s, sid)
redis.call('ZREMRANGEBYSCORE', s, '-inf', t)
local left = redis.call('ZCARD', s)
if left == 0 then
  redis.call('ZADD', p .. 'until', t + grace, user)
end
return left
"""
)

_HEARTBEAT = (
    _NOW
    + """
local ttl = tonumber(ARGV[2])
local t = now()
local deadline = t + ttl
local refreshed = 0
for i = 3, #ARGV do
  local user, sid = string.match(ARGV[i], '^([^|]+)|(.+)$')
  local s = p .. 's:' .. user
  if redis.call('ZSCORE', s, sid) then
    redis.call('ZADD', s, deadline, sid)
    redis.call('PEXPIRE', s, math.ceil(ttl * 2000))
    redis.call('ZADD', p .. 'until', 'GT', deadline, user)
    refreshed = refreshed + 1
  end
end
redis.call('ZREMRANGEBYSCORE', p .. 'until', '-inf', t)
return refreshed
"""
)

_ONLINE = (
    _NOW
    + """
local t = now()
local online = {}
for i = 2, #ARGV do
  local seen = redis.call('ZSCORE', p .. 'until', ARGV[i])
  if seen and tonumber(seen) > t then
    table.insert(online, ARGV[i])
  end
end
return online
"""
)

# How many users one script call looks at: keeps each call short for Redis's single thread.
_CHUNK = 1000


def grace_seconds() -> float:
    """How long a person still counts as online after their last socket closed."""
    return float(getattr(settings, "REALTIME_ONLINE_GRACE_SECONDS", 30.0))


def _prefix(prefix: str | None) -> str:
    return f"{prefix or conf.key_prefix()}:rt:online:"


class RedisOnline:
    """The async side, used by the socket layer of every web process."""

    def __init__(
        self, url: str, *, ttl: float, grace: float | None = None, prefix: str | None = None
    ) -> None:
        self.ttl = ttl
        self._grace = grace
        self.prefix = _prefix(prefix)
        self._redis = aioredis.Redis(
            connection_pool=aioredis.BlockingConnectionPool.from_url(url, max_connections=8)
        )
        self._connect = self._redis.register_script(_CONNECT)
        self._disconnect = self._redis.register_script(_DISCONNECT)
        self._heartbeat = self._redis.register_script(_HEARTBEAT)
        self._online = self._redis.register_script(_ONLINE)

    @property
    def grace(self) -> float:
        return grace_seconds() if self._grace is None else self._grace

    async def close(self) -> None:
        await self._redis.aclose()

    async def connect(self, user_id: int, sid: str) -> bool:
        """Count the socket in; False (and not counted) if the person already holds
        REALTIME_MAX_SOCKETS_PER_USER open sockets, on any process."""
        most = conf.max_sockets_per_user()
        return bool(await self._connect(args=[self.prefix, user_id, sid, self.ttl, most]))

    async def disconnect(self, user_id: int, sid: str) -> int:
        """Returns how many of the person's sockets are still open (on any process)."""
        return int(await self._disconnect(args=[self.prefix, user_id, sid, self.grace]))

    async def heartbeat(self, entries: Iterable[tuple[int, str]]) -> None:
        members = [f"{user}|{sid}" for user, sid in entries]
        for start in range(0, len(members), _CHUNK):
            await self._heartbeat(args=[self.prefix, self.ttl, *members[start : start + _CHUNK]])

    async def online(self, user_ids: Iterable[int]) -> set[int]:
        ids = list(user_ids)
        found: set[int] = set()
        for start in range(0, len(ids), _CHUNK):
            rows = await self._online(args=[self.prefix, *ids[start : start + _CHUNK]])
            found.update(int(row) for row in rows)
        return found


class LocalOnline:
    """The same rules in process memory, for embedded mode (one process, no Redis). Read from
    request threads and written from the event loop, hence the lock."""

    def __init__(self, *, ttl: float, grace: float | None = None) -> None:
        self.ttl = ttl
        self._grace = grace
        self._lock = threading.Lock()
        self._sockets: dict[int, dict[str, float]] = {}
        self._until: dict[int, float] = {}

    @property
    def grace(self) -> float:
        return grace_seconds() if self._grace is None else self._grace

    async def close(self) -> None:
        return None

    async def connect(self, user_id: int, sid: str) -> bool:
        now = time.monotonic()
        deadline = now + self.ttl
        with self._lock:
            sockets = self._sockets.setdefault(user_id, {})
            for stale in [key for key, until in sockets.items() if until <= now]:
                del sockets[stale]
            if sid not in sockets and len(sockets) >= conf.max_sockets_per_user():
                return False
            sockets[sid] = deadline
            self._until[user_id] = max(self._until.get(user_id, 0.0), deadline)
            return True

    async def disconnect(self, user_id: int, sid: str) -> int:
        now = time.monotonic()
        with self._lock:
            sockets = self._sockets.get(user_id, {})
            sockets.pop(sid, None)
            for stale in [key for key, deadline in sockets.items() if deadline <= now]:
                del sockets[stale]
            if sockets:
                return len(sockets)
            self._sockets.pop(user_id, None)
            self._until[user_id] = now + self.grace
            return 0

    async def heartbeat(self, entries: Iterable[tuple[int, str]]) -> None:
        now = time.monotonic()
        deadline = now + self.ttl
        with self._lock:
            for user_id, sid in entries:
                sockets = self._sockets.get(user_id)
                if sockets is not None and sid in sockets:
                    sockets[sid] = deadline
                    self._until[user_id] = max(self._until.get(user_id, 0.0), deadline)
            for gone in [user for user, until in self._until.items() if until <= now]:
                del self._until[gone]

    def online_now(self, user_ids: Iterable[int]) -> set[int]:
        now = time.monotonic()
        with self._lock:
            return {user for user in user_ids if self._until.get(user, 0.0) > now}

    async def online(self, user_ids: Iterable[int]) -> set[int]:
        return self.online_now(user_ids)


Online = RedisOnline | LocalOnline

# Embedded mode: one store per process, shared by the hub(s) and the request threads.
_local: LocalOnline | None = None
_local_lock = threading.Lock()


def local_online() -> LocalOnline:
    global _local
    with _local_lock:
        if _local is None:
            _local = LocalOnline(ttl=conf.heartbeat_ttl_seconds())
        return _local


def make_online(redis_url: str) -> Online:
    if redis_url:
        return RedisOnline(redis_url, ttl=conf.heartbeat_ttl_seconds())
    return local_online()


# --- the sync reader (API views) ------------------------------------------------------------

_sync: dict[str, tuple[redis.Redis, Any]] = {}
_sync_lock = threading.Lock()


def _sync_script(url: str) -> Any:
    with _sync_lock:
        entry = _sync.get(url)
        if entry is None:
            client = redis.Redis.from_url(url)
            entry = _sync[url] = (client, client.register_script(_ONLINE))
        return entry[1]


def online_user_ids(user_ids: Iterable[int]) -> set[int]:
    """Which of `user_ids` are online now. One Redis call per thousand people, no SQL."""
    ids = list(dict.fromkeys(int(user_id) for user_id in user_ids))
    if not ids:
        return set()
    url = conf.redis_url()
    if not url:
        return local_online().online_now(ids)
    script = _sync_script(url)
    prefix = _prefix(None)
    found: set[int] = set()
    for start in range(0, len(ids), _CHUNK):
        rows = script(args=[prefix, *ids[start : start + _CHUNK]])
        found.update(int(row) for row in rows)
    return found
