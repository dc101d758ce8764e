"""The action table the WebSocket consumer and REST share: validation and replies."""

from __future__ import annotations

import pytest

from clubhouse.errors import InvalidInput
from rooms.models import RoomParticipant
from rooms.ws_actions import ACTIONS
from tests.rooms.conftest import Stage

pytestmark = pytest.mark.django_db

CONTRACT_TYPES = {
    "room.hand_raise", "room.hand_lower", "room.hand_policy_set", "room.speaker_invite",
    "room.speaker_invite_accept", "room.speaker_invite_decline", "room.speaker_move_to_audience",
    "room.stage_leave", "room.speaker_mute", "room.self_unmute", "room.self_mute",
    "room.moderator_add", "room.moderator_remove", "room.user_remove", "room.end", "room.ping",
    "room.audience_page", "room.pinned_link_set", "room.pinned_link_clear",
}  # fmt: skip

NEEDS_USER_ID = {
    "room.speaker_invite", "room.speaker_move_to_audience", "room.speaker_mute",
    "room.moderator_add", "room.moderator_remove", "room.user_remove", "room.ping",
}  # fmt: skip


def test_the_table_has_exactly_the_contract_types() -> None:
    assert set(ACTIONS) == CONTRACT_TYPES


@pytest.mark.parametrize("action", sorted(CONTRACT_TYPES))
@pytest.mark.parametrize(
    ("payload", "field"),
    [({}, "room_id"), ({"room_id": "7"}, "room_id"), ({"room_id": True}, "room_id")],
)
def test_a_missing_or_mistyped_room_id_is_invalid(action: str, payload: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        ACTIONS[action](None, payload)
    assert field in excinfo.value.fields


@pytest.mark.parametrize("action", sorted(NEEDS_USER_ID))
def test_targeted_actions_need_a_user_id(stage: Stage, action: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        ACTIONS[action](stage.moderator, {"room_id": stage.room.pk, "user_id": "x"})
    assert "user_id" in excinfo.value.fields


def test_policy_must_be_known(stage: Stage) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        ACTIONS["room.hand_policy_set"](stage.moderator, {"room_id": stage.room.pk, "policy": 3})
    assert "policy" in excinfo.value.fields


def test_pinned_link_must_be_a_web_address(stage: Stage) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        ACTIONS["room.pinned_link_set"](stage.moderator, {"room_id": stage.room.pk, "url": ["x"]})
    assert "url" in excinfo.value.fields


def test_a_payload_that_is_not_an_object_is_invalid() -> None:
    with pytest.raises(InvalidInput):
        ACTIONS["room.end"](None, ["room_id", 1])  # type: ignore[arg-type]


def test_replies_carry_your_new_state(stage: Stage) -> None:
    reply = ACTIONS["room.hand_raise"](stage.listener, {"room_id": stage.room.pk})
    assert reply == {
        "room_id": stage.room.pk,
        "you": {"role": "listener", "hand_raised": True, "muted": None, "speaker_invited": False},
    }
    reply = ACTIONS["room.speaker_invite"](
        stage.moderator, {"room_id": stage.room.pk, "user_id": stage.listener.pk}
    )
    assert reply["user_id"] == stage.listener.pk
    assert reply["state"]["speaker_invited"] is True
    ACTIONS["room.speaker_invite_accept"](stage.listener, {"room_id": stage.room.pk})
    assert RoomParticipant.objects.get(user=stage.listener).role == "speaker"
    reply = ACTIONS["room.end"](stage.moderator, {"room_id": stage.room.pk})
    assert reply == {"room_id": stage.room.pk, "status": "ended"}


def test_audience_page_action_returns_a_page(stage: Stage) -> None:
    reply = ACTIONS["room.audience_page"](stage.speaker, {"room_id": stage.room.pk, "limit": 1})
    assert [i["user"]["id"] for i in reply["items"]] == [stage.listener.pk]
    with pytest.raises(InvalidInput):
        ACTIONS["room.audience_page"](stage.speaker, {"room_id": stage.room.pk, "cursor": 5})
