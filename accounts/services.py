"""Every write about people. Services own their transactions; side effects leave on commit."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.models import Notification, User


def notification_create(
    *, recipient: User, kind: str, actor: User | None = None, data: dict[str, Any] | None = None
) -> Notification:
    """Other apps notify people through this (room invites, pings, reminders, money)."""
    with transaction.atomic():
        return Notification.objects.create(
            recipient=recipient, kind=kind, actor=actor, data=data or {}
        )
