"""Listeners' packet loss, told to speakers (issue #22, point 6).

A speaker's Opus encoder adds in-band forward error correction (each packet carries a coarse copy
of the previous frame, which a receiver decodes when that previous packet is lost) when two things
hold: the receiving side's answer says it can use it (`useinbandfec=1` in the Opus `fmtp`, which
every relay answer carries: `aiortc_internals.process.opus_enable_fec_dtx`), and the receiver
reports loss in its RTCP receiver reports. Here the receiver is the relay, which
itself loses almost nothing on its way from the speaker; the loss is on the listeners' links.
So the relay reports to each speaker the loss its listeners report to it: a high percentile
(`RELAY_LOSS_REPORT_PERCENTILE`, default 90) over the room's listeners of the latest fraction
lost each reported (within the last few seconds), or its own, whichever is higher.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from media_relay import conf

# A listener's report older than this no longer speaks for its link.
REPORT_MAX_AGE_S = 5.0


def percentile_loss(losses: Iterable[int], percentile: int) -> int:
    """The `percentile`-th (nearest rank) of the listeners' fractions lost (0-255, RTCP's 8-bit
    fixed point); 0 without listeners or with the percentile at 0 (reporting switched off)."""
    ordered = sorted(losses)
    if not ordered or percentile <= 0:
        return 0
    rank = max(1, math.ceil(percentile / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def report_percentile() -> int:
    value = int(conf.relay_setting("RELAY_LOSS_REPORT_PERCENTILE", 90))
    return min(100, max(0, value))
