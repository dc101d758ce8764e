"""Web Push: which notifications reach a member's devices, what they say, and the one call that
delivers them (pywebpush: RFC 8291 aes128gcm encryption, RFC 8292 VAPID signature).

The writes around it (saving a subscription, dropping an expired one) are services
(accounts/services/push.py); the sending runs in a Celery task, after commit.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from pywebpush import WebPushException, webpush

from accounts.models import Notification, PushSubscription

logger = logging.getLogger(__name__)

# How long a push service keeps a push for a device that is offline: a room that started an
# hour ago is not worth waking a phone for.
PUSH_TTL_SECONDS = 15 * 60
PUSH_TIMEOUT_SECONDS = 10


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def vapid_key_pair() -> tuple[str, str]:
    """A new (private, public) pair in the settings' format: the raw P-256 scalar and the
    uncompressed public point, each base64url without padding."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_numbers().private_value.to_bytes(32, "big")
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return _b64url(private), _b64url(public)


def push_configured() -> bool:
    return bool(settings.VAPID_PRIVATE_KEY and settings.VAPID_PUBLIC_KEY)


def push_endpoint_allowed(endpoint: str) -> bool:
    """https:// always; http:// only where settings allow it (development, the tests)."""
    parts = urlsplit(endpoint)
    if not parts.hostname:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and settings.WEB_PUSH_ALLOW_HTTP)


@dataclass(frozen=True)
class PushMessage:
    title: str
    body: str
    url: str  # a path on this site: the service worker opens it when the push is clicked
    tag: str  # a newer push with the same tag replaces the older one on the device

    def payload(self) -> bytes:
        return json.dumps(
            {"title": self.title, "body": self.body, "url": self.url, "tag": self.tag}
        ).encode()


def _actor_name(notification: Notification) -> str:
    actor = notification.actor
    return actor.name if actor is not None else "Someone"


def push_message(notification: Notification) -> PushMessage | None:
    """The push for a notification, or None when its kind does not go to devices.

    Three kinds do (issue #17): a room you RSVP'd is starting (the event's host pings its
    RSVPs into the room; the ping carries `event_id`), someone you follow started a room, you
    are invited to speak. The rest stay in-app (and on the socket)."""
    data: dict[str, Any] = notification.data or {}
    room_id = data.get("room_id")
    if not isinstance(room_id, int):
        return None
    url = reverse("web_room", args=[room_id])
    title = str(data.get("title") or "").strip()
    kind = notification.kind
    if kind == Notification.Kind.SPEAKER_INVITE:
        where = f" in “{title}”" if title else ""
        return PushMessage(
            title="You're invited to speak",
            body=f"{_actor_name(notification)} invited you on stage{where}.",
            url=url,
            tag=f"room-{room_id}-speak",
        )
    if kind == Notification.Kind.ROOM_STARTED:
        return PushMessage(
            title=f"{_actor_name(notification)} started a room",
            body=title or "Join them live now.",
            url=url,
            tag=f"room-{room_id}",
        )
    if kind in (Notification.Kind.ROOM_PING, Notification.Kind.ROOM_INVITE) and data.get(
        "event_id"
    ):
        return PushMessage(
            title="An event you're going to is starting",
            body=f"“{title}” is live now." if title else "It is live now.",
            url=url,
            tag=f"room-{room_id}",
        )
    return None


class PushGone(Exception):
    """The push service answered 404 or 410: this subscription is no more."""


def push_deliver(subscription: PushSubscription, message: PushMessage) -> None:
    """POST one encrypted push. Raises PushGone for an expired subscription, WebPushException
    for any other refusal, requests' errors for a network failure."""
    try:
        webpush(
            subscription_info={
                "endpoint": subscription.endpoint,
                "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
            },
            data=message.payload(),
            vapid_private_key=settings.VAPID_PRIVATE_KEY,
            # a fresh dict each time: pywebpush adds `aud` and `exp` to the one it is given
            vapid_claims={"sub": settings.VAPID_SUBJECT},
            content_encoding="aes128gcm",
            ttl=PUSH_TTL_SECONDS,
            timeout=PUSH_TIMEOUT_SECONDS,
        )
    except WebPushException as exc:
        status = getattr(exc.response, "status_code", None)
        if status in (404, 410):
            raise PushGone(str(status)) from exc
        raise


def notification_push_send(notification_id: int) -> int:
    """Push a notification to each of its recipient's devices; returns how many accepted it.

    A subscription the push service calls gone (404/410) is deleted here; any other failure
    is logged and the subscription kept (the push service may be down for a while)."""
    notification = (
        Notification.objects.select_related("actor", "recipient").filter(pk=notification_id).first()
    )
    if notification is None or not push_configured() or not notification.recipient.is_member:
        return 0
    message = push_message(notification)
    if message is None:
        return 0
    delivered = 0
    for subscription in PushSubscription.objects.filter(user_id=notification.recipient_id):
        try:
            push_deliver(subscription, message)
        except PushGone:
            PushSubscription.objects.filter(pk=subscription.pk).delete()
            logger.info("web push: subscription %s expired; removed", subscription.pk)
            continue
        except Exception:
            logger.exception("web push: delivery to subscription %s failed", subscription.pk)
            continue
        PushSubscription.objects.filter(pk=subscription.pk).update(last_success_at=timezone.now())
        delivered += 1
    return delivered
