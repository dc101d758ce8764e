"""The waitlist screen: a logged-in person who is not a member yet sees only the waitlist,
their account pages (allauth, incl. logout) and invitation links. The API is left alone: its
member-only endpoints answer 403 `waitlisted` (accounts.permissions.IsMember)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from accounts import conf


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
