"""Web Push end to end (issue #17, point 4): a browser's subscription is stored through the API,
a notification of a pushed kind leaves on commit, and the push reaches a push service, here a
local HTTP endpoint started by the test. The test holds the subscription's private key and auth
secret as a browser would, decrypts the body (RFC 8291, aes128gcm) and reads the text. Expired
subscriptions (404/410) are removed.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.urls import reverse
from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.models import PushSubscription, User
from accounts.push import vapid_key_pair
from rooms import schedule_services
from rooms import services as room_services
from tests.factories import FollowFactory, UserFactory
from tests.rooms.factories import EventFactory, RoomFactory, participant

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class PushService:
    """A push service on 127.0.0.1: records each POST and answers `status`."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    status: int = 201


@pytest.fixture
def push_service() -> Iterator[PushService]:
    service = PushService(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            service.received.append(
                {
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body,
                }
            )
            self.send_response(service.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    service.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield service
    server.shutdown()
    server.server_close()


@pytest.fixture
def vapid(settings: Any) -> str:
    private, public = vapid_key_pair()
    settings.VAPID_PRIVATE_KEY = private
    settings.VAPID_PUBLIC_KEY = public
    settings.VAPID_SUBJECT = "mailto:ops@example.org"
    settings.WEB_PUSH_ALLOW_HTTP = True
    return public


@dataclass
class Browser:
    """What a browser keeps for its push subscription: the receiving key pair and the secret."""

    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    endpoint: str

    def subscription_json(self) -> dict[str, Any]:
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64url(public), "auth": b64url(self.auth)},
        }

    def decrypt(self, body: bytes) -> dict[str, Any]:
        plain = http_ece.decrypt(
            body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm"
        )
        return json.loads(plain)


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def subscribe(push_service: PushService, vapid: str) -> Callable[[User], Browser]:
    def make(user: User) -> Browser:
        browser = Browser(
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth=os.urandom(16),
            endpoint=f"{push_service.url}/push/{user.username}/{os.urandom(4).hex()}",
        )
        response = client_for(user).post(
            "/api/v1/me/push-subscriptions/", browser.subscription_json(), format="json"
        )
        assert response.status_code == 201, response.content
        return browser

    return make


def test_a_speaker_invite_reaches_the_device_encrypted_and_signed(
    push_service: PushService,
    subscribe: Callable[[User], Browser],
    vapid: str,
    django_capture_on_commit_callbacks: Any,
) -> None:
    room = RoomFactory(title="Late night jazz")
    moderator = room.created_by
    moderator.display_name = "Mia"
    moderator.save()
    listener = UserFactory()
    participant(room, listener)
    browser = subscribe(listener)

    with django_capture_on_commit_callbacks(execute=True):
        room_services.room_speaker_invite(user=moderator, room_id=room.pk, target_id=listener.pk)

    [push] = push_service.received
    assert push["path"] == browser.endpoint.removeprefix(push_service.url)
    assert push["headers"]["content-encoding"] == "aes128gcm"
    assert int(push["headers"]["ttl"]) > 0
    # Signed by this server's VAPID key (RFC 8292): `vapid t=<jwt>, k=<public key>`
    authorization = push["headers"]["authorization"]
    assert authorization.startswith("vapid ")
    assert f"k={vapid}" in authorization
    jwt = authorization.split("t=")[1].split(",")[0]
    claims = json.loads(b64url_decode(jwt.split(".")[1]))
    assert claims["aud"] == push_service.url
    assert claims["sub"] == "mailto:ops@example.org"

    message = browser.decrypt(push["body"])
    assert message["title"] == "You're invited to speak"
    assert message["body"] == "Mia invited you on stage in “Late night jazz”."
    assert message["url"] == reverse("web_room", args=[room.pk])
    assert PushSubscription.objects.get(endpoint=browser.endpoint).last_success_at is not None


def test_someone_you_follow_starting_a_room_reaches_your_device(
    push_service: PushService,
    subscribe: Callable[[User], Browser],
    django_capture_on_commit_callbacks: Any,
) -> None:
    host, fan, stranger = UserFactory(display_name="Ada"), UserFactory(), UserFactory()
    FollowFactory(follower=fan, followee=host)
    fan_phone = subscribe(fan)
    subscribe(stranger)

    with django_capture_on_commit_callbacks(execute=True):
        room = room_services.room_create(user=host, title="Compilers at dawn")

    [push] = push_service.received  # the follower only
    message = fan_phone.decrypt(push["body"])
    assert message["title"] == "Ada started a room"
    assert message["body"] == "Compilers at dawn"
    assert message["url"] == f"/rooms/{room.pk}/"
    assert fan.notifications.filter(kind="room_started").count() == 1


def test_a_closed_room_is_not_announced_to_followers(
    push_service: PushService,
    subscribe: Callable[[User], Browser],
    django_capture_on_commit_callbacks: Any,
) -> None:
    host, fan = UserFactory(), UserFactory()
    FollowFactory(follower=fan, followee=host)
    subscribe(fan)
    with django_capture_on_commit_callbacks(execute=True):
        room_services.room_create(user=host, title="Private", type="closed")
    assert push_service.received == []
    assert not fan.notifications.filter(kind="room_started").exists()


def test_the_event_you_rsvpd_starting_reaches_your_device(
    push_service: PushService,
    subscribe: Callable[[User], Browser],
    django_capture_on_commit_callbacks: Any,
) -> None:
    event = EventFactory(title="Book club: Dune")
    guest = UserFactory()
    schedule_services.event_rsvp_set(user=guest, event_id=event.pk, going=True)
    phone = subscribe(guest)

    with django_capture_on_commit_callbacks(execute=True):
        room = schedule_services.event_start_room(user=event.created_by, event_id=event.pk)

    [push] = push_service.received
    message = phone.decrypt(push["body"])
    assert message["title"] == "An event you're going to is starting"
    assert message["body"] == "“Book club: Dune” is live now."
    assert message["url"] == f"/rooms/{room.pk}/"


def test_an_ordinary_notification_is_not_pushed(
    push_service: PushService,
    subscribe: Callable[[User], Browser],
    django_capture_on_commit_callbacks: Any,
) -> None:
    alice, bob = UserFactory(), UserFactory()
    subscribe(alice)
    with django_capture_on_commit_callbacks(execute=True):
        account_services.user_follow(follower=bob, followee=alice)
    assert push_service.received == []  # "followed you" stays in the app


@pytest.mark.parametrize("gone", [404, 410])
def test_an_expired_subscription_is_removed_and_the_others_still_get_it(
    gone: int,
    push_service: PushService,
    subscribe: Callable[[User], Browser],
    django_capture_on_commit_callbacks: Any,
) -> None:
    room = RoomFactory()
    listener = UserFactory()
    participant(room, listener)
    old_laptop = subscribe(listener)
    phone = subscribe(listener)
    push_service.status = gone

    with django_capture_on_commit_callbacks(execute=True):
        room_services.room_speaker_invite(
            user=room.created_by, room_id=room.pk, target_id=listener.pk
        )

    assert len(push_service.received) == 2
    assert not PushSubscription.objects.filter(user=listener).exists()
    del old_laptop, phone


def test_a_push_service_error_keeps_the_subscription(
    push_service: PushService,
    subscribe: Callable[[User], Browser],
    django_capture_on_commit_callbacks: Any,
) -> None:
    room = RoomFactory()
    listener = UserFactory()
    participant(room, listener)
    subscribe(listener)
    push_service.status = 500
    with django_capture_on_commit_callbacks(execute=True):
        room_services.room_speaker_invite(
            user=room.created_by, room_id=room.pk, target_id=listener.pk
        )
    assert len(push_service.received) == 1
    assert PushSubscription.objects.filter(user=listener).count() == 1


# --- the subscription endpoints ----------------------------------------------------------------


def test_the_key_endpoint_gives_the_public_key(vapid: str) -> None:
    response = client_for(UserFactory()).get("/api/v1/push/key/")
    assert response.json() == {"enabled": True, "public_key": vapid}


def test_without_keys_push_is_off_and_subscribing_is_a_conflict(settings: Any) -> None:
    settings.VAPID_PRIVATE_KEY = settings.VAPID_PUBLIC_KEY = ""
    client = client_for(UserFactory())
    assert client.get("/api/v1/push/key/").json() == {"enabled": False, "public_key": ""}
    body = Browser(
        ec.generate_private_key(ec.SECP256R1()), os.urandom(16), "https://push.example/x"
    )
    response = client.post(
        "/api/v1/me/push-subscriptions/", body.subscription_json(), format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "push_not_configured"


def test_subscribing_again_refreshes_and_a_device_moves_to_whoever_subscribes_on_it(
    vapid: str,
) -> None:
    first, second = UserFactory(), UserFactory()
    browser = Browser(
        ec.generate_private_key(ec.SECP256R1()), os.urandom(16), "https://push.example/d1"
    )
    assert (
        client_for(first)
        .post("/api/v1/me/push-subscriptions/", browser.subscription_json(), format="json")
        .status_code
        == 201
    )
    again = client_for(first).post(
        "/api/v1/me/push-subscriptions/", browser.subscription_json(), format="json"
    )
    assert again.status_code == 200
    client_for(second).post(
        "/api/v1/me/push-subscriptions/", browser.subscription_json(), format="json"
    )
    assert list(PushSubscription.objects.values_list("user_id", flat=True)) == [second.pk]
    listed = client_for(second).get("/api/v1/me/push-subscriptions/").json()["results"]
    assert [row["endpoint"] for row in listed] == ["https://push.example/d1"]
    assert client_for(first).get("/api/v1/me/push-subscriptions/").json()["results"] == []


def test_unsubscribing_removes_the_device_and_is_idempotent(vapid: str) -> None:
    user = UserFactory()
    browser = Browser(
        ec.generate_private_key(ec.SECP256R1()), os.urandom(16), "https://push.example/d2"
    )
    client = client_for(user)
    client.post("/api/v1/me/push-subscriptions/", browser.subscription_json(), format="json")
    url = "/api/v1/me/push-subscriptions/unsubscribe/"
    assert client.post(url, {"endpoint": browser.endpoint}, format="json").json() == {"removed": 1}
    assert client.post(url, {"endpoint": browser.endpoint}, format="json").json() == {"removed": 0}
    assert not PushSubscription.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"endpoint": "not a url"}, "endpoint"),
        ({"keys": {"p256dh": "short", "auth": "AAAAAAAAAAAAAAAAAAAAAA"}}, "keys"),
        ({"keys": {"p256dh": "B" * 87, "auth": "x"}}, "keys"),
    ],
)
def test_a_malformed_subscription_is_a_400_naming_the_field(
    vapid: str, change: dict[str, Any], field: str
) -> None:
    browser = Browser(
        ec.generate_private_key(ec.SECP256R1()), os.urandom(16), "https://push.example/d3"
    )
    body = {**browser.subscription_json(), **change}
    response = client_for(UserFactory()).post("/api/v1/me/push-subscriptions/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert any(name.startswith(field) for name in response.json()["error"]["fields"])


def test_a_plain_http_endpoint_is_refused_in_production(vapid: str, settings: Any) -> None:
    settings.WEB_PUSH_ALLOW_HTTP = False
    browser = Browser(ec.generate_private_key(ec.SECP256R1()), os.urandom(16), "http://10.0.0.5/x")
    response = client_for(UserFactory()).post(
        "/api/v1/me/push-subscriptions/", browser.subscription_json(), format="json"
    )
    assert response.status_code == 400
    assert "endpoint" in response.json()["error"]["fields"]


def test_subscribing_needs_a_login() -> None:
    response = APIClient().post("/api/v1/me/push-subscriptions/", {}, format="json")
    assert response.status_code in (401, 403)


def test_deleting_the_account_removes_its_devices_and_the_export_lists_them(
    vapid: str,
) -> None:
    user = UserFactory()
    browser = Browser(
        ec.generate_private_key(ec.SECP256R1()), os.urandom(16), "https://push.example/d9"
    )
    client_for(user).post(
        "/api/v1/me/push-subscriptions/",
        browser.subscription_json(),
        format="json",
        HTTP_USER_AGENT="Firefox/140",
    )
    exported = client_for(user).get("/api/v1/me/export/").json()
    [device] = exported["push_subscriptions"]
    assert device["endpoint"] == "https://push.example/d9"
    assert device["user_agent"] == "Firefox/140"
    assert "p256dh" not in json.dumps(exported["push_subscriptions"])
    assert exported["notification_settings"] == {
        "email_event_reminders": True,
        "email_weekly_digest": True,
    }

    account_services.account_delete(user=user, actor=user, reason="self")
    assert not PushSubscription.objects.exists()
