"""Who may do what in a room: every action by every kind of person, through the services.

"ok" means the action is allowed (it may be a no-op when its outcome already holds); anything
else is the stable error code the person gets. The REST sample in test_api.py checks the same
table reaches HTTP unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from clubhouse.errors import ApplicationError
from rooms import selectors, services
from rooms.models import RoomParticipant, RoomRemoval
from tests.rooms.factories import MemberFactory, RoomFactory, WaitlistedFactory, block, participant

pytestmark = pytest.mark.django_db

ROLES = [
    "moderator", "speaker", "listener", "outsider", "removed", "blocked", "waitlisted", "anonymous",
]  # fmt: skip

Call = Callable[[Any, dict[str, Any]], Any]

# action: (call(actor, world), expected per role in ROLES order)
MATRIX: dict[str, tuple[Call, str]] = {
    "join": (
        lambda u, w: services.room_join(user=u, room_id=w["room"].pk),
        "ok ok ok ok removed_from_room blocked_by_moderator waitlisted not_authenticated",
    ),
    "leave": (
        lambda u, w: services.room_leave(user=u, room_id=w["room"].pk),
        "ok ok ok ok ok ok ok ok",
    ),
    "snapshot": (
        lambda u, w: selectors.room_snapshot(room_id=w["room"].pk, viewer=u),
        "ok ok ok ok removed_from_room blocked_by_moderator waitlisted not_authenticated",
    ),
    "audience_page": (
        lambda u, w: selectors.room_audience_page(room_id=w["room"].pk, viewer=u),
        "ok ok ok ok removed_from_room blocked_by_moderator waitlisted not_authenticated",
    ),
    "hand_raise": (
        lambda u, w: services.room_hand_raise(user=u, room_id=w["room"].pk),
        "already_on_stage already_on_stage ok not_in_room removed_from_room not_in_room "
        "waitlisted not_authenticated",
    ),
    "hand_lower": (
        lambda u, w: services.room_hand_lower(user=u, room_id=w["room"].pk),
        "ok ok ok not_in_room removed_from_room not_in_room waitlisted not_authenticated",
    ),
    "hand_lower_other": (
        lambda u, w: services.room_hand_lower(
            user=u, room_id=w["room"].pk, target_id=w["listener2"].pk
        ),
        "ok not_moderator not_moderator not_in_room removed_from_room not_in_room waitlisted "
        "not_authenticated",
    ),
    "hand_policy_set": (
        lambda u, w: services.room_hand_policy_set(user=u, room_id=w["room"].pk, policy="off"),
        "ok not_moderator not_moderator not_in_room removed_from_room not_in_room waitlisted "
        "not_authenticated",
    ),
    "speaker_invite": (
        lambda u, w: services.room_speaker_invite(
            user=u, room_id=w["room"].pk, target_id=w["listener2"].pk
        ),
        "ok not_moderator not_moderator not_in_room removed_from_room not_in_room waitlisted "
        "not_authenticated",
    ),
    "speaker_invite_accept": (
        lambda u, w: services.room_speaker_invite_accept(user=u, room_id=w["room"].pk),
        "ok ok ok not_in_room removed_from_room not_in_room waitlisted not_authenticated",
    ),
    "speaker_invite_decline": (
        lambda u, w: services.room_speaker_invite_decline(user=u, room_id=w["room"].pk),
        "ok ok ok not_in_room removed_from_room not_in_room waitlisted not_authenticated",
    ),
    "speaker_move_to_audience": (
        lambda u, w: services.room_speaker_move_to_audience(
            user=u, room_id=w["room"].pk, target_id=w["speaker2"].pk
        ),
        "ok not_moderator not_moderator not_in_room removed_from_room not_in_room waitlisted "
        "not_authenticated",
    ),
    "stage_leave": (
        lambda u, w: services.room_stage_leave(user=u, room_id=w["room"].pk),
        "ok ok ok not_in_room removed_from_room not_in_room waitlisted not_authenticated",
    ),
    "speaker_mute": (
        lambda u, w: services.room_speaker_mute(
            user=u, room_id=w["room"].pk, target_id=w["speaker2"].pk
        ),
        "ok not_moderator not_moderator not_in_room removed_from_room not_in_room waitlisted "
        "not_authenticated",
    ),
    "self_mute": (
        lambda u, w: services.room_self_mute(user=u, room_id=w["room"].pk),
        "ok ok not_on_stage not_in_room removed_from_room not_in_room waitlisted not_authenticated",
    ),
    "self_unmute": (
        lambda u, w: services.room_self_unmute(user=u, room_id=w["room"].pk),
        "ok ok not_on_stage not_in_room removed_from_room not_in_room waitlisted not_authenticated",
    ),
    "moderator_add": (
        lambda u, w: services.room_moderator_add(
            user=u, room_id=w["room"].pk, target_id=w["speaker2"].pk
        ),
        "ok not_moderator not_moderator not_in_room removed_from_room not_in_room waitlisted "
        "not_authenticated",
    ),
    "moderator_remove": (
        lambda u, w: services.room_moderator_remove(
            user=u, room_id=w["room"].pk, target_id=w["moderator2"].pk
        ),
        "ok not_moderator not_moderator not_in_room removed_from_room not_in_room waitlisted "
        "not_authenticated",
    ),
    "user_remove": (
        lambda u, w: services.room_user_remove(
            user=u, room_id=w["room"].pk, target_id=w["listener2"].pk
        ),
        "ok not_moderator not_moderator not_in_room removed_from_room not_in_room waitlisted "
        "not_authenticated",
    ),
    "end": (
        lambda u, w: services.room_end(user=u, room_id=w["room"].pk),
        "ok not_moderator not_moderator not_in_room removed_from_room not_in_room waitlisted "
        "not_authenticated",
    ),
    "ping": (
        lambda u, w: services.room_ping(user=u, room_id=w["room"].pk, target_id=w["friend"].pk),
        "ok ok ok not_in_room removed_from_room not_in_room waitlisted not_authenticated",
    ),
}

CASES = [
    pytest.param(action, role, expected.split()[index], id=f"{action}-{role}")
    for action, (_, expected) in MATRIX.items()
    for index, role in enumerate(ROLES)
]


def world_for(role: str) -> tuple[Any, dict[str, Any]]:
    """An open live room (creator moderator, a second moderator, a speaker and a listener as
    targets) and an actor of the given kind."""
    room = RoomFactory()
    world: dict[str, Any] = {"room": room, "friend": MemberFactory()}
    for name, kind in (("moderator2", "moderator"), ("speaker2", "speaker"), ("listener2", None)):
        world[name] = MemberFactory()
        participant(room, world[name], kind or "listener")
    RoomParticipant.objects.filter(user=world["listener2"]).update(hand_raised_at=timezone.now())
    actor: Any
    if role == "anonymous":
        actor = AnonymousUser()
    elif role == "waitlisted":
        actor = WaitlistedFactory()
    else:
        actor = MemberFactory()
    if role in ("moderator", "speaker"):
        participant(room, actor, role)
    elif role == "listener":
        participant(room, actor, "listener", speaker_invited_at=timezone.now())
    elif role == "removed":
        RoomRemoval.objects.create(room=room, user=actor, removed_by=room.created_by)
    elif role == "blocked":
        block(room.created_by, actor)
    return actor, world


@pytest.mark.parametrize(("action", "role", "expected"), CASES)
def test_authorization_matrix(action: str, role: str, expected: str) -> None:
    actor, world = world_for(role)
    call = MATRIX[action][0]
    if expected == "ok":
        call(actor, world)
        return
    with pytest.raises(ApplicationError) as excinfo:
        call(actor, world)
    assert excinfo.value.code == expected
