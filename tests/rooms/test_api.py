"""The rooms REST API: the same actions and error codes as the services, in the project's
error shape, with constant-query lists."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from rooms.models import EventRSVP, Room, RoomParticipant, RoomRemoval, ScheduledEvent
from tests.rooms.conftest import Stage
from tests.rooms.factories import (
    EventFactory,
    MemberFactory,
    RoomFactory,
    WaitlistedFactory,
    block,
    follow,
    participant,
)

pytestmark = pytest.mark.django_db


def as_user(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_create_a_room_and_get_its_snapshot() -> None:
    creator = MemberFactory()
    response = as_user(creator).post(
        "/api/v1/rooms/", {"title": "Morning", "type": "social"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["room"]["title"] == "Morning"
    assert body["room"]["type"] == "social"
    assert body["you"]["role"] == "moderator"
    assert body["seq"] == 0
    detail = as_user(creator).get(f"/api/v1/rooms/{body['room']['id']}/")
    assert detail.status_code == 200
    assert detail.json()["stage"][0]["user"]["id"] == creator.pk


def test_create_validates_fields_in_the_error_shape() -> None:
    response = as_user(MemberFactory()).post("/api/v1/rooms/", {"type": "secret"}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "type" in error["fields"]


def test_join_leave_and_stage_actions_over_rest(stage: Stage) -> None:
    newcomer = MemberFactory()
    base = f"/api/v1/rooms/{stage.room.pk}"
    joined = as_user(newcomer).post(f"{base}/join/")
    assert joined.status_code == 200
    assert joined.json()["you"]["role"] == "listener"
    assert as_user(newcomer).post(f"{base}/hand-raise/").json()["you"]["hand_raised"] is True
    invited = as_user(stage.moderator).post(
        f"{base}/speaker-invite/", {"user_id": newcomer.pk}, format="json"
    )
    assert invited.status_code == 200
    accepted = as_user(newcomer).post(f"{base}/speaker-invite/accept/")
    assert accepted.json()["you"]["role"] == "speaker"
    unmuted = as_user(newcomer).post(f"{base}/self-unmute/")
    assert unmuted.json()["you"]["muted"] is False
    muted = as_user(stage.moderator).post(f"{base}/mute/", {"user_id": newcomer.pk}, format="json")
    assert muted.json()["state"]["muted"] is True
    assert as_user(newcomer).post(f"{base}/leave/").status_code == 204
    assert not RoomParticipant.objects.filter(room=stage.room, user=newcomer).exists()


def test_action_errors_have_stable_codes_and_statuses(stage: Stage) -> None:
    base = f"/api/v1/rooms/{stage.room.pk}"
    response = as_user(stage.listener).post(f"{base}/end/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_moderator"
    response = as_user(stage.moderator).post(
        f"{base}/speaker-invite/", {"user_id": stage.speaker.pk}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_speaker"
    response = as_user(stage.moderator).post(f"{base}/mute/", {"user_id": "x"}, format="json")
    assert response.status_code == 400
    assert "user_id" in response.json()["error"]["fields"]
    response = as_user(stage.moderator).post("/api/v1/rooms/999999/end/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "room_not_found"


@pytest.mark.parametrize(
    ("who", "path", "body", "status", "code"),
    [
        ("moderator", "end", {}, 200, None),
        ("speaker", "end", {}, 403, "not_moderator"),
        ("listener", "hand-raise", {}, 200, None),
        ("speaker", "hand-raise", {}, 409, "already_on_stage"),
        ("outsider", "hand-raise", {}, 403, "not_in_room"),
        ("removed", "join", {}, 403, "removed_from_room"),
        ("blocked", "join", {}, 403, "blocked_by_moderator"),
        ("waitlisted", "join", {}, 403, "waitlisted"),
        ("anonymous", "join", {}, 401, "not_authenticated"),
        ("listener", "remove", "speaker", 403, "not_moderator"),
        ("moderator", "remove", "listener", 200, None),
    ],
)
def test_authorization_sample_through_rest(
    stage: Stage, who: str, path: str, body, status: int, code: str | None
) -> None:
    people = {"moderator": stage.moderator, "speaker": stage.speaker, "listener": stage.listener}
    if who in people:
        client = as_user(people[who])
    elif who == "anonymous":
        client = APIClient()
    elif who == "waitlisted":
        client = as_user(WaitlistedFactory())
    else:
        person = MemberFactory()
        if who == "removed":
            RoomRemoval.objects.create(room=stage.room, user=person)
        if who == "blocked":
            block(stage.moderator, person)
        client = as_user(person)
    if isinstance(body, str):
        body = {"user_id": people[body].pk}
    response = client.post(f"/api/v1/rooms/{stage.room.pk}/{path}/", body, format="json")
    assert response.status_code == status, response.content
    if code:
        assert response.json()["error"]["code"] == code


def test_audience_pages_over_rest(stage: Stage) -> None:
    for _ in range(3):
        participant(stage.room, MemberFactory())
    url = f"/api/v1/rooms/{stage.room.pk}/audience/"
    first = as_user(stage.listener).get(url, {"limit": 2}).json()
    assert len(first["items"]) == 2
    assert first["audience_count"] == 4
    second = as_user(stage.listener).get(url, {"limit": 2, "cursor": first["next_cursor"]}).json()
    assert len(second["items"]) == 2
    assert second["next_cursor"] is None
    bad = as_user(stage.listener).get(url, {"limit": "many"})
    assert bad.status_code == 400


def test_ping_and_invite_and_share_link(stage: Stage) -> None:
    friend = MemberFactory()
    base = f"/api/v1/rooms/{stage.room.pk}"
    response = as_user(stage.listener).post(f"{base}/ping/", {"user_id": friend.pk}, format="json")
    assert response.json() == {"room_id": stage.room.pk, "user_id": friend.pk, "kind": "ping"}
    shared = as_user(friend).get(f"/api/v1/rooms/share/{stage.room.share_token}/")
    assert shared.status_code == 200
    assert shared.json()["id"] == stage.room.pk
    missing = as_user(friend).get("/api/v1/rooms/share/nope/")
    assert missing.status_code == 404


def test_a_closed_room_share_link_needs_an_invite(stage: Stage) -> None:
    Room.objects.filter(pk=stage.room.pk).update(type="closed")
    guest = MemberFactory()
    url = f"/api/v1/rooms/share/{stage.room.share_token}/"
    assert as_user(guest).get(url).json()["error"]["code"] == "closed_room_invite_only"
    as_user(stage.moderator).post(
        f"/api/v1/rooms/{stage.room.pk}/invite/", {"user_id": guest.pk}, format="json"
    )
    assert as_user(guest).get(url).status_code == 200


@pytest.mark.parametrize("count", [3, 30])
def test_hallway_endpoint_has_constant_queries(count: int, django_assert_num_queries) -> None:
    viewer = MemberFactory()
    for _ in range(count):
        room = RoomFactory()
        participant(room, MemberFactory(), "speaker")
        follow(viewer, room.created_by)
    client = as_user(viewer)
    # count + page + topics + stage (authentication is forced: no session queries)
    with django_assert_num_queries(4):
        response = client.get("/api/v1/hallway/", {"limit": 50})
    body = response.json()
    assert body["count"] == count
    assert len(body["results"]) == count


def test_hallway_is_paginated() -> None:
    viewer = MemberFactory()
    for _ in range(3):
        RoomFactory()
    body = as_user(viewer).get("/api/v1/rooms/", {"limit": 2}).json()
    assert len(body["results"]) == 2
    assert body["next"]


def test_search_endpoint() -> None:
    RoomFactory(title="Synth nerds")
    body = as_user(MemberFactory()).get("/api/v1/search/", {"q": "synth"}).json()
    assert [r["title"] for r in body["rooms"]] == ["Synth nerds"]


def test_events_create_rsvp_ics_and_start() -> None:
    host, fan = MemberFactory(), MemberFactory()
    starts = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    created = as_user(host).post(
        "/api/v1/events/",
        {"title": "Ask me anything", "starts_at": starts.isoformat()},
        format="json",
    )
    assert created.status_code == 201, created.content
    event_id = created.json()["id"]
    rsvp = as_user(fan).post(f"/api/v1/events/{event_id}/rsvp/")
    assert rsvp.json()["going"] is True
    assert rsvp.json()["rsvp_count"] == 1
    assert EventRSVP.objects.filter(event_id=event_id, user=fan).exists()
    ics = as_user(fan).get(f"/api/v1/events/{event_id}/ics/")
    assert ics.status_code == 200
    assert ics["Content-Type"].startswith("text/calendar")
    assert b"SUMMARY:Ask me anything" in ics.content
    upcoming = as_user(fan).get("/api/v1/events/upcoming/").json()
    assert [e["id"] for e in upcoming["results"]] == [event_id]
    refused = as_user(fan).post(f"/api/v1/events/{event_id}/start/")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "not_host"
    started = as_user(host).post(f"/api/v1/events/{event_id}/start/")
    assert started.status_code == 200
    assert started.json()["you"]["role"] == "moderator"
    assert ScheduledEvent.objects.get(pk=event_id).room_id == started.json()["room"]["id"]


def test_events_edit_and_cancel_by_hosts_only() -> None:
    event = EventFactory()
    url = f"/api/v1/events/{event.pk}/"
    assert as_user(MemberFactory()).patch(url, {"title": "x"}, format="json").status_code == 403
    edited = as_user(event.created_by).patch(url, {"title": "Renamed"}, format="json")
    assert edited.json()["title"] == "Renamed"
    assert as_user(event.created_by).delete(url).status_code == 204
    assert not ScheduledEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.parametrize("count", [3, 30])
def test_event_list_has_constant_queries(count: int, django_assert_num_queries) -> None:
    for _ in range(count):
        EventFactory()
    client = as_user(MemberFactory())
    with django_assert_num_queries(4):  # count, page, hosts, topics
        body = client.get("/api/v1/events/", {"limit": 50}).json()
    assert body["count"] == count


def test_anonymous_people_get_401_everywhere() -> None:
    client = APIClient()
    for url in ("/api/v1/hallway/", "/api/v1/search/?q=a", "/api/v1/events/"):
        response = client.get(url)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"


def test_every_room_action_is_in_the_openapi_schema(client) -> None:
    from rooms.api.views import ROOM_ACTIONS

    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    for slug, _, _ in ROOM_ACTIONS:
        assert f"/api/v1/rooms/{{room_id}}/{slug}/" in paths
    for path in ("/api/v1/hallway/", "/api/v1/search/", "/api/v1/events/{event_id}/ics/"):
        assert path in paths
