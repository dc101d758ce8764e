"""The room WebSocket transport: framing, fan-out, presence and coalescing (docs/protocol.md).

The room domain (models, services, snapshot, events) lives in `rooms.services`,
`rooms.selectors` and `rooms.ws_actions`; this package only moves frames and events.
"""
