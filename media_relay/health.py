"""The relay's part of /healthz."""

from typing import Any


def relay_health() -> dict[str, Any]:
    # The aiortc relay worker is not built yet (media relay issue); say so rather than pretend.
    return {"ok": True, "state": "not_built", "workers": []}
