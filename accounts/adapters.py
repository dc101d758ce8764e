from __future__ import annotations

import logging
from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import reverse

from accounts.models import User
from accounts.services import invitation_accept
from accounts.services.deletion import DELETED_USERNAME_PREFIX
from clubhouse.errors import ApplicationError

logger = logging.getLogger(__name__)

# Where the invitation landing page keeps the token until the visitor signs up.
INVITATION_SESSION_KEY = "accounts_invitation_token"


class AccountAdapter(DefaultAccountAdapter):
    """Signup is open, but a person without an invitation lands on the waitlist (the
    accounts services decide membership; see accounts.services).

    A visitor who opened an invitation link carries its token in the session. Membership waits
    for a confirmed address, so signing up keeps the token and confirming the address (the
    link allauth mails at signup, opened in the same browser) redeems it: they arrive as a
    member with `invited_by` set. A token that went bad in the meantime leaves them on the
    waitlist with a message saying why; from another browser they open the invitation link
    again once confirmed.
    """

    def save_user(self, request: HttpRequest, user: Any, form: Any, commit: bool = True) -> Any:
        user.status = User.Status.WAITLISTED
        user = super().save_user(request, user, form, commit=commit)
        session = getattr(request, "session", None)
        if not commit or session is None:
            return user
        _invitation_redeem_from_session(request, user)
        return user

    def clean_username(self, username: str, shallow: bool = False) -> str:
        # `deleted-<id>` names an anonymised account (accounts.services.account_delete).
        if username.lower().startswith(DELETED_USERNAME_PREFIX):
            raise ValidationError("This username is reserved.", code="username_reserved")
        return super().clean_username(username, shallow=shallow)

    def confirm_email(self, request: HttpRequest, email_address: Any) -> bool:
        confirmed = super().confirm_email(request, email_address)
        if confirmed:
            _invitation_redeem_from_session(request, email_address.user)
        return confirmed

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not user.is_member:
            return reverse("waitlist")
        return super().get_login_redirect_url(request)

    def get_signup_redirect_url(self, request: HttpRequest) -> str:
        return self.get_login_redirect_url(request)


def _invitation_redeem_from_session(request: HttpRequest, user: Any) -> None:
    """Redeem the invitation token the session carries, if any, for `user`. An unconfirmed
    address keeps the token for the confirmation; any other refusal drops it with a message."""
    session = getattr(request, "session", None)
    if session is None:
        return
    token = session.get(INVITATION_SESSION_KEY)
    if not token:
        return
    try:
        invitation_accept(token=token, user=user)
        user.refresh_from_db()
    except ApplicationError as exc:
        logger.info("invitation not redeemed: %s", exc.code)
        if exc.code != "email_unverified":
            session.pop(INVITATION_SESSION_KEY, None)
        if hasattr(request, "_messages"):
            if exc.code == "email_unverified":
                messages.info(
                    request,
                    "Confirm your e-mail address with the link we just mailed you, "
                    "and your invitation makes you a member.",
                )
            else:
                messages.warning(request, exc.message)
    else:
        session.pop(INVITATION_SESSION_KEY, None)
        if hasattr(request, "_messages"):
            messages.success(request, "Your invitation is accepted: welcome!")
