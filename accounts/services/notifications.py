"""Notifications: other apps create them through `notification_create`.

Once a notification commits it reaches the person wherever they are (docs/accounts.md, "Notifications"):
their open sockets at once (`notification.created`, with the new unread count), their devices
by Web Push for the kinds accounts/push.py names, and their inbox for event reminders if they
want them. The last two run in Celery tasks, off the request.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts import events, mail
from accounts.models import (
    Block,
    Follow,
    Notification,
    PushSubscription,
    User,
)
from accounts.push import push_configured, push_endpoint_allowed, push_message
from accounts.tasks import event_reminder_email_send, notification_push_send
from clubhouse.errors import Conflict, InvalidInput, NotFound

# The kinds `notification_create` takes: other apps name them through this seam, never through
# accounts.models (`NotificationKind.MONEY`).
NotificationKind = Notification.Kind


def notification_create(
    *, recipient: User, kind: str, actor: User | None = None, data: dict[str, Any] | None = None
) -> Notification:
    """Other apps notify people through this (room invites, pings, reminders, money)."""
    with transaction.atomic():
        notification = Notification.objects.create(
            recipient=recipient, kind=kind, actor=actor, data=data or {}
        )
        transaction.on_commit(lambda: _delivered([notification.pk]))
        return notification


def notifications_create_many(items: list[tuple[int, str, dict[str, Any]]]) -> int:
    """(recipient id, kind, data) each, in one insert: a batch job telling many people at once
    (a stipend run's chunk)."""
    with transaction.atomic():
        created = Notification.objects.bulk_create(
            Notification(recipient_id=recipient_id, kind=kind, data=data)
            for recipient_id, kind, data in items
        )
        ids = [n.pk for n in created if n.pk is not None]
        transaction.on_commit(lambda: _delivered(ids))
    return len(items)


FOLLOWERS_CHUNK = 1000


def notifications_to_followers_create(*, actor_id: int, kind: str, data: dict[str, Any]) -> int:
    """Tell every member who follows `actor_id` (someone you follow started a room), in chunks
    of one insert each. People on either side of a block with the actor are left out. Meant for
    a background job: a popular member has many followers. Returns how many were told."""
    follower_ids = (
        User.objects.filter(
            is_active=True,
            status=User.Status.MEMBER,
            pk__in=Follow.objects.filter(followee_id=actor_id).values("follower_id"),
        )
        .exclude(pk__in=Block.objects.filter(blocker_id=actor_id).values("blocked_id"))
        .exclude(pk__in=Block.objects.filter(blocked_id=actor_id).values("blocker_id"))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    told = 0
    chunk: list[int] = []
    for follower_id in follower_ids.iterator(chunk_size=FOLLOWERS_CHUNK):
        chunk.append(follower_id)
        if len(chunk) == FOLLOWERS_CHUNK:
            told += _to_followers(chunk, actor_id, kind, data)
            chunk = []
    if chunk:
        told += _to_followers(chunk, actor_id, kind, data)
    return told


def _to_followers(ids: list[int], actor_id: int, kind: str, data: dict[str, Any]) -> int:
    with transaction.atomic():
        created = Notification.objects.bulk_create(
            Notification(recipient_id=i, actor_id=actor_id, kind=kind, data=data) for i in ids
        )
        created_ids = [n.pk for n in created if n.pk is not None]
        transaction.on_commit(lambda: _delivered(created_ids))
    return len(ids)


def _unread_counts(user_ids: Iterable[int]) -> dict[int, int]:
    rows = (
        Notification.objects.filter(recipient_id__in=list(user_ids), read_at__isnull=True)
        .values("recipient_id")
        .annotate(n=Count("id"))
    )
    return {row["recipient_id"]: row["n"] for row in rows}


def _delivered(notification_ids: list[int]) -> None:
    """After commit: each recipient's sockets learn of it, and the push and e-mail jobs are
    queued for those who have a device subscribed or want the reminder mail. Runs on commit:
    a failure here is logged by the hooks and the queue, never undoes the notification."""
    notifications = list(
        Notification.objects.filter(pk__in=notification_ids)
        .select_related("actor", "recipient")
        .order_by("pk")
    )
    if not notifications:
        return
    unread = _unread_counts({n.recipient_id for n in notifications})
    for n in notifications:
        events.notification_created(
            user_id=n.recipient_id,
            notification=_socket_shape(n),
            unread=unread.get(n.recipient_id, 0),
        )
    pushable = [n for n in notifications if push_message(n) is not None]
    if pushable and push_configured():
        subscribed = set(
            PushSubscription.objects.filter(
                user_id__in={n.recipient_id for n in pushable}
            ).values_list("user_id", flat=True)
        )
        for n in pushable:
            if n.recipient_id in subscribed:
                notification_push_send.delay(n.pk)
    for n in notifications:
        if n.kind == Notification.Kind.EVENT_REMINDER and mail.reminder_mail_wanted(n.recipient):
            event_reminder_email_send.delay(n.pk)


def _socket_shape(n: Notification) -> dict[str, Any]:
    """The notification as the socket carries it (docs/protocol.md, `notification.created`):
    the REST list's fields, with the actor as a username and name (no avatar URL to build)."""
    actor = n.actor
    return {
        "id": n.pk,
        "kind": n.kind,
        "actor": None
        if actor is None
        else {"id": actor.pk, "username": actor.username, "display_name": actor.display_name},
        "data": n.data,
        "created": n.created.isoformat(),
        "read_at": None,
        "read": False,
    }


def _read_on_commit(user_id: int) -> None:
    def send() -> None:
        unread = _unread_counts([user_id]).get(user_id, 0)
        events.notifications_read(user_id=user_id, unread=unread)

    transaction.on_commit(send)


def notification_mark_read(*, user: User, notification_id: int) -> Notification:
    """Idempotent: marking a read notification again keeps its first read time."""
    with transaction.atomic():
        notification = Notification.objects.filter(pk=notification_id, recipient=user).first()
        if notification is None:
            raise NotFound("No such notification.", code="notification_not_found")
        if notification.read_at is None:
            notification.read_at = timezone.now()
            notification.save(update_fields=["read_at"])
            _read_on_commit(user.pk)
        return notification


def notification_mark_all_read(*, user: User) -> int:
    with transaction.atomic():
        marked = Notification.objects.filter(recipient=user, read_at__isnull=True).update(
            read_at=timezone.now()
        )
        if marked:
            _read_on_commit(user.pk)
        return marked


# --- notification settings and e-mail unsubscribe ---------------------------------------------
EMAIL_SETTINGS = ("email_event_reminders", "email_weekly_digest")


def notification_settings_update(*, user: User, changes: dict[str, Any]) -> User:
    """Turn e-mail kinds on or off; `changes` maps a field of EMAIL_SETTINGS to a boolean."""
    unknown = sorted(set(changes) - set(EMAIL_SETTINGS))
    if unknown:
        raise InvalidInput(fields={name: ["Unknown setting."] for name in unknown})
    wrong = {k: ["Must be true or false."] for k, v in changes.items() if not isinstance(v, bool)}
    if wrong:
        raise InvalidInput(fields=wrong)
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        for name, value in changes.items():
            setattr(locked, name, value)
        if changes:
            locked.save(update_fields=list(changes))
    for name, value in changes.items():
        setattr(user, name, value)
    return user


def email_unsubscribe(*, token: str) -> tuple[User, str]:
    """The one-click unsubscribe link of a mail: turns off the kind of mail it came with.
    Idempotent (a second click changes nothing); a bad or tampered token is refused."""
    found = mail.unsubscribe_token_read(token)
    if found is None:
        raise InvalidInput(
            "This unsubscribe link is not valid; change your e-mail settings after logging in.",
            code="unsubscribe_invalid",
        )
    user_id, setting = found
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=user_id).first()
        if user is None:
            raise NotFound("No such account.", code="unsubscribe_invalid")
        if getattr(user, setting):
            setattr(user, setting, False)
            user.save(update_fields=[setting])
    return user, setting


# --- Web Push subscriptions ---------------------------------------------------------------------
def push_subscription_save(
    *, user: User, endpoint: str, p256dh: str, auth: str, user_agent: str = ""
) -> tuple[PushSubscription, bool]:
    """Store (or refresh) one device's subscription. A browser's endpoint is its own: if it was
    another account's on this device (a different member logged in), it moves to this one."""
    if not push_configured():
        raise Conflict(
            "Push notifications are not set up on this server.", code="push_not_configured"
        )
    if not push_endpoint_allowed(endpoint):
        raise InvalidInput(fields={"endpoint": ["Must be an https:// push service address."]})
    with transaction.atomic():
        subscription, created = PushSubscription.objects.select_for_update().update_or_create(
            endpoint=endpoint,
            defaults={
                "user": user,
                "p256dh": p256dh,
                "auth": auth,
                "user_agent": user_agent[:256],
            },
        )
    return subscription, created


def push_subscription_delete(*, user: User, endpoint: str) -> int:
    """Idempotent: unsubscribing a device that is not subscribed deletes nothing."""
    with transaction.atomic():
        deleted, _ = PushSubscription.objects.filter(Q(user=user) & Q(endpoint=endpoint)).delete()
    return deleted
