"""The waitlist screen: a logged-in person who is not a member yet sees only the waitlist,
their account pages (allauth, incl. logout) and invitation links. The API is left alone: its
member-only endpoints answer 403 `waitlisted` (accounts.permissions.IsMember)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from accounts import conf
from accounts.selectors import user_two_factor_enabled


class WaitlistMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not getattr(user, "is_member", True)
            and not request.path.startswith(conf.waitlist_allowed_path_prefixes())
        ):
            return redirect("waitlist")
        return self.get_response(request)


class StaffTwoFactorMiddleware:
    """Staff need TOTP for the back office (docs/accounts.md): a staff account without it that
    opens /admin/ is sent to the TOTP setup page first, whatever DEBUG says. The admin's own
    login form is not used (clubhouse/urls.py sends it to allauth's login, which asks for the
    code), so a staff account with TOTP always passed it to get here."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and user.is_staff
            and request.path.startswith(reverse("admin:index"))
            and not user_two_factor_enabled(user)
        ):
            messages.warning(
                request,
                "Staff accounts need two-factor authentication: set it up to use the back office.",
            )
            return redirect(f"{reverse('mfa_activate_totp')}?next={request.path}")
        return self.get_response(request)
