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


def rate_limit_hit(
    scope: str, key: str | int, *, limit: int, period_seconds: int, what: str = "requests"
) -> int:
    """Count one use of `scope` by `key` in the current window and return the count; raise
    `RateLimited` (with `retry_after`, the seconds until the window ends) past `limit`."""
    now = time.time()
    window = int(now // period_seconds)
    cache_key = f"ratelimit:{scope}:{key}:{period_seconds}:{window}"
    timeout = period_seconds + 60
    cache.add(cache_key, 0, timeout=timeout)
    try:
        count = int(cache.incr(cache_key))
    except ValueError:  # expired between the two calls: this is the first use of a new window
        cache.add(cache_key, 1, timeout=timeout)
        count = 1
    if count > limit:
        retry_after = max(1, math.ceil((window + 1) * period_seconds - now))
        raise RateLimited(
            f"Too many {what}; try again in {_wait_text(retry_after)}.",
            retry_after=retry_after,
        )
    return count
