"""Deleting an account: what a person can take back, and what money records must keep.

The user row is never deleted. Tips, tickets, subscriptions, stipends, payouts and the ledger
point at it (`on_delete=PROTECT`, on purpose: a payment record outlives its payer), so the row
is anonymised instead: no name, no e-mail, no profile, no password, not active, and every social
trace (follows, blocks, vouches, invitations still pending, notifications, club memberships,
room invites, RSVPs and visits) is removed. The money rows keep pointing at `deleted-<id>`.
"""

from __future__ import annotations

import logging
from functools import partial

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts import events
from accounts.models import (
    AccountEvent,
    Block,
    FeatureCohortMember,
    FeatureFeedback,
    Follow,
    Invitation,
    Notification,
    PushSubscription,
    User,
    WaitlistVouch,
)
from clubhouse.errors import InvalidInput

logger = logging.getLogger(__name__)

DELETED_USERNAME_PREFIX = "deleted-"
DELETED_EMAIL_DOMAIN = "deleted.invalid"  # RFC 2606: can never receive mail


def deleted_username(user_id: int) -> str:
    return f"{DELETED_USERNAME_PREFIX}{user_id}"


def account_delete(*, user: User, actor: User | None, reason: str = "self") -> User:
    """Anonymise the account and remove its social data; keep its money records.

    Idempotent: deleting a deleted account changes nothing. Refused (nothing changes) with the
    code of the first guard that objects (`ACCOUNT_DELETE_GUARDS`, e.g. payouts'
    `account_delete_balance_pending`). After commit, every socket of the person closes and they
    leave every live room (`ACCOUNT_DISABLED_HOOKS`, as for a ban), and their avatar file goes.
    `actor` is who asked: the person themselves, or staff (admin).
    """
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if user.deleted_at is not None:
            return user
        for guard in list(events.ACCOUNT_DELETE_GUARDS):
            guard(user=user)
        for hook in list(events.ACCOUNT_DELETING_HOOKS):
            hook(user=user)
        _social_data_remove(user)
        avatar = user.avatar.name if user.avatar else ""
        _anonymise(user)
        _credentials_revoke(user)
        AccountEvent.objects.create(
            user=user,
            kind=AccountEvent.Kind.DELETED,
            actor=actor if actor is not None and actor.pk != user.pk else None,
            data={"reason": reason[:64]},
        )
        events.account_disabled_on_commit(user_id=user.pk)
        if avatar:
            transaction.on_commit(partial(_file_delete, avatar))
        return user


def account_delete_by_self(*, user: User, password: str = "", confirm: str = "") -> User:
    """The member deletes their own account: with their password, or (an account that has no
    password, e.g. never set one) by typing their username as confirmation."""
    if user.has_usable_password():
        if not password or not user.check_password(password):
            raise InvalidInput(
                "Your password is needed to delete your account.",
                code="password_incorrect",
                fields={"password": ["That is not your password."]},
            )
    elif confirm.strip() != user.username:
        raise InvalidInput(
            "Type your username to confirm.",
            code="confirmation_required",
            fields={"confirm": [f"Type “{user.username}” to confirm."]},
        )
    return account_delete(user=user, actor=user, reason="self")


def _social_data_remove(user: User) -> None:
    Follow.objects.filter(Q(follower=user) | Q(followee=user)).delete()
    Block.objects.filter(Q(blocker=user) | Q(blocked=user)).delete()
    WaitlistVouch.objects.filter(Q(requester=user) | Q(member=user)).delete()
    # A pending invitation carries someone else's e-mail or phone and could still admit them in
    # the deleted person's name: it goes. Accepted ones stay (the invitee's `invited_by`).
    Invitation.objects.filter(inviter=user, status=Invitation.Status.PENDING).delete()
    Notification.objects.filter(Q(recipient=user) | Q(actor=user)).delete()
    # Beta cohorts and what they wrote about a beta feature are theirs too.
    FeatureCohortMember.objects.filter(user=user).delete()
    FeatureFeedback.objects.filter(user=user).delete()
    PushSubscription.objects.filter(user=user).delete()  # no push to a deleted account's devices
    user.topics.clear()
    user.groups.clear()
    user.user_permissions.clear()


def _anonymise(user: User) -> None:
    user.username = deleted_username(user.pk)
    user.email = f"{deleted_username(user.pk)}@{DELETED_EMAIL_DOMAIN}"
    user.first_name = ""
    user.last_name = ""
    user.display_name = ""
    user.bio = ""
    user.avatar = ""
    user.links = []
    user.invitation_quota = 0
    user.is_active = False
    user.is_staff = False
    user.is_superuser = False
    user.deleted_at = timezone.now()
    # A new password hash also invalidates every session (Django checks the session's hash).
    user.set_unusable_password()
    user.save()


def _credentials_revoke(user: User) -> None:
    """E-mail addresses (so the address can sign up again), second factors, and every session:
    a browser's cookie and an app's session token are both session keys."""
    EmailAddress.objects.filter(user=user).delete()
    Authenticator.objects.filter(user=user).delete()
    if settings.SESSION_ENGINE in (
        "django.contrib.sessions.backends.db",
        "django.contrib.sessions.backends.cached_db",
    ):
        mine = str(user.pk)
        stale = [
            session.session_key
            for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
            if session.get_decoded().get("_auth_user_id") == mine
        ]
        Session.objects.filter(session_key__in=stale).delete()


def _file_delete(name: str) -> None:
    try:
        default_storage.delete(name)
    except Exception:
        logger.exception("could not delete the file %s of a deleted account", name)
