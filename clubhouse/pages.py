"""The web client's pages. Each is a server-rendered shell: the template lays out the page
and its ES module fetches the same REST API the mobile apps use (docs/web.md). A view here
only decides who may see the page and passes ids the script needs; it never reads data that
the API would not give the browser."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from clubhouse.errors import ApplicationError
from media_relay.conf import listener_slots
from rooms.conf import room_visit_retention_days
from rooms.selectors import (
    room_club_slug,
    room_get_by_share_token,
    room_get_visible,
    room_report_reasons,
)

View = Callable[..., HttpResponse]


def member_page(view: View) -> View:
    """Logged-in members only: visitors go to the login page, waitlisted people to the
    waitlist screen (the API would refuse them everything the page needs)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not getattr(user, "is_member", False):
            return redirect("waitlist")
        return view(request, *args, **kwargs)

    return wrapper


def error_page(request: HttpRequest, error: ApplicationError, **context: Any) -> HttpResponse:
    return render(request, "web/error.html", {"error": error, **context}, status=error.status)


def home(request: HttpRequest) -> HttpResponse:
    """Visitors see the landing page, waitlisted people their waitlist screen, members the
    hallway."""
    user = request.user
    if not user.is_authenticated:
        return render(request, "home.html")
    if not getattr(user, "is_member", False):
        return redirect("waitlist")
    return render(request, "web/hallway.html", {"is_new": _is_new(user)})


def _is_new(user: Any) -> bool:
    """A member who has not set anything up yet: no topics and follows nobody."""
    return not user.topics.exists() and not user.following_set.exists()


@member_page
def room(request: HttpRequest, room_id: int) -> HttpResponse:
    """The live room page (templates/rooms/room.html, filled in by the room client)."""
    try:
        found = room_get_visible(room_id=room_id, viewer=request.user)
    except ApplicationError as exc:
        if exc.code == "club_premium_required":
            # A member without premium: lead them to the club, where they can subscribe.
            return error_page(request, exc, club_slug=room_club_slug(room_id=room_id))
        return error_page(request, exc)
    # The page offers as many receive slots as the relay forwards (RELAY_LISTENER_SLOTS).
    return render(request, "rooms/room.html",
                  {"room_id": room_id, "room": found, "relay_listener_slots": listener_slots(),
                   "report_reasons": room_report_reasons()})  # fmt: skip


@member_page
def room_share(request: HttpRequest, token: str) -> HttpResponse:
    """A room's share link (`/r/<token>/`) leads to the room page."""
    try:
        found = room_get_by_share_token(token=token, viewer=request.user)
    except ApplicationError as exc:
        return error_page(request, exc)
    return redirect("web_room", room_id=found.pk)


@member_page
def room_new(request: HttpRequest) -> HttpResponse:
    return render(request, "web/room_new.html")


@member_page
def onboarding(request: HttpRequest) -> HttpResponse:
    """Name, photo, topics, people to follow. Signing up from an invitation lands here
    (`?next=/welcome/` on the signup link); the hallway links here while you are new."""
    return render(request, "web/onboarding.html")


@member_page
def notifications(request: HttpRequest) -> HttpResponse:
    return render(request, "web/notifications.html")


@member_page
def invitations(request: HttpRequest) -> HttpResponse:
    return render(request, "web/invitations.html")


@member_page
def search(request: HttpRequest) -> HttpResponse:
    return render(request, "web/search.html", {"q": request.GET.get("q", "")})


@member_page
def follow_list(request: HttpRequest, username: str, which: str) -> HttpResponse:
    return render(request, "web/follow_list.html", {"username": username, "which": which})


@member_page
def clubs(request: HttpRequest) -> HttpResponse:
    return render(request, "web/clubs.html")


@member_page
def club(request: HttpRequest, slug: str) -> HttpResponse:
    return render(request, "web/club.html", {"slug": slug})


@member_page
def events(request: HttpRequest) -> HttpResponse:
    return render(request, "web/events.html")


@member_page
def event(request: HttpRequest, event_id: int) -> HttpResponse:
    return render(request, "web/event.html", {"event_id": event_id})


@member_page
def wallet(request: HttpRequest) -> HttpResponse:
    return render(request, "web/wallet.html")


@member_page
def creator_application(request: HttpRequest) -> HttpResponse:
    return render(request, "web/creator_application.html")


def privacy(request: HttpRequest) -> HttpResponse:
    """What is kept, for how long, and how to take it with you or delete it (anyone may read)."""
    return render(request, "privacy.html", {"visit_retention_days": room_visit_retention_days()})
