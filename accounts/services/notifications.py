"""Notifications: other apps create them through `notification_create`."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import (
    Notification,
    User,
)
from clubhouse.errors import NotFound

# The kinds `notification_create` takes: other apps name them through this seam, never through
# accounts.models (`NotificationKind.MONEY`).
NotificationKind = Notification.Kind


def notification_create(
    *, recipient: User, kind: str, actor: User | None = None, data: dict[str, Any] | None = None
) -> Notification:
    """Other apps notify people through this (room invites, pings, reminders, money)."""
    with transaction.atomic():
        return Notification.objects.create(
            recipient=recipient, kind=kind, actor=actor, data=data or {}
        )


def notifications_create_many(items: list[tuple[int, str, dict[str, Any]]]) -> int:
    """(recipient id, kind, data) each, in one insert: a batch job telling many people at once
    (a stipend run's chunk)."""
    Notification.objects.bulk_create(
        Notification(recipient_id=recipient_id, kind=kind, data=data)
        for recipient_id, kind, data in items
    )
    return len(items)


def notification_mark_read(*, user: User, notification_id: int) -> Notification:
    """Idempotent: marking a read notification again keeps its first read time."""
    with transaction.atomic():
        notification = Notification.objects.filter(pk=notification_id, recipient=user).first()
        if notification is None:
            raise NotFound("No such notification.", code="notification_not_found")
        if notification.read_at is None:
            notification.read_at = timezone.now()
            notification.save(update_fields=["read_at"])
        return notification


def notification_mark_all_read(*, user: User) -> int:
    with transaction.atomic():
        return Notification.objects.filter(recipient=user, read_at__isnull=True).update(
            read_at=timezone.now()
        )
