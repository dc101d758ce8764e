"""The demo of `make run`, seen by a newcomer: whoever logs in with a demo login finds the live
music room (where the bots of `manage.py demo_speaker` play) first in the hallway, may enter
it, and finds a lively stage there. All through the real login, hallway and room API."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts import demo as accounts_demo
from accounts.demo import DEMO_PASSWORD, DEMO_PEOPLE
from accounts.models import Follow, Notification, User
from payouts.provider.standin import STANDIN
from rooms import demo, services
from rooms.management.commands import demo_speaker
from rooms.models import Room, RoomEventLog, RoomParticipant, RoomVisit

pytestmark = pytest.mark.django_db

LOGINS = [username for username, _ in DEMO_PEOPLE]


@pytest.fixture
def demo_output(settings: Any) -> Iterator[str]:
    """All of `manage.py demo_data`, as `make run` loads it; its output."""
    # The demo's passwords are hashed here and checked at login; the real hasher is slow on
    # purpose.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    STANDIN.reset()  # the payouts demo pays through the Stripe stand-in, which keeps state
    out = StringIO()
    call_command("demo_data", stdout=out)
    yield out.getvalue()
    STANDIN.reset()


def login(username: str) -> APIClient:
    """As a newcomer with the printed login: the app API's login, then its session token."""
    response = APIClient().post(
        "/_allauth/app/v1/auth/login",
        {"email": f"{username}@example.com", "password": DEMO_PASSWORD},
        format="json",
    )
    assert response.status_code == 200, response.json()
    return APIClient(HTTP_X_SESSION_TOKEN=response.json()["meta"]["session_token"])


def test_every_demo_login_finds_the_music_room_first_in_the_hallway(demo_output: str) -> None:
    first_cards = {}
    for username in LOGINS:
        hallway = login(username).get("/api/v1/hallway/").json()["results"]
        first_cards[username] = hallway[0]["title"]
    assert first_cards == dict.fromkeys(LOGINS, demo.MUSIC_ROOM.title)


def test_every_demo_login_may_join_the_music_room(demo_output: str) -> None:
    room = Room.objects.get(title=demo.MUSIC_ROOM.title, status=Room.Status.LIVE)
    joined = {}
    for username in LOGINS:
        response = login(username).post(f"/api/v1/rooms/{room.pk}/join/")
        joined[username] = (response.status_code, response.json()["you"]["role"] is not None)
    assert joined == dict.fromkeys(LOGINS, (200, True))


def test_the_music_room_has_the_bots_on_stage_an_audience_and_a_raised_hand(
    demo_output: str,
) -> None:
    client = login("ada")
    card = client.get("/api/v1/hallway/").json()["results"][0]
    snapshot = client.post(f"/api/v1/rooms/{card['id']}/join/").json()
    on_stage = {item["user"]["username"]: item["muted"] for item in snapshot["stage"]}
    # the people demo_speaker plays as, by default, are all on stage with their microphones on
    assert len(demo_speaker.DEFAULT_USERS) >= 2
    bots = demo_speaker.DEFAULT_USERS
    assert {username: on_stage.get(username) for username in bots} == dict.fromkeys(bots, False)
    assert snapshot["room"]["title"] == demo_speaker.DEFAULT_ROOM
    assert snapshot["audience_count"] >= 4  # the demo's listeners, and ada now
    assert snapshot["hands_count"] >= 1
    assert {s["username"] for s in card["speakers"]} >= set(demo_speaker.DEFAULT_USERS)


def test_the_quiet_talk_room_comes_second_with_its_microphones_muted(demo_output: str) -> None:
    hallway = login("hedy").get("/api/v1/hallway/").json()["results"]
    assert [card["title"] for card in hallway] == [demo.MUSIC_ROOM.title, demo.TALK_ROOM.title]
    snapshot = login("hedy").get(f"/api/v1/rooms/{hallway[1]['id']}/").json()
    assert snapshot["stage"]
    assert all(item["muted"] for item in snapshot["stage"])


def test_demo_data_prints_the_logins_and_where_to_listen(demo_output: str) -> None:
    assert "ada@example.com … hedy@example.com, password clubhouse-demo" in demo_output
    assert "open the first room in the hallway to listen" in demo_output
    assert f"Live room: {demo.MUSIC_ROOM.title!r}" in demo_output


def _counts() -> tuple[int, ...]:
    models: list[Any] = [Room, RoomParticipant, RoomVisit, RoomEventLog, Follow, Notification]
    return tuple(model.objects.count() for model in models)


def test_demo_data_a_second_time_changes_no_room(demo_output: str) -> None:
    first = _counts()
    hands = list(RoomParticipant.objects.filter(hand_raised_at__isnull=False).values_list("pk"))
    call_command("demo_data", stdout=StringIO())
    assert _counts() == first
    assert list(RoomParticipant.objects.filter(hand_raised_at__isnull=False).values_list("pk")) == (
        hands
    )


def test_demo_data_again_keeps_out_a_listener_the_moderator_removed(demo_output: str) -> None:
    room = Room.objects.get(title=demo.MUSIC_ROOM.title, status=Room.Status.LIVE)
    nina, frida = User.objects.get(username="nina"), User.objects.get(username="frida")
    services.room_user_remove(user=nina, room_id=room.pk, target_id=frida.pk)
    out = StringIO()
    call_command("demo_data", stdout=out)
    assert not RoomParticipant.objects.filter(room=room, user=frida).exists()
    assert f"Live room: {demo.MUSIC_ROOM.title!r}" in out.getvalue()


def test_a_social_music_room_left_by_an_older_demo_data_is_ended() -> None:
    list(accounts_demo.load())
    nina = User.objects.get(username="nina")
    old = services.room_create(user=nina, title=demo.MUSIC_ROOM.title, type=Room.Type.SOCIAL)
    list(demo.load())
    old.refresh_from_db()
    assert old.status == Room.Status.ENDED
    live = Room.objects.filter(title=demo.MUSIC_ROOM.title, status=Room.Status.LIVE)
    assert [room.type for room in live] == [Room.Type.OPEN]


def test_a_bot_whose_room_ended_opens_it_again_with_its_band_and_audience(
    demo_output: str,
) -> None:
    old = Room.objects.get(title=demo_speaker.DEFAULT_ROOM, status=Room.Status.LIVE)
    services.room_end(user=User.objects.get(username="nina"), room_id=old.pk)
    room_id, token = demo_speaker.prepare(
        "miles", demo_speaker.DEFAULT_ROOM, demo_speaker.DEFAULT_USERS
    )
    assert room_id != old.pk
    assert token
    snapshot = login("ada").post(f"/api/v1/rooms/{room_id}/join/").json()
    assert [item["user"]["username"] for item in snapshot["stage"]] == list(
        demo_speaker.DEFAULT_USERS
    )
    assert snapshot["audience_count"] >= 4
    assert snapshot["hands_count"] >= 1
    assert login("hedy").get("/api/v1/hallway/").json()["results"][0]["id"] == room_id


def test_a_bot_that_left_the_stage_is_invited_back_onto_it(demo_output: str) -> None:
    room = Room.objects.get(title=demo_speaker.DEFAULT_ROOM, status=Room.Status.LIVE)
    miles = User.objects.get(username="miles")
    services.room_leave(user=miles, room_id=room.pk)
    room_id, _ = demo_speaker.prepare(
        "miles", demo_speaker.DEFAULT_ROOM, demo_speaker.DEFAULT_USERS
    )
    assert room_id == room.pk
    row = RoomParticipant.objects.get(room=room, user=miles)
    assert (row.role, row.muted) == (RoomParticipant.Role.SPEAKER, False)


def test_make_run_starts_the_whole_band_in_the_demo_room(
    demo_output: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[Any] = []

    async def run(band: demo_speaker.Band) -> None:
        started.append(band)

    monkeypatch.setattr(demo_speaker.Band, "run", run)
    # the Makefile's `run` target gives only the socket's address
    call_command("demo_speaker", "--url", "ws://127.0.0.1:8000/ws/", stdout=StringIO())
    [band] = started
    assert [bot.username for bot in band.bots] == ["nina", "miles", "linus"]
    assert {bot.title for bot in band.bots} == {demo.MUSIC_ROOM.title}
    assert sorted(bot.player for bot in band.bots) == [0, 1, 2]


def test_the_speaker_asks_for_the_demo_data_when_a_bot_has_no_account() -> None:
    with pytest.raises(CommandError, match=r"run `manage\.py demo_data` first"):
        call_command("demo_speaker", "--user", "nobody", stdout=StringIO())
