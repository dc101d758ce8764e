"""Room actions by frame type: the one table both the WebSocket consumer and the REST API use.

Each handler takes (user, payload), validates the payload (InvalidInput with `fields` for a
missing field or a wrong type), calls exactly one service or selector, and returns the reply
data. `room.join` / `room.leave` are the consumer's own (they also manage subscriptions).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from clubhouse.errors import InvalidInput
from rooms import selectors, services
from rooms.models import Room

Handler = Callable[[Any, dict[str, Any]], dict[str, Any] | None]


def _id(payload: dict[str, Any], name: str, *, required: bool = True) -> int | None:
    if not isinstance(payload, dict):
        raise InvalidInput("The payload must be an object.", fields={"payload": ["An object."]})
    value = payload.get(name)
    if value is None:
        if required:
            raise InvalidInput(fields={name: ["This field is required."]})
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(fields={name: ["A positive whole number."]})
    return value


def _room_id(payload: dict[str, Any]) -> int:
    value = _id(payload, "room_id")
    assert value is not None
    return value


def _user_id(payload: dict[str, Any]) -> int:
    value = _id(payload, "user_id")
    assert value is not None
    return value


def _you(participant: Any) -> dict[str, Any]:
    return {"room_id": participant.room_id, "you": selectors.participant_state(participant)}


def _target(participant: Any) -> dict[str, Any]:
    return {
        "room_id": participant.room_id,
        "user_id": participant.user_id,
        "state": selectors.participant_state(participant),
    }


def hand_raise(user: Any, payload: dict[str, Any]) -> dict[str, Any]:
    return _you(services.room_hand_raise(user=user, room_id=_room_id(payload)))


def hand_lower(user: Any, payload: dict[str, Any]) -> dict[str, Any]:
    room_id = _room_id(payload)
    target_id = _id(payload, "user_id", required=False)
    participant = services.room_hand_lower(user=user, room_id=room_id, target_id=target_id)
    return _target(participant)


def hand_policy_set(user: Any, payload: dict[str, Any]) -> dict[str, Any]:
    room_id = _room_id(payload)
    policy = payload.get("policy")
    if not isinstance(policy, str) or policy not in Room.HandRaisePolicy.values:
        raise InvalidInput(
            fields={"policy": [f"One of: {', '.join(Room.HandRaisePolicy.values)}."]}
        )
    room = services.room_hand_policy_set(user=user, room_id=room_id, policy=policy)
    return {"room_id": room.pk, "policy": room.hand_raise_policy}


def pinned_link_set(user: Any, payload: dict[str, Any]) -> dict[str, Any]:
    room_id = _room_id(payload)
    # The service validates the link and the title (types included) and names the field.
    room = services.room_pinned_link_set(
        user=user, room_id=room_id, url=payload.get("url"), title=payload.get("title", "")
    )
    return {"room_id": room.pk, "pinned_link": selectors.pinned_link(room)}


def pinned_link_clear(user: Any, payload: dict[str, Any]) -> dict[str, Any]:
    room = services.room_pinned_link_clear(user=user, room_id=_room_id(payload))
    return {"room_id": room.pk, "pinned_link": None}


def speaker_invite(user: Any, payload: dict[str, Any]) -> dict[str, Any]:
    room_id, target_id = _room_id(payload), _user_id(payload)
    return _target(services.room_speaker_invite(user=user, room_id=room_id, target_id=target_id))


def speaker_invite_accept(user: Any, payload: dict[str, Any]) -> dict[str, Any]:
    return _you(services.room_speaker_invite_accept(user=user, room_id=_room_id(payload)))


def speaker_invite_decline(user: Any, payload: dict[str, Any]) -> dict[str, Any]:
    return _you(services.room_speaker_invite_decline(user=user, room_id=_room_id(payload)))


def speaker_move_to_audience(user: Any, payload: dict[str, Any]) -> dict[str, Any]:
    room_id, target_id = _room_id(payload), _user_id(payload)
    return _target(
        services.room_speaker_move_to_audience(user=user, room_id=room_id, target_id=target_id)
    )


def stage_leave(user: Any, payload: dict[str, Any]) -> dict[str, Any]:
    return _you(services.room_stage_leave(user=user, room_id=_room_id(payload)))


def speaker_mute(user: Any, payload: dict[str, Any]) -> dict[str, Any]:
    room_id, target_id = _room_id(payload), _user_id(payload)
    return _target(services.room_speaker_mute(user=user, room_id=room_id, target_id=target_id))


def self_mute(user: Any, payload: dict[str, Any]) -> dict[str, Any]:
    return _you(services.room_self_mute(user=user, room_id=_room_id(payload)))


def self_unmute(user: Any, payload: dict[str, Any]) -> dict[str, Any]:
    return _you(services.room_self_unmute(user=user, room_id=_room_id(payload)))


def moderator_add(user: Any, payload: dict[str, Any]) -> dict[str, Any]:
    room_id, target_id = _room_id(payload), _user_id(payload)
    return _target(services.room_moderator_add(user=user, room_id=room_id, target_id=target_id))


def moderator_remove(user: Any, payload: dict[str, Any]) -> dict[str, Any]:
    room_id, target_id = _room_id(payload), _user_id(payload)
    return _target(services.room_moderator_remove(user=user, room_id=room_id, target_id=target_id))


def user_remove(user: Any, payload: dict[str, Any]) -> dict[str, Any]:
    room_id, target_id = _room_id(payload), _user_id(payload)
    services.room_user_remove(user=user, room_id=room_id, target_id=target_id)
    return {"room_id": room_id, "user_id": target_id, "removed": True}


def end(user: Any, payload: dict[str, Any]) -> dict[str, Any]:
    room = services.room_end(user=user, room_id=_room_id(payload))
    return {"room_id": room.pk, "status": room.status}


def ping(user: Any, payload: dict[str, Any]) -> dict[str, Any]:
    room_id, target_id = _room_id(payload), _user_id(payload)
    invite = services.room_ping(user=user, room_id=room_id, target_id=target_id)
    return {"room_id": room_id, "user_id": target_id, "kind": invite.kind}


def audience_page(user: Any, payload: dict[str, Any]) -> dict[str, Any]:
    room_id = _room_id(payload)
    cursor = payload.get("cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise InvalidInput(fields={"cursor": ["A cursor string from a previous page."]})
    limit = payload.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
        raise InvalidInput(fields={"limit": ["A positive whole number."]})
    return selectors.room_audience_page(room_id=room_id, viewer=user, cursor=cursor, limit=limit)


ACTIONS: dict[str, Handler] = {
    "room.hand_raise": hand_raise,
    "room.hand_lower": hand_lower,
    "room.hand_policy_set": hand_policy_set,
    "room.pinned_link_set": pinned_link_set,
    "room.pinned_link_clear": pinned_link_clear,
    "room.speaker_invite": speaker_invite,
    "room.speaker_invite_accept": speaker_invite_accept,
    "room.speaker_invite_decline": speaker_invite_decline,
    "room.speaker_move_to_audience": speaker_move_to_audience,
    "room.stage_leave": stage_leave,
    "room.speaker_mute": speaker_mute,
    "room.self_mute": self_mute,
    "room.self_unmute": self_unmute,
    "room.moderator_add": moderator_add,
    "room.moderator_remove": moderator_remove,
    "room.user_remove": user_remove,
    "room.end": end,
    "room.ping": ping,
    "room.audience_page": audience_page,
}
