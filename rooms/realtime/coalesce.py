"""Audience count updates, coalesced: at most one push per room per interval, cluster-wide.

`room_audience_changed(room_id)` only marks the room dirty (cheap, from any thread or process).
Each web process runs a flusher; a flusher *claims* a dirty room only if no push for that room
happened in the last interval (an atomic `SET NX PX` window in Redis), so a room with 5,000
joins a second still gets one `room.audience_count` push per interval, and the last change is
never lost: a room that changed inside the window stays dirty until the window ends.
"""

from __future__ import annotations

import threading
import time

import redis
import redis.asyncio as aioredis

from rooms.realtime import conf

_CLAIM = """
local p, window_ms, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local claimed = {}
for _, room in ipairs(redis.call('SRANDMEMBER', p .. 'dirty', limit)) do
  if redis.call('SET', p .. 'window:' .. room, '1', 'NX', 'PX', window_ms) then
    redis.call('SREM', p .. 'dirty', room)
    local count = redis.call('HGET', p .. 'count', room)
    redis.call('HDEL', p .. 'count', room)
    table.insert(claimed, {room, count or ''})
  end
end
return claimed
"""


def _prefix() -> str:
    return f"{conf.key_prefix()}:rt:audience:"


# embedded mode: the same bookkeeping in this process
_local_lock = threading.Lock()
_local_dirty: dict[int, int | None] = {}
_local_last: dict[int, float] = {}

_sync_client: redis.Redis | None = None


def mark_changed(room_id: int, count: int | None = None) -> None:
    """Note that a room's audience changed; safe from any thread, never blocks on a flush."""
    global _sync_client
    if conf.redis_url():
        if _sync_client is None:
            _sync_client = redis.Redis.from_url(conf.redis_url())
        pipe = _sync_client.pipeline(transaction=False)
        pipe.sadd(_prefix() + "dirty", room_id)
        if count is not None:
            pipe.hset(_prefix() + "count", str(room_id), count)
        pipe.execute()
        return
    with _local_lock:
        previous = _local_dirty.get(room_id)
        _local_dirty[room_id] = count if count is not None else previous


class RedisCoalescer:
    def __init__(self, url: str, *, interval: float) -> None:
        self.interval = interval
        self._redis = aioredis.Redis(
            connection_pool=aioredis.BlockingConnectionPool.from_url(url, max_connections=4)
        )
        self._claim = self._redis.register_script(_CLAIM)

    async def claim(self, limit: int = 100) -> list[tuple[int, int | None]]:
        rows = await self._claim(args=[_prefix(), int(self.interval * 1000), limit])
        return [(int(room), int(count) if count else None) for room, count in rows]

    async def close(self) -> None:
        await self._redis.aclose()


class LocalCoalescer:
    def __init__(self, *, interval: float) -> None:
        self.interval = interval

    async def claim(self, limit: int = 100) -> list[tuple[int, int | None]]:
        now = time.monotonic()
        claimed = []
        with _local_lock:
            for room_id in list(_local_dirty)[:limit]:
                if now - _local_last.get(room_id, -1e9) >= self.interval:
                    claimed.append((room_id, _local_dirty.pop(room_id)))
                    _local_last[room_id] = now
        return claimed

    async def close(self) -> None:
        return None


Coalescer = RedisCoalescer | LocalCoalescer


def make_coalescer(redis_url: str, interval: float | None = None) -> Coalescer:
    seconds = conf.audience_count_interval() if interval is None else interval
    if redis_url:
        return RedisCoalescer(redis_url, interval=seconds)
    return LocalCoalescer(interval=seconds)
