"""GET /api/v1/rtc/ice-servers (issue #22): a member's app gets STUN/TURN servers with a TURN
credential minted for that member; anyone else gets the project's error shape."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient

from media_relay.conf import listener_slots
from rooms.services import room_create
from tests.rooms.factories import MemberFactory, WaitlistedFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/rtc/ice-servers/"


@pytest.fixture(autouse=True)
def _turn(settings) -> None:
    settings.STUN_URLS = "stun:stun.example.org:3478"
    settings.TURN_URLS = "turn:turn.example.org:3478?transport=udp,turns:turn.example.org:5349"
    settings.TURN_SECRET = "api-test-secret"
    settings.TURN_TTL_SECONDS = "900"


def as_user(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_member_gets_stun_and_turn_with_their_own_short_lived_username() -> None:
    member = MemberFactory()
    before = int(time.time())
    response = as_user(member).get(URL)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    stun, turn = body["ice_servers"]
    assert stun == {"urls": ["stun:stun.example.org:3478"]}
    assert turn["urls"] == [
        "turn:turn.example.org:3478?transport=udp",
        "turns:turn.example.org:5349",
    ]
    expiry, user = turn["username"].split(":")
    assert user == str(member.pk)
    assert before + 900 <= int(expiry) <= int(time.time()) + 900
    assert body["expires_at"] == int(expiry)
    assert body["ttl_seconds"] == 900


def test_two_members_get_different_credentials() -> None:
    first = as_user(MemberFactory()).get(URL).json()["ice_servers"][1]
    second = as_user(MemberFactory()).get(URL).json()["ice_servers"][1]
    assert first["username"] != second["username"]
    assert first["credential"] != second["credential"]


def test_anonymous_is_refused_in_the_error_shape(api_client: APIClient) -> None:
    response = api_client.get(URL)
    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] == "not_authenticated"


def test_someone_on_the_waitlist_gets_no_turn_credential() -> None:
    response = as_user(WaitlistedFactory()).get(URL)
    assert response.status_code == 403
    assert "credential" not in response.content.decode()


def test_the_schema_describes_the_endpoint(api_client: APIClient) -> None:
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/api/v1/rtc/ice-servers/"]["get"]
    assert operation["operationId"] == "rtc_ice_servers"
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    shape = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert {"ice_servers", "expires_at", "ttl_seconds", "listener_slots"} <= set(
        shape["properties"]
    )


def test_the_listener_slot_count_reaches_the_app_and_the_page_alike(settings, client) -> None:
    """Apps offer as many receive slots as the relay forwards (the loudest speakers), and the
    room page gets the same number: a raised RELAY_LISTENER_SLOTS is heard, never dropped."""
    member = MemberFactory()
    room = room_create(user=MemberFactory(), title="Loud room")
    client.force_login(member)
    assert as_user(member).get(URL).json()["listener_slots"] == 3
    settings.RELAY_LISTENER_SLOTS = "5"  # as the environment gives it
    assert as_user(member).get(URL).json()["listener_slots"] == 5
    assert b'data-listener-slots="5"' in client.get(f"/rooms/{room.pk}/").content


@pytest.mark.parametrize(("value", "says"), [("many", "whole number"), ("0", "between 1 and 16")])
def test_a_bad_listener_slot_count_says_what_is_wrong(settings, value: str, says: str) -> None:
    settings.RELAY_LISTENER_SLOTS = value
    with pytest.raises(ImproperlyConfigured, match=f"RELAY_LISTENER_SLOTS.*{says}"):
        listener_slots()


def test_the_listener_slot_count_is_read_from_the_environment() -> None:
    """A fresh process with only the environment variable (as a deployment sets it): the web
    tier hands out, and a relay worker forwards, that many slots."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "clubhouse.settings",
        "DJANGO_DEBUG": "1",
        "RELAY_LISTENER_SLOTS": "6",
    }
    script = (
        "import django; django.setup()\n"
        "from media_relay.conf import listener_slots; from media_relay.worker import RelayWorker\n"
        "print(listener_slots(), RelayWorker(None, worker_id='env-check').slots)\n"
    )
    done = subprocess.run(  # noqa: S603 (this interpreter, a fixed script)
        [sys.executable, "-c", script],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split()[-2:] == ["6", "6"]
