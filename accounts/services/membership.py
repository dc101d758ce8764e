"""The one place a person becomes a member (with its audit entry)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from accounts.models import (
    AccountEvent,
    User,
    WaitlistVouch,
)


def user_membership_start(
    *,
    user: User,
    invited_by: User | None,
    how: str,
    actor: User | None,
    data: dict[str, Any] | None = None,
) -> None:
    """Caller holds the lock on `user` and has checked they are waitlisted."""
    AccountEvent.objects.create(user=user, kind=how, actor=actor, data=data or {})
    user.status = User.Status.MEMBER
    user.joined_at = timezone.now()
    if invited_by is not None:
        user.invited_by = invited_by
    user.save(update_fields=["status", "joined_at", "invited_by"])
    WaitlistVouch.objects.filter(requester=user).delete()
