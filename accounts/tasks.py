"""Background work for accounts: take ids, re-fetch, do one thing."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from accounts import mail, push
from accounts.models import Invitation
from accounts.selectors import invitation_mail_wanted


@shared_task(ignore_result=True)
def invitation_email_send(invitation_id: int, token: str) -> None:
    invitation = (
        Invitation.objects.select_related("inviter")
        .filter(pk=invitation_id, status=Invitation.Status.PENDING)
        .first()
    )
    if invitation is None or not invitation.email:
        return  # revoked or accepted before the mail left: nothing to send
    if not invitation_mail_wanted(invitation):
        return  # a member's address, a disabled account's, or someone hidden by a block
    context = {
        "invitation": invitation,
        "inviter": invitation.inviter,
        "link": settings.SITE_URL.rstrip("/") + reverse("invitation_landing", args=[token]),
    }
    send_mail(
        subject=render_to_string("accounts/email/invitation_subject.txt", context).strip(),
        message=render_to_string("accounts/email/invitation_message.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )


@shared_task(ignore_result=True)
def notification_push_send(notification_id: int) -> int:
    """Push one notification to every device of its recipient (queued on commit)."""
    return push.notification_push_send(notification_id)


@shared_task(ignore_result=True)
def event_reminder_email_send(notification_id: int) -> bool:
    """Mail one event reminder (queued on commit, for people who want reminder mail)."""
    return mail.event_reminder_email_send(notification_id)


WEEKLY_DIGEST_TASK = "accounts.tasks.weekly_digest_send_task"


@shared_task(name=WEEKLY_DIGEST_TASK)
def weekly_digest_send_task() -> int:
    """Run weekly by celery beat (registered by migration accounts 0007)."""
    return mail.weekly_digest_send()
