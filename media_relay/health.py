"""The relay's part of /healthz: every registered worker with its load and counters."""

from typing import Any

from media_relay.candidates import ICE_CANDIDATE_TYPES, ICE_PATH_TYPES
from media_relay.placement import relay_registry

# Summed over live workers: load, and the audio connections that never connected per candidate
# type the member's client offered, and those that connected per path (issue #22: which network
# paths fail, and how members' audio reaches the relay).
_TOTALS = (
    "rooms",
    "peers",
    "packets_in",
    "packets_out",
    "drops",
    *(f"ice_failed_{kind}" for kind in ICE_CANDIDATE_TYPES),
    *(f"ice_connected_{kind}" for kind in ICE_PATH_TYPES),
)


def relay_health() -> dict[str, Any]:
    workers = relay_registry().workers()
    alive = [w for w in workers if w["alive"]]
    if not workers:
        # Nothing registered: no relay deployed yet, or the embedded one not started.
        return {"ok": True, "state": "no_workers", "workers": []}
    totals = {key: sum(int(w.get(key, 0)) for w in alive) for key in _TOTALS}
    return {
        "ok": bool(alive),
        "state": "running" if alive else "all_workers_dead",
        "alive": len(alive),
        **totals,
        "workers": sorted(workers, key=lambda w: str(w["worker_id"])),
    }
