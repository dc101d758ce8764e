"""The pinned link (issue #17): moderators pin an http(s) link everyone in the room sees; the
snapshot carries it and `room.pinned_link_changed` announces it. Services and REST on
PostgreSQL; the socket path is in test_pinned_link_socket.py."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from clubhouse.errors import ApplicationError
from rooms import selectors, services
from rooms.models import Room, RoomEventLog
from tests.rooms.conftest import Stage
from tests.rooms.factories import MemberFactory

pytestmark = pytest.mark.django_db


def as_user(user) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.force_authenticate(user)
    return client


def refused(call, **kwargs) -> ApplicationError:  # type: ignore[no-untyped-def]
    with pytest.raises(ApplicationError) as caught:
        call(**kwargs)
    return caught.value


# --- services -----------------------------------------------------------------------------
def test_a_moderator_pins_a_link_and_everyone_sees_it_in_the_snapshot(stage: Stage) -> None:
    services.room_pinned_link_set(
        user=stage.moderator,
        room_id=stage.room.pk,
        url="https://example.org/agenda",
        title="  Tonight's   agenda ",
    )
    for viewer in (stage.moderator, stage.speaker, stage.listener):
        link = selectors.room_snapshot(room_id=stage.room.pk, viewer=viewer)["room"]["pinned_link"]
        assert link["url"] == "https://example.org/agenda"
        assert link["title"] == "Tonight's agenda"
        assert link["by"] == stage.moderator.pk
        assert link["pinned_at"]


def test_a_newcomer_who_joins_after_the_pin_gets_it_in_their_snapshot(stage: Stage) -> None:
    services.room_pinned_link_set(
        user=stage.moderator, room_id=stage.room.pk, url="http://example.org/", title=""
    )
    newcomer = MemberFactory()
    services.room_join(user=newcomer, room_id=stage.room.pk)
    snapshot = selectors.room_snapshot(room_id=stage.room.pk, viewer=newcomer)
    assert snapshot["room"]["pinned_link"]["url"] == "http://example.org/"
    assert snapshot["room"]["pinned_link"]["title"] == ""


def test_pinning_is_journaled_with_the_next_seq_and_repeating_it_changes_nothing(
    stage: Stage,
) -> None:
    before = Room.objects.get(pk=stage.room.pk).seq
    for _ in range(2):
        services.room_pinned_link_set(
            user=stage.moderator, room_id=stage.room.pk, url="https://a.example/", title="A"
        )
    room = Room.objects.get(pk=stage.room.pk)
    assert room.seq == before + 1
    entry = RoomEventLog.objects.get(room=room, seq=room.seq)
    assert entry.type == "room.pinned_link_changed"
    assert entry.data["pinned_link"]["url"] == "https://a.example/"
    assert entry.data["by"] == stage.moderator.pk


def test_clearing_removes_the_link_once(stage: Stage) -> None:
    services.room_pinned_link_set(
        user=stage.moderator, room_id=stage.room.pk, url="https://a.example/", title="A"
    )
    services.room_pinned_link_clear(user=stage.moderator, room_id=stage.room.pk)
    seq = Room.objects.get(pk=stage.room.pk).seq
    services.room_pinned_link_clear(user=stage.moderator, room_id=stage.room.pk)
    room = Room.objects.get(pk=stage.room.pk)
    assert room.seq == seq  # nothing pinned, nothing sent
    assert (room.pinned_url, room.pinned_title, room.pinned_by, room.pinned_at) == (
        "",
        "",
        None,
        None,
    )
    assert (
        selectors.room_snapshot(room_id=room.pk, viewer=stage.listener)["room"]["pinned_link"]
        is None
    )


@pytest.mark.parametrize("who", ["speaker", "listener"])
def test_only_moderators_pin_or_clear(stage: Stage, who: str) -> None:
    user = getattr(stage, who)
    error = refused(
        services.room_pinned_link_set, user=user, room_id=stage.room.pk, url="https://a.example/"
    )
    assert error.code == "not_moderator"
    error = refused(services.room_pinned_link_clear, user=user, room_id=stage.room.pk)
    assert error.code == "not_moderator"


def test_someone_outside_the_room_cannot_pin(stage: Stage) -> None:
    error = refused(
        services.room_pinned_link_set,
        user=MemberFactory(),
        room_id=stage.room.pk,
        url="https://a.example/",
    )
    assert error.code == "not_in_room"


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://example.org/file",
        "example.org",
        "https://",
        "https://exa mple.org/",
        "https://bank.example@evil.example/login",
        "https://example.org/\nnext",
        "",
        "   ",
        None,
        42,
        "https://example.org/" + "a" * 500,
    ],
)
def test_only_http_and_https_links_with_a_host_are_pinned(stage: Stage, url: object) -> None:
    error = refused(
        services.room_pinned_link_set, user=stage.moderator, room_id=stage.room.pk, url=url
    )
    assert error.code == "invalid"
    assert "url" in error.fields
    assert Room.objects.get(pk=stage.room.pk).pinned_url == ""


@pytest.mark.parametrize("title", ["x" * 81, 7, "bell\x07"])
def test_the_title_is_short_plain_text(stage: Stage, title: object) -> None:
    error = refused(
        services.room_pinned_link_set,
        user=stage.moderator,
        room_id=stage.room.pk,
        url="https://example.org/",
        title=title,
    )
    assert error.code == "invalid"
    assert "title" in error.fields


def test_an_ended_room_takes_no_pin(stage: Stage) -> None:
    services.room_end(user=stage.moderator, room_id=stage.room.pk)
    error = refused(
        services.room_pinned_link_set,
        user=stage.moderator,
        room_id=stage.room.pk,
        url="https://a.example/",
    )
    assert error.code == "room_ended"


# --- REST ---------------------------------------------------------------------------------
def test_pin_and_clear_over_rest(stage: Stage) -> None:
    base = f"/api/v1/rooms/{stage.room.pk}/pinned-link"
    pinned = as_user(stage.moderator).post(
        f"{base}/", {"url": "https://example.org/x?y=1", "title": "Notes"}, format="json"
    )
    assert pinned.status_code == 200
    body = pinned.json()
    assert body["room_id"] == stage.room.pk
    assert body["pinned_link"]["url"] == "https://example.org/x?y=1"
    assert body["pinned_link"]["title"] == "Notes"
    detail = as_user(stage.listener).get(f"/api/v1/rooms/{stage.room.pk}/").json()
    assert detail["room"]["pinned_link"]["url"] == "https://example.org/x?y=1"

    cleared = as_user(stage.moderator).post(f"{base}/clear/", {}, format="json")
    assert cleared.status_code == 200
    assert cleared.json() == {"room_id": stage.room.pk, "pinned_link": None}


def test_rest_errors_use_the_envelope(stage: Stage) -> None:
    base = f"/api/v1/rooms/{stage.room.pk}/pinned-link/"
    bad = as_user(stage.moderator).post(base, {"url": "javascript:alert(1)"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid"
    assert "url" in bad.json()["error"]["fields"]
    missing = as_user(stage.moderator).post(base, {}, format="json")
    assert missing.status_code == 400
    assert "url" in missing.json()["error"]["fields"]
    listener = as_user(stage.listener).post(base, {"url": "https://a.example/"}, format="json")
    assert listener.status_code == 403
    assert listener.json()["error"]["code"] == "not_moderator"
    nowhere = as_user(stage.moderator).post(
        "/api/v1/rooms/987654/pinned-link/", {"url": "https://a.example/"}, format="json"
    )
    assert nowhere.status_code == 404
    assert nowhere.json()["error"]["code"] == "room_not_found"


def test_pinned_link_operations_are_in_the_openapi_schema(client) -> None:  # type: ignore[no-untyped-def]
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    set_op = schema["paths"]["/api/v1/rooms/{room_id}/pinned-link/"]["post"]
    assert set_op["operationId"] == "rooms_pinned_link"
    clear_op = schema["paths"]["/api/v1/rooms/{room_id}/pinned-link/clear/"]["post"]
    assert clear_op["operationId"] == "rooms_pinned_link_clear"
