"""Who is connected to which room, across every web process, with a grace period.

A member is *present* in a room while at least one of their sockets is attached to it. When the
last one goes away (tab closed, network lost, process crashed) a grace deadline starts; a socket
that attaches again before it keeps the member's place and role (the domain's `room_join` is
idempotent, and `room_leave` was never called). When the deadline passes, exactly one process
claims the member and calls `room_leave`, however many processes sweep.

Redis layout (`<prefix>:rt:presence:` + ...), all changed only inside Lua scripts, so each step
is atomic and uses Redis's clock (web processes' clocks may disagree):

  sockets         ZSET  "<room>|<user>|<socket id>" -> heartbeat deadline (server time)
  ru:<room>:<user> SET  socket ids of that member in that room
  grace           ZSET  "<room>|<user>" -> grace deadline

Each process refreshes its sockets' deadlines every `heartbeat_seconds`; the sockets of a
process that died stop being refreshed, expire, and go through the same grace period.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable
from typing import Any

import redis
import redis.asyncio as aioredis

from rooms.realtime import conf

_LUA_HELPERS = """
local p = ARGV[1]
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
"""

_ATTACH = (
    _LUA_HELPERS
    + """
local room, user, sid, ttl = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
redis.call('ZADD', p .. 'sockets', now() + ttl, room .. '|' .. user .. '|' .. sid)
redis.call('SADD', p .. 'ru:' .. room .. ':' .. user, sid)
return redis.call('ZREM', p .. 'grace', room .. '|' .. user)
"""
)

_DETACH = (
    _LUA_HELPERS
    + """
local room, user, sid, grace = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local ru = p .. 'ru:' .. room .. ':' .. user
redis.call('ZREM', p .. 'sockets', room .. '|' .. user .. '|' .. sid)
redis.call('SREM', ru, sid)
local left = redis.call('SCARD', ru)
if left == 0 and grace >= 0 then
  redis.call('ZADD', p .. 'grace', 'NX', now() + grace, room .. '|' .. user)
end
return left
"""
)

_HEARTBEAT = (
    _LUA_HELPERS
    + """
local deadline = now() + tonumber(ARGV[2])
for i = 3, #ARGV do
  redis.call('ZADD', p .. 'sockets', 'XX', deadline, ARGV[i])
end
return #ARGV - 2
"""
)

_SWEEP = (
    _LUA_HELPERS
    + """
local limit, grace = tonumber(ARGV[2]), tonumber(ARGV[3])
local t = now()
local expired = redis.call('ZRANGEBYSCORE', p .. 'sockets', '-inf', t, 'LIMIT', 0, limit)
for _, member in ipairs(expired) do
  local room, user, sid = string.match(member, '^([^|]+)|([^|]+)|(.+)$')
  redis.call('ZREM', p .. 'sockets', member)
  local ru = p .. 'ru:' .. room .. ':' .. user
  redis.call('SREM', ru, sid)
  if redis.call('SCARD', ru) == 0 then
    redis.call('ZADD', p .. 'grace', 'NX', t + grace, room .. '|' .. user)
  end
end
local claimed = {}
local due = redis.call('ZRANGEBYSCORE', p .. 'grace', '-inf', t, 'LIMIT', 0, limit)
for _, member in ipairs(due) do
  redis.call('ZREM', p .. 'grace', member)
  local room, user = string.match(member, '^([^|]+)|(.+)$')
  if redis.call('SCARD', p .. 'ru:' .. room .. ':' .. user) == 0 then
    table.insert(claimed, member)
  end
end
return claimed
"""
)


_EXPECT = (
    _LUA_HELPERS
    + """
local room, user, grace = ARGV[2], ARGV[3], tonumber(ARGV[4])
if redis.call('SCARD', p .. 'ru:' .. room .. ':' .. user) > 0 then
  return 0
end
return redis.call('ZADD', p .. 'grace', 'NX', now() + grace, room .. '|' .. user)
"""
)


def _pair(member: bytes | str) -> tuple[int, int]:
    text = member.decode() if isinstance(member, bytes) else member
    room, user = text.split("|", 1)
    return int(room), int(user)


class RedisPresence:
    def __init__(self, url: str, *, grace: float, ttl: float, prefix: str | None = None) -> None:
        self.grace = grace
        self.ttl = ttl
        self.prefix = f"{prefix or conf.key_prefix()}:rt:presence:"
        # A bounded pool that waits: a crowd of joins must queue for a connection, not fail.
        self._redis = aioredis.Redis(
            connection_pool=aioredis.BlockingConnectionPool.from_url(url, max_connections=16)
        )
        self._attach = self._redis.register_script(_ATTACH)
        self._detach = self._redis.register_script(_DETACH)
        self._heartbeat = self._redis.register_script(_HEARTBEAT)
        self._sweep = self._redis.register_script(_SWEEP)

    async def close(self) -> None:
        await self._redis.aclose()

    async def attach(self, room_id: int, user_id: int, sid: str) -> None:
        await self._attach(args=[self.prefix, room_id, user_id, sid, self.ttl])

    async def detach(self, room_id: int, user_id: int, sid: str, *, grace: bool) -> int:
        """Returns how many of the member's sockets are still attached to the room."""
        seconds = self.grace if grace else -1
        return int(await self._detach(args=[self.prefix, room_id, user_id, sid, seconds]))

    async def heartbeat(self, entries: Iterable[tuple[int, int, str]]) -> None:
        members = [f"{room}|{user}|{sid}" for room, user, sid in entries]
        for start in range(0, len(members), 1000):
            await self._heartbeat(args=[self.prefix, self.ttl, *members[start : start + 1000]])

    async def sweep(self, limit: int = 200) -> list[tuple[int, int]]:
        claimed = await self._sweep(args=[self.prefix, limit, self.grace])
        return [_pair(member) for member in claimed]

    async def is_present(self, room_id: int, user_id: int) -> bool:
        return bool(await self._redis.scard(f"{self.prefix}ru:{room_id}:{user_id}"))


class LocalPresence:
    """The same rules in process memory, for embedded mode (one process, no Redis)."""

    def __init__(self, *, grace: float, ttl: float) -> None:
        self.grace = grace
        self.ttl = ttl
        self._sockets: dict[tuple[int, int, str], float] = {}
        self._by_member: dict[tuple[int, int], set[str]] = {}
        self._grace: dict[tuple[int, int], float] = {}

    async def close(self) -> None:
        return None

    async def attach(self, room_id: int, user_id: int, sid: str) -> None:
        self._sockets[(room_id, user_id, sid)] = time.monotonic() + self.ttl
        self._by_member.setdefault((room_id, user_id), set()).add(sid)
        self._grace.pop((room_id, user_id), None)

    def _remove(self, room_id: int, user_id: int, sid: str, grace: float | None) -> int:
        self._sockets.pop((room_id, user_id, sid), None)
        sids = self._by_member.get((room_id, user_id), set())
        sids.discard(sid)
        if not sids:
            self._by_member.pop((room_id, user_id), None)
            if grace is not None:
                self._grace.setdefault((room_id, user_id), time.monotonic() + grace)
        return len(sids)

    async def detach(self, room_id: int, user_id: int, sid: str, *, grace: bool) -> int:
        return self._remove(room_id, user_id, sid, self.grace if grace else None)

    async def heartbeat(self, entries: Iterable[tuple[int, int, str]]) -> None:
        deadline = time.monotonic() + self.ttl
        for entry in entries:
            if entry in self._sockets:
                self._sockets[entry] = deadline

    async def sweep(self, limit: int = 200) -> list[tuple[int, int]]:
        now = time.monotonic()
        for entry in [entry for entry, deadline in self._sockets.items() if deadline <= now]:
            self._remove(*entry, grace=self.grace)
        claimed = []
        for member in [member for member, deadline in self._grace.items() if deadline <= now]:
            del self._grace[member]
            if member not in self._by_member:
                claimed.append(member)
        return claimed

    async def is_present(self, room_id: int, user_id: int) -> bool:
        return (room_id, user_id) in self._by_member

    def expect(self, room_id: int, user_id: int) -> None:
        """Run on the hub's loop: see `presence_expect_socket`."""
        if (room_id, user_id) not in self._by_member:
            self._grace.setdefault((room_id, user_id), time.monotonic() + self.grace)


Presence = RedisPresence | LocalPresence


def make_presence(redis_url: str, **overrides: Any) -> Presence:
    grace = overrides.get("grace", conf.grace_seconds())
    ttl = overrides.get("ttl", conf.heartbeat_ttl_seconds())
    if redis_url:
        return RedisPresence(redis_url, grace=grace, ttl=ttl)
    return LocalPresence(grace=grace, ttl=ttl)


_sync_scripts: dict[str, Any] = {}
_sync_lock = threading.Lock()


def redis_expect_sync(url: str, room_id: int, user_id: int) -> None:
    """Sync (a request thread), in Redis: start the member's grace period unless a socket of
    theirs is attached to the room (fanout.presence_expect_socket)."""
    with _sync_lock:
        script = _sync_scripts.get(url)
        if script is None:
            script = _sync_scripts[url] = redis.Redis.from_url(url).register_script(_EXPECT)
    prefix = f"{conf.key_prefix()}:rt:presence:"
    script(args=[prefix, room_id, user_id, conf.grace_seconds()])


async def run_every(seconds: float, step: Any) -> None:
    """Call `step()` forever, `seconds` apart; a failing step is logged, never fatal."""
    import logging

    log = logging.getLogger(__name__)
    while True:
        await asyncio.sleep(seconds)
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("realtime: periodic task %s failed", getattr(step, "__name__", step))
