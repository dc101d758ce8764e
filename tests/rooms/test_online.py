"""Online presence (rooms/realtime/online.py): online while a socket is open, then for a grace
period after the last one closed; Redis (several processes) and in-memory (embedded mode)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from django.conf import settings

from rooms.realtime.online import LocalOnline, Online, RedisOnline


async def eventually(check: Callable[[], object], timeout: float = 5.0) -> None:
    """Poll an async condition (a loaded machine may be slow)."""
    deadline = time.monotonic() + timeout
    while True:
        if await check():  # type: ignore[misc]
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., Online]]:
    """Builds stores of the kind under test; Redis stores share one fresh key prefix, as the
    processes of one deployment do."""
    prefix = f"rt-test-{uuid.uuid4().hex[:8]}"
    made: list[Online] = []
    shared_local: dict[str, LocalOnline] = {}

    def build(*, grace: float, ttl: float = 5.0) -> Online:
        store: Online
        if request.param == "redis":
            store = RedisOnline(settings.REDIS_URL, ttl=ttl, grace=grace, prefix=prefix)
        else:  # one process: every hub of it shares the same store
            store = shared_local.setdefault("store", LocalOnline(ttl=ttl, grace=grace))
        made.append(store)
        return store

    yield build
    for store in made:
        await store.close()


async def test_online_while_a_socket_is_open_and_for_the_grace_after(make) -> None:  # type: ignore[no-untyped-def]
    online = make(grace=0.3)
    await online.connect(1, "tab")
    assert await online.online([1, 2]) == {1}
    assert await online.disconnect(1, "tab") == 0
    assert await online.online([1]) == {1}  # a page navigation does not flap
    await eventually(lambda: _is_offline(online, 1), timeout=5)


async def _is_offline(online: Online, user_id: int) -> bool:
    return user_id not in await online.online([user_id])


async def test_back_within_the_grace_stays_online(make) -> None:  # type: ignore[no-untyped-def]
    online = make(grace=0.3)
    await online.connect(1, "page-1")
    await online.disconnect(1, "page-1")
    await online.connect(1, "page-2")
    await asyncio.sleep(0.5)
    assert await online.online([1]) == {1}


async def test_second_socket_keeps_the_person_online(make) -> None:  # type: ignore[no-untyped-def]
    phone, laptop = make(grace=0.1), make(grace=0.1)  # two processes
    await phone.connect(1, "phone")
    await laptop.connect(1, "laptop")
    assert await phone.disconnect(1, "phone") == 1
    await asyncio.sleep(0.3)
    assert await laptop.online([1]) == {1}
    assert await laptop.disconnect(1, "laptop") == 0
    await eventually(lambda: _is_offline(phone, 1))


async def test_sockets_of_a_process_that_stopped_heartbeating_expire(make) -> None:  # type: ignore[no-untyped-def]
    alive, dead = make(grace=5, ttl=0.3), make(grace=5, ttl=0.3)
    await alive.connect(1, "a")
    await dead.connect(2, "b")
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:  # only `alive` keeps refreshing its socket
        await alive.heartbeat([(1, "a")])
        await asyncio.sleep(0.05)
    assert await alive.online([1, 2]) == {1}


async def test_heartbeat_does_not_revive_a_closed_socket(make) -> None:  # type: ignore[no-untyped-def]
    online = make(grace=0.1, ttl=5)
    await online.connect(1, "tab")
    await online.disconnect(1, "tab")
    await online.heartbeat([(1, "tab")])  # a heartbeat racing the close
    await eventually(lambda: _is_offline(online, 1))
