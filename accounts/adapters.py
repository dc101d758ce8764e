from __future__ import annotations

import logging
from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import reverse

logger = logging.getLogger(__name__)

# Where the invitation landing page keeps the token until the visitor signs up.
INVITATION_SESSION_KEY = "accounts_invitation_token"


class AccountAdapter(DefaultAccountAdapter):
    """Signup is open, but a person without an invitation lands on the waitlist (the
    accounts services decide membership; see accounts.services).

    A visitor who opened an invitation link carries its token in the session; signing up
    redeems it, so they arrive as a member with `invited_by` set. A token that went bad in
    the meantime leaves them on the waitlist with a message saying why.
    """

    def save_user(self, request: HttpRequest, user: Any, form: Any, commit: bool = True) -> Any:
        from accounts.models import User

        user.status = User.Status.WAITLISTED
        user = super().save_user(request, user, form, commit=commit)
        session = getattr(request, "session", None)
        if not commit or session is None:
            return user
        token = session.pop(INVITATION_SESSION_KEY, None)
        if token:
            from accounts.services import invitation_accept
            from clubhouse.errors import ApplicationError

            try:
                invitation_accept(token=token, user=user)
                user.refresh_from_db()
            except ApplicationError as exc:
                logger.info("invitation not redeemed at signup: %s", exc.code)
                if hasattr(request, "_messages"):
                    messages.warning(request, exc.message)
        return user

    def clean_username(self, username: str, shallow: bool = False) -> str:
        # `deleted-<id>` names an anonymised account (accounts.services.account_delete).
        from accounts.services.deletion import DELETED_USERNAME_PREFIX

        if username.lower().startswith(DELETED_USERNAME_PREFIX):
            raise ValidationError("This username is reserved.", code="username_reserved")
        return super().clean_username(username, shallow=shallow)

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not user.is_member:
            return reverse("waitlist")
        return super().get_login_redirect_url(request)

    def get_signup_redirect_url(self, request: HttpRequest) -> str:
        return self.get_login_redirect_url(request)
