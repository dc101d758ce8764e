"""The room WebSocket transport: framing, fan-out, presence and coalescing (docs/protocol.md).

A platform below the apps: the room domain (models, services, snapshot, events) lives in
`rooms.services`, `rooms.selectors` and `rooms.ws_actions`, which this package never imports;
the rooms app registers its join, leave, snapshot, audience count and actions at start-up
(`domain.py`). This package only moves frames and events.
"""
