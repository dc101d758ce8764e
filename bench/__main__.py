"""`make bench`: runs every benchmark and writes JSON results to bench/results/.

No benchmark exists yet: the room-events, relay and stipend benchmarks arrive with the rooms,
media relay and payouts issues. This placeholder says so instead of pretending.
"""

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).parent / "results"

BENCHMARKS: list[str] = []
BENCHMARKS.append("relay")  # python -m bench.relay -> bench/results/relay.json


def main() -> int:
    RESULTS.mkdir(exist_ok=True)
    summary = {
        "ran_at": datetime.now(UTC).isoformat(),
        "benchmarks": BENCHMARKS,
        "note": "no benchmarks yet (placeholder): see docs/benchmarks.md",
    }
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(summary["note"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
