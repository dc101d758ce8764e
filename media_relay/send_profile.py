"""`SendProfile`: the outgoing packet layout a listener's m-line negotiated.

A leaf shared by the forwarder, which builds each packet once per layout, and
`media_relay.aiortc_internals.negotiation`, which reads a listener's layout from aiortc's
transceiver; so the forwarder needs nothing from aiortc or its internals.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SendProfile:
    """What a listener's m-line negotiated: the outgoing packet layout the relay must build."""

    payload_type: int
    clock_rate: int
    audio_level_id: int  # 0 when not negotiated
