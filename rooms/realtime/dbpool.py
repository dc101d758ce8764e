"""The room sockets' database work on a bounded pool of threads (issue #18).

Channels' `database_sync_to_async` runs every call of a process on one thread (asgiref's
thread-sensitive mode), so a web process answered one `room.join` at a time however many were
waiting: a join storm queued behind the slowest. Here the consumer's calls into the room domain
run on `ROOM_DB_THREADS` threads (4 by default), each with its own database connection, closed
or kept as usual (`close_old_connections` before and after each call, `DATABASE_CONN_MAX_AGE`).

What stays serial is what must: joins to one room still queue on that room's row lock in
PostgreSQL, and one socket's requests are still answered one after another (the consumer awaits
each call before reading the next frame).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.db import DatabaseSyncToAsync

from rooms.realtime import conf

_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=conf.db_threads(), thread_name_prefix="room-db")
    return _pool


def db_call(func: Callable[..., Any]) -> Callable[..., Any]:
    """`database_sync_to_async(func)`, but on the pool instead of the process's one thread."""
    return DatabaseSyncToAsync(func, thread_sensitive=False, executor=_executor())
