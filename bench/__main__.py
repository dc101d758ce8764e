"""`make bench`: runs every benchmark and writes JSON results to bench/results/.

Benchmarks so far: room_events (rooms issue; docs/benchmarks.md). The relay and stipend
benchmarks arrive with the media relay and payouts issues.
"""

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import room_events

RESULTS = Path(__file__).parent / "results"

BENCHMARKS: list[str] = ["room_events"]


def main() -> int:
    RESULTS.mkdir(exist_ok=True)
    results = {"room_events": room_events.run()}
    summary = {
        "ran_at": datetime.now(UTC).isoformat(),
        "benchmarks": BENCHMARKS,
        "results": {
            name: {key: value for key, value in result.items() if key != "runs"}
            for name, result in results.items()
        },
    }
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
