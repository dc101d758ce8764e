"""Admission control for `room.join` (issue #18): a web process works on a bounded number of joins
at once and answers the next one `room_busy` with a jittered `retry_after` at once, instead of
queueing it behind the others until the client times out or the listen backlog overflows and
connections are reset.

Only the event loop's thread touches the count (the consumer enters and leaves the gate in its
coroutine), so it needs no lock.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from rooms.realtime import conf


class JoinGate:
    """How many joins this process has in flight, against `conf.join_max_in_flight()` (read on
    each call, so a changed setting applies to the next join)."""

    def __init__(self, limit: Callable[[], int] = conf.join_max_in_flight) -> None:
        self.limit = limit
        self.in_flight = 0
        self.refused = 0  # joins answered `room_busy` since the process started

    def try_enter(self) -> bool:
        if self.in_flight >= self.limit():
            self.refused += 1
            return False
        self.in_flight += 1
        return True

    def leave(self) -> None:
        self.in_flight -= 1


def retry_after_ms(middle: int | None = None, rng: random.Random | None = None) -> int:
    """A `retry_after` between half and one and a half times `middle` (the setting by default)."""
    middle = conf.join_retry_after_ms() if middle is None else middle
    return int((rng or random).uniform(middle * 0.5, middle * 1.5))


# The process's gate: every socket of this web process joins through it.
joins = JoinGate()
