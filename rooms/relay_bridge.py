"""The one place rooms tells the relay what happens in a room (docs/relay.md, "Signalling"), the
way rooms/clubs_bridge.py is the one place it asks the clubs app.

The relay knows nothing about rooms' tables; this module reads them and speaks the relay
protocol (media_relay/protocol.py) through the relay client (media_relay/signalling.py). It is
rooms' domain, not the realtime transport's: the socket side (rooms/realtime/rtc.py) is handed
`member_offer_prepare` by the consumer instead of importing it.

- `member_offer_prepare` (sync, database + placement): where a member's peer connection goes and
  the room state the relay must apply before answering the offer (the socket side,
  rooms/realtime/rtc.py, sends both);
- `relay_room_event` (sync, on commit: a room-event listener `RoomsConfig.ready` registers with rooms.realtime.broadcast): turns a room event into the
  matching relay command for every worker serving the room, and tells the person whose stage
  role changed to re-offer;
- `room_relay_state` (sync): the room's stage as a `relay.room_state`.

Every room-state command carries the room's `seq`; a worker ignores a state command older than
the last one it applied, so two commits whose on-commit hooks race cannot leave a stale state.
"""

from __future__ import annotations

import logging
from typing import Any

from clubhouse.errors import ApplicationError
from media_relay import protocol, signalling
from media_relay.placement import RelayUnavailable
from rooms.models import Room, RoomParticipant
from rooms.realtime import fanout

logger = logging.getLogger(__name__)

STAGE_CHANGED = "stage_changed"


def room_relay_state(room_id: int) -> protocol.RoomState | None:
    """The room's `seq`, who is on stage and who of them is muted; None if it is not live.

    `seq` is read before the participants, so the state is at least as new as `seq`."""
    room = Room.objects.filter(pk=room_id).values("seq", "status").first()
    if room is None or room["status"] != Room.Status.LIVE:
        return None
    stage = RoomParticipant.objects.filter(
        room_id=room_id, role__in=RoomParticipant.STAGE_ROLES
    ).values_list("user_id", "muted")
    speakers, muted = [], []
    for user_id, is_muted in stage:
        speakers.append(user_id)
        if is_muted:
            muted.append(user_id)
    return protocol.RoomState(
        room_id=room_id,
        seq=room["seq"],
        speakers=tuple(sorted(speakers)),
        muted=tuple(sorted(muted)),
    )


def member_offer_prepare(
    room_id: int, user_id: int, publishing: bool
) -> tuple[str, protocol.RoomState]:
    """Where this member's offer goes and the `relay.room_state` to send before it.

    Raises ApplicationError `not_in_room` if the person is not (or no longer) in the live room,
    `relay_unavailable` if no relay worker lives. Blocking: call through database_sync_to_async.
    """

    def not_in_room() -> ApplicationError:
        return ApplicationError("Join the room first.", code="not_in_room", status=409)

    state = room_relay_state(room_id)
    if state is None:
        raise not_in_room()
    try:
        worker_id = signalling.place_member(
            room_id, user_id, publishing and user_id in state.speakers
        )
    except RelayUnavailable:
        raise ApplicationError(
            "The audio relay is not available; try again shortly.",
            code="relay_unavailable",
            status=503,
        ) from None
    # Checked after placement: a removal committing from here on finds this worker among the
    # room's (its `relay.remove` reaches it), and one committed before is seen here. The offer
    # carries this `seq`, so the worker refuses it if a removal newer than it got there first.
    state = room_relay_state(room_id)
    if (
        state is None
        or not RoomParticipant.objects.filter(room_id=room_id, user_id=user_id).exists()
    ):
        signalling.forget_member(room_id, user_id, worker_id)
        raise not_in_room()
    return worker_id, state


def relay_room_event(room_id: int, event: dict[str, Any]) -> None:
    """On commit of a room event: send the relay the matching command, and ask the person whose
    stage role changed to re-offer. Never raises (the change is committed; logged instead)."""
    try:
        _relay_room_event(room_id, event)
    except Exception:
        logger.exception("relay: could not forward %s of room %s", event.get("type"), room_id)


_STATE_EVENTS = {"room.speaker_added", "room.moderator_added", "room.moderator_removed"}
_RELAY_EVENTS = _STATE_EVENTS | {
    "room.speaker_removed",
    "room.speaker_muted",
    "room.speaker_unmuted",
    "room.user_removed",
    "room.ended",
}


def _relay_room_event(room_id: int, event: dict[str, Any]) -> None:
    kind = event.get("type")
    if kind not in _RELAY_EVENTS:
        return
    data = event.get("data") or {}
    seq = event.get("seq")
    user_id = data.get("user_id") or (data.get("user") or {}).get("id")
    # Joining or leaving the stage changes whether the person may publish: they re-offer, with
    # or without a mic m-line. (A moderator is added or removed from among those on stage.)
    if kind == "room.speaker_added" or (
        kind == "room.speaker_removed" and data.get("reason") != "left_room"
    ):
        _renegotiate(user_id, room_id, STAGE_CHANGED)

    workers = signalling.room_workers(room_id)
    if not workers:
        return  # nobody in this room has started WebRTC: nothing to enforce
    message: protocol.WorkerMessage
    if kind == "room.ended":
        message = protocol.End(room_id=room_id)
    elif kind in _STATE_EVENTS:
        state = room_relay_state(room_id)
        if state is None:
            return
        message = state
    elif not isinstance(user_id, int):  # every other command names one member
        logger.warning("relay: %s of room %s names no member", kind, room_id)
        return
    elif kind == "room.user_removed":
        message = protocol.Remove(room_id=room_id, user_id=user_id, reason="removed", seq=seq)
    elif kind in ("room.speaker_muted", "room.speaker_unmuted"):
        muted = kind == "room.speaker_muted"
        message = protocol.Mute(room_id=room_id, user_id=user_id, muted=muted, seq=seq)
    else:  # room.speaker_removed
        message = protocol.MoveToAudience(room_id=room_id, user_id=user_id, seq=seq)
    signalling.relay_send_many(workers, [message])


def _renegotiate(user_id: Any, room_id: int, reason: str) -> None:
    if not isinstance(user_id, int):
        return
    event = {"type": "rtc.renegotiate", "room_id": room_id, "data": {"reason": reason}}
    fanout.publish(fanout.user_channel(user_id), event)
