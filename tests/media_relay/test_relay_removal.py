"""A removal takes effect at the relay whatever order things arrive in (issue #12, point 9).

Real sockets, room services on PostgreSQL, the channel layer and a relay worker, as in
test_signalling.py (whose scene this reuses).
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from accounts import services as account_services
from accounts.models import User
from media_relay import signalling
from media_relay.testing import wait_for
from rooms import relay_bridge
from rooms.client import ProtocolError
from rooms.services import room_user_remove
from tests.media_relay.test_signalling import Scene, hears_tone, memory_scene, scene, silent
from tests.rooms.factories import MemberFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.slow]

__all__ = ["memory_scene", "scene"]  # fixtures


async def test_a_removal_committed_while_the_offer_is_on_its_way_gets_no_audio(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The web tier checked the listener is in the room and placed the offer; the moderator's
    removal commits (its `relay.remove` reaches the worker) before the offer does. The offer is
    refused: no connection at the relay, no audio."""
    worker = await scene.worker()
    moderator, _speaker, audience = await scene.stage(listeners=1)
    assert scene.room is not None
    room_id = scene.room.pk
    troll = await scene.person()
    prepare = relay_bridge.member_offer_prepare

    def prepare_then_removed(room: int, user_id: int, publishing: bool) -> Any:
        prepared = prepare(room, user_id, publishing)
        if user_id == troll.user.pk:
            room_user_remove(user=moderator.user, room_id=room, target_id=user_id)
        return prepared

    monkeypatch.setattr(relay_bridge, "member_offer_prepare", prepare_then_removed)

    with pytest.raises(ProtocolError) as refused:
        await troll.listen()

    assert refused.value.code == "not_in_room"
    assert troll.user.pk not in worker.rooms[room_id].peers
    assert troll.user.pk not in worker.rooms[room_id].forwarder.listeners
    assert await hears_tone(audience)  # the speaker is still talking to everyone else
    assert troll.tone_frames == 0


async def test_an_ejected_socket_closes_its_own_relay_connection(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The room-wide `relay.remove` is lost (a full channel, a Redis blip): the removed
    member's own socket, ejected from the room, still closes their connection at the relay."""
    worker = await scene.worker()
    moderator, _speaker, audience = await scene.stage(listeners=2)
    assert scene.room is not None
    room_id = scene.room.pk
    troll, stays = audience
    peers = worker.rooms[room_id].peers
    assert troll.user.pk in peers
    monkeypatch.setattr(signalling, "room_workers", lambda room_id: [])  # the command is lost

    await moderator.ws.request("room.user_remove", room_id=room_id, user_id=troll.user.pk)

    assert await wait_for(lambda: troll.user.pk not in peers, 8)
    assert troll.peer is not None
    troll_pc = troll.peer.pc
    assert await wait_for(lambda: troll_pc.connectionState in ("closed", "failed"), 8)
    assert await silent([troll])
    assert await hears_tone([stays])
    # and the worker remembers the removal: an offer prepared before it would be refused
    assert troll.user.pk in worker.removed_members(room_id)


async def test_a_member_let_back_in_after_a_removal_hears_again(scene: Scene) -> None:
    """The removal is remembered only until the room lets the person back in: a ban takes
    them out of the room (and the relay); once it is lifted they join and hear again."""
    worker = await scene.worker()
    _moderator, _speaker, audience = await scene.stage(listeners=1)
    assert scene.room is not None
    room_id = scene.room.pk
    (troll,) = audience
    staff = await sync_to_async(MemberFactory)(staff=True)
    await sync_to_async(account_services.user_ban)(user=troll.user, staff=staff)
    assert await troll.ws.wait_closed(timeout=10) == 4403
    assert await wait_for(lambda: troll.user.pk not in worker.rooms[room_id].peers, 8)
    # The socket's own close and the room's removal travel separately; either may come first.
    assert await wait_for(lambda: troll.user.pk in worker.removed_members(room_id), 8)

    await sync_to_async(_lift_ban)(troll.user.pk)
    again = await scene.person(troll.user)
    await again.listen()

    assert await hears_tone([again])
    assert troll.user.pk not in worker.removed_members(room_id)


def _lift_ban(user_id: int) -> None:
    User.objects.filter(pk=user_id).update(is_active=True)


async def test_leaving_over_rest_closes_the_sockets_relay_connection(scene: Scene) -> None:
    """Issue #12, point 14: the person leaves from another device over REST; the socket that
    held their audio leaves the room and closes its connection at the relay."""
    from rest_framework.test import APIClient

    worker = await scene.worker()
    _moderator, _speaker, audience = await scene.stage(listeners=2)
    assert scene.room is not None
    room_id = scene.room.pk
    leaver, stays = audience
    peers = worker.rooms[room_id].peers
    assert leaver.user.pk in peers

    @sync_to_async
    def rest_leave() -> int:
        api = APIClient()
        api.force_authenticate(leaver.user)
        return int(api.post(f"/api/v1/rooms/{room_id}/leave/").status_code)

    assert await rest_leave() == 204

    left = await leaver.ws.wait_push("room.left", timeout=10)
    assert left["room_id"] == room_id
    assert await wait_for(lambda: leaver.user.pk not in peers, 8)
    assert await silent([leaver])
    assert await hears_tone([stays])
    assert leaver.user.pk not in worker.removed_members(room_id)  # free to come back
