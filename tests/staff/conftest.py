from __future__ import annotations

from collections.abc import Iterator

import pytest

from payouts.provider.standin import STANDIN


@pytest.fixture(autouse=True)
def _fresh_standin() -> Iterator[None]:
    """The Stripe stand-in is one per process: each test starts from an empty one."""
    STANDIN.reset()
    yield
    STANDIN.reset()
