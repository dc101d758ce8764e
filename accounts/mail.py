"""The mails people may switch off (docs/accounts.md, "Notifications"): event reminders and the weekly
digest. Each carries a one-click unsubscribe link (a signed token naming the person and the
kind of mail; it works without logging in) in its text and in the `List-Unsubscribe` header
(RFC 2369), with `List-Unsubscribe-Post` so mail clients can unsubscribe in one click
(RFC 8058).

Only a confirmed address is written to: an address someone typed in without owning it gets
nothing from us but allauth's confirmation mail.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts import events
from accounts.models import Notification, User
from accounts.selectors import user_email_verified

UNSUBSCRIBE_SALT = "accounts.mail.unsubscribe"
# token kind → the User field it switches off
UNSUBSCRIBE_KINDS = {"r": "email_event_reminders", "d": "email_weekly_digest"}
SETTING_KIND = {field: kind for kind, field in UNSUBSCRIBE_KINDS.items()}

DIGEST_INTERVAL = timedelta(days=7)
# A run a little early (beat's clock, a slow previous run) still counts as a week later.
DIGEST_SLACK = timedelta(hours=12)
DIGEST_MAX_LINES = 10


def unsubscribe_token(user: User, setting: str) -> str:
    return signing.dumps({"u": user.pk, "k": SETTING_KIND[setting]}, salt=UNSUBSCRIBE_SALT)


def unsubscribe_token_read(token: str) -> tuple[int, str] | None:
    """(user id, setting) from a token this site signed; None for anything else."""
    try:
        value = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(value, dict):
        return None
    user_id, kind = value.get("u"), value.get("k")
    if not isinstance(user_id, int) or kind not in UNSUBSCRIBE_KINDS:
        return None
    return user_id, UNSUBSCRIBE_KINDS[kind]


def unsubscribe_url(user: User, setting: str) -> str:
    path = reverse("email_unsubscribe", args=[unsubscribe_token(user, setting)])
    return settings.SITE_URL.rstrip("/") + path


def _mailable(user: User) -> bool:
    return bool(user.is_member and user.email and user.deleted_at is None) and (
        user_email_verified(user)
    )


def reminder_mail_wanted(user: User) -> bool:
    return user.email_event_reminders and _mailable(user)


def _send(user: User, setting: str, template: str, context: dict[str, Any]) -> None:
    link = unsubscribe_url(user, setting)
    context = {
        **context,
        "user": user,
        "site_url": settings.SITE_URL.rstrip("/"),
        "unsubscribe_url": link,
        "settings_url": settings.SITE_URL.rstrip("/") + reverse("account_settings"),
    }
    message = EmailMessage(
        subject=render_to_string(f"accounts/email/{template}_subject.txt", context).strip(),
        body=render_to_string(f"accounts/email/{template}_message.txt", context),
        to=[user.email],
        headers={
            "List-Unsubscribe": f"<{link}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    message.send()


def event_reminder_email_send(notification_id: int) -> bool:
    """Mail an event reminder notification to its recipient, if they still want it. Returns
    whether a mail left."""
    notification = (
        Notification.objects.select_related("recipient")
        .filter(pk=notification_id, kind=Notification.Kind.EVENT_REMINDER)
        .first()
    )
    if notification is None or not reminder_mail_wanted(notification.recipient):
        return False
    data = notification.data or {}
    starts_at = data.get("starts_at")
    event_id = data.get("event_id")
    context = {
        # the same switch covers a host moving an event you RSVP'd to (rooms' event_update)
        "rescheduled": data.get("action") == "rescheduled",
        "title": data.get("title") or "An event",
        "starts_at": datetime.fromisoformat(starts_at) if isinstance(starts_at, str) else None,
        "event_url": settings.SITE_URL.rstrip("/") + reverse("web_event", args=[event_id])
        if isinstance(event_id, int)
        else settings.SITE_URL,
    }
    _send(notification.recipient, "email_event_reminders", "event_reminder", context)
    return True


def _digest_context(user: User, since: datetime) -> dict[str, Any] | None:
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True, created__gte=since)
    count = unread.count()
    latest = [n.get_kind_display() for n in unread.select_related("actor")[:DIGEST_MAX_LINES]]
    sections: dict[str, list[str]] = {}
    for name, section in events.DIGEST_SECTIONS.items():
        lines = section(user=user)
        if isinstance(lines, list) and lines:
            sections[name] = [str(line) for line in lines[:DIGEST_MAX_LINES]]
    if not count and not sections:
        return None  # nothing to say: no mail
    return {"unread_count": count, "unread_kinds": latest, "sections": sections}


def weekly_digest_send(*, now: datetime | None = None) -> int:
    """Mail the weekly digest to everyone who wants it and was not mailed one within the week.
    Idempotent and safe to run twice at once: each person is claimed under their row lock
    (`skip_locked`) and `digest_sent_at` is set in the same transaction. Returns mails sent."""
    now = now or timezone.now()
    due_before = now - DIGEST_INTERVAL + DIGEST_SLACK
    candidates = (
        User.objects.filter(
            is_active=True,
            status=User.Status.MEMBER,
            email_weekly_digest=True,
            deleted_at__isnull=True,
        )
        .exclude(digest_sent_at__gt=due_before)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    sent = 0
    for user_id in list(candidates):
        with transaction.atomic():
            user = (
                User.objects.select_for_update(skip_locked=True)
                .filter(pk=user_id, email_weekly_digest=True)
                .exclude(digest_sent_at__gt=due_before)
                .first()
            )
            if user is None or not _mailable(user):
                continue
            context = _digest_context(user, now - DIGEST_INTERVAL)
            user.digest_sent_at = now
            user.save(update_fields=["digest_sent_at"])
            if context is None:
                continue
            _send(user, "email_weekly_digest", "weekly_digest", context)
            sent += 1
    return sent
