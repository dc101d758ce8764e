"""Presence rules, straight on the stores: Redis (several processes) and in-memory (embedded)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from django.conf import settings

from rooms.realtime.presence import LocalPresence, RedisPresence


def redis_presence(**kwargs: float) -> RedisPresence:
    # A fresh key prefix per test: nothing left over from another test can be claimed.
    return RedisPresence(settings.REDIS_URL, prefix=f"rt-test-{uuid.uuid4().hex[:8]}", **kwargs)


async def test_local_presence_claims_after_grace_unless_back() -> None:
    presence = LocalPresence(grace=0.1, ttl=5)
    await presence.attach(1, 10, "a")
    await presence.attach(1, 11, "b")
    await presence.detach(1, 10, "a", grace=True)
    await presence.detach(1, 11, "b", grace=True)
    await presence.attach(1, 11, "c")  # back within the grace period
    assert await presence.sweep() == []
    await asyncio.sleep(0.15)
    assert await presence.sweep() == [(1, 10)]
    assert await presence.sweep() == []


async def test_local_presence_explicit_leave_has_no_grace() -> None:
    presence = LocalPresence(grace=0.05, ttl=5)
    await presence.attach(1, 10, "a")
    await presence.detach(1, 10, "a", grace=False)
    await asyncio.sleep(0.1)
    assert await presence.sweep() == []


@pytest.mark.redis
async def test_redis_presence_one_claim_however_many_processes_sweep() -> None:
    prefix = f"rt-test-{uuid.uuid4().hex[:8]}"
    processes = [
        RedisPresence(settings.REDIS_URL, grace=0.1, ttl=5, prefix=prefix) for _ in range(4)
    ]
    try:
        for user in range(20):
            await processes[user % 4].attach(3, user, f"s{user}")
            await processes[user % 4].detach(3, user, f"s{user}", grace=True)
        await asyncio.sleep(0.15)
        claims = await asyncio.gather(*(p.sweep() for p in processes for _ in range(3)))
        claimed = [pair for batch in claims for pair in batch]
        assert sorted(claimed) == [(3, user) for user in range(20)]
    finally:
        for presence in processes:
            await presence.close()


@pytest.mark.redis
async def test_redis_presence_second_socket_keeps_the_member() -> None:
    presence = redis_presence(grace=0.05, ttl=5)
    try:
        await presence.attach(3, 1, "phone")
        await presence.attach(3, 1, "laptop")
        assert await presence.detach(3, 1, "phone", grace=True) == 1
        await asyncio.sleep(0.1)
        assert await presence.sweep() == []
        assert await presence.is_present(3, 1)
    finally:
        await presence.close()


@pytest.mark.redis
async def test_redis_presence_unrefreshed_socket_expires_then_grace_runs() -> None:
    presence = redis_presence(grace=0.1, ttl=0.1)
    try:
        await presence.attach(3, 1, "dead")
        await presence.attach(3, 2, "alive")
        await asyncio.sleep(0.12)
        await presence.heartbeat([(3, 2, "alive")])
        assert await presence.sweep() == []  # expired now, grace starts
        await asyncio.sleep(0.12)
        await presence.heartbeat([(3, 2, "alive")])
        assert await presence.sweep() == [(3, 1)]
        assert await presence.is_present(3, 2)
    finally:
        await presence.close()
