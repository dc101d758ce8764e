"""Per-key limits over fixed windows, counted in the cache: Redis when REDIS_URL is set, so every
web process shares one count; the local memory cache without it (embedded mode is one process).

A window is aligned to the epoch (a daily window ends at midnight UTC), so `Retry-After` is
exact. Every call counts, refused ones too.
"""

from __future__ import annotations

import math
import time

from django.core.cache import cache

from clubhouse.errors import RateLimited


def _wait_text(seconds: int) -> str:
    if seconds >= 3600:
        hours = math.ceil(seconds / 3600)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _window(scope: str, key: str | int, period_seconds: int) -> tuple[str, int]:
    """The cache key of the current window and the seconds until it ends."""
    now = time.time()
    window = int(now // period_seconds)
    retry_after = max(1, math.ceil((window + 1) * period_seconds - now))
    return f"ratelimit:{scope}:{key}:{period_seconds}:{window}", retry_after


def _refuse(what: str, retry_after: int) -> RateLimited:
    return RateLimited(
        f"Too many {what}; try again in {_wait_text(retry_after)}.", retry_after=retry_after
    )


def rate_limit_record(scope: str, key: str | int, *, period_seconds: int) -> int:
    """Count one use of `scope` by `key` in the current window and return the count."""
    cache_key, _ = _window(scope, key, period_seconds)
    timeout = period_seconds + 60
    cache.add(cache_key, 0, timeout=timeout)
    try:
        return int(cache.incr(cache_key))
    except ValueError:  # expired between the two calls: this is the first use of a new window
        cache.add(cache_key, 1, timeout=timeout)
        return 1


def rate_limit_hit(
    scope: str, key: str | int, *, limit: int, period_seconds: int, what: str = "requests"
) -> int:
    """Count one use of `scope` by `key` in the current window and return the count; raise
    `RateLimited` (with `retry_after`, the seconds until the window ends) past `limit`."""
    count = rate_limit_record(scope, key, period_seconds=period_seconds)
    if count > limit:
        raise _refuse(what, _window(scope, key, period_seconds)[1])
    return count


def rate_limit_check(
    scope: str, key: str | int, *, limit: int, period_seconds: int, what: str = "requests"
) -> None:
    """Raise `RateLimited` if `key` has already used `scope` `limit` times in the current window;
    count nothing (the uses are counted elsewhere with `rate_limit_record`)."""
    cache_key, retry_after = _window(scope, key, period_seconds)
    if int(cache.get(cache_key) or 0) >= limit:
        raise _refuse(what, retry_after)
