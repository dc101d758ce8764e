"""`make bench`: runs every benchmark, one process each, and records what each wrote.

Each benchmark is `python -m bench.<name>` and writes `bench/results/<name>.json` itself (see
docs/benchmarks.md for figures and options). `python -m bench relay` runs only the named ones.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).parent / "results"

# name -> the JSON file it writes
BENCHMARKS: dict[str, str] = {
    "room_events": "room_events.json",  # N WebSocket members in one room, one daphne (rooms)
    "join_storm": "join_storm.json",  # N real members arriving in one room, main vs this (rooms)
    "relay": "relay.json",  # project relay vs Janus VideoRoom (media relay)
    "stipends": "stipends.json",  # monthly stipend run against the Stripe stand-in (payouts)
}


def main(argv: list[str]) -> int:
    wanted = argv or list(BENCHMARKS)
    unknown = [name for name in wanted if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    RESULTS.mkdir(exist_ok=True)
    runs = []
    for name in wanted:
        started = time.monotonic()
        print(f"== bench.{name}", flush=True)
        code = subprocess.call([sys.executable, "-m", f"bench.{name}"])
        runs.append(
            {
                "benchmark": name,
                "exit_code": code,
                "seconds": round(time.monotonic() - started, 1),
                "result": str((RESULTS / BENCHMARKS[name]).relative_to(Path.cwd()))
                if (RESULTS / BENCHMARKS[name]).exists()
                else None,
            }
        )
    summary = {"ran_at": datetime.now(UTC).isoformat(), "runs": runs}
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    failed = [run["benchmark"] for run in runs if run["exit_code"] != 0]
    print(f"ran {len(runs)} benchmark(s); failed: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
