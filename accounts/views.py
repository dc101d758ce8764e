"""Pages: profiles, the waitlist screen, the invitation landing page. Thin: parse, call one
service or selector, render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts import events, mail, selectors, services
from accounts.adapters import INVITATION_SESSION_KEY
from accounts.forms import AccountDeleteForm, LetInForm, ProfileForm, VouchForm
from accounts.models import Report, User
from clubhouse.errors import ApplicationError, NotFound


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def profile(request: HttpRequest, username: str) -> HttpResponse:
    viewer = request.user
    if isinstance(viewer, AnonymousUser) or not viewer.is_authenticated:
        user = User.objects.filter(
            username=username, is_active=True, status=User.Status.MEMBER
        ).first()
        relationship = None
        if user is None:
            return render(request, "accounts/not_found.html", status=404)
    else:
        try:
            user = selectors.user_get_visible(viewer=_user(request), username=username)
        except NotFound:
            return render(request, "accounts/not_found.html", status=404)
        relationship = selectors.user_relationship(viewer=_user(request), other=user)
    context = {
        "profile": user,
        "counts": selectors.user_profile_counts(user),
        "relationship": relationship,
        "is_self": viewer.is_authenticated and viewer.pk == user.pk,
        "report_reasons": Report.Reason.choices,
    }
    # Other apps' parts of the page (clubs, "Send money"), registered at their start-up.
    context.update({name: section(user=user) for name, section in events.PROFILE_SECTIONS.items()})
    context.update(selectors.profile_viewer_sections(user=user, viewer=viewer))
    return render(request, "accounts/profile.html", context)


@login_required
def waitlist(request: HttpRequest) -> HttpResponse:
    """Waitlisted: your place, and name members you know. Members: people who named you,
    each with a one-click "let in", and let in anyone by username or e-mail."""
    user = _user(request)
    context: dict[str, Any] = {"vouch_form": VouchForm(), "let_in_form": LetInForm()}
    if request.method == "POST" and not user.is_member:
        form = VouchForm(request.POST)
        if form.is_valid():
            member = User.objects.filter(username=form.cleaned_data["username"]).first()
            try:
                if member is None:
                    raise NotFound("No member with that username.", code="user_not_found")
                services.waitlist_vouch_request(requester=user, member=member)
                messages.success(request, f"We told @{member.username} you are waiting.")
                return redirect("waitlist")
            except ApplicationError as exc:
                form.add_error("username", exc.message)
        context["vouch_form"] = form
    if user.is_member:
        context["vouches"] = selectors.waitlist_vouches_received(member=user)
        context["quota"] = User.objects.values_list("invitation_quota", flat=True).get(pk=user.pk)
        return render(request, "accounts/waitlist_member.html", context)
    context["asked"] = selectors.waitlist_vouches_asked(user=user)
    return render(request, "accounts/waitlist.html", context)


@login_required
@require_POST
def waitlist_let_in(request: HttpRequest) -> HttpResponse:
    form = LetInForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a username or an e-mail address.")
        return redirect("waitlist")
    value = form.cleaned_data["username_or_email"].strip().removeprefix("@")
    by_email = "@" in value
    lookup = {"email": value} if by_email else {"username": value}
    try:
        if services.waitlist_let_in_named(member=_user(request), **lookup):
            messages.success(
                request, f"{value} is in now; we told them." if by_email else f"@{value} is in."
            )
        else:
            # One answer for a member, nobody, and anyone hidden by a block: never an oracle.
            messages.info(
                request,
                f"Nobody on the waitlist matches {value}. To bring in someone who has not "
                "signed up yet, send them an invitation.",
            )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("waitlist")


def invitation_landing(request: HttpRequest, token: str) -> HttpResponse:
    """The link in the invitation e-mail. Anonymous visitors keep the token in their session
    and sign up (the account adapter redeems it); a waitlisted person accepts with one click."""
    invitation = selectors.invitation_find(token)
    try:
        services.invitation_check(invitation)
    except ApplicationError as exc:
        request.session.pop(INVITATION_SESSION_KEY, None)
        return render(request, "accounts/invitation_error.html", {"error": exc}, status=exc.status)
    assert invitation is not None
    user = request.user
    if request.method == "POST" and user.is_authenticated:
        try:
            services.invitation_accept(token=token, user=_user(request))
        except ApplicationError as exc:
            if exc.code == "email_unverified":  # confirming the address redeems it (adapter)
                request.session[INVITATION_SESSION_KEY] = token
            return render(
                request, "accounts/invitation_error.html", {"error": exc}, status=exc.status
            )
        messages.success(request, f"Welcome! @{invitation.inviter.username} nominated you.")
        return redirect("home")
    if not user.is_authenticated:
        request.session[INVITATION_SESSION_KEY] = token
    return render(request, "accounts/invitation.html", {"invitation": invitation, "token": token})


@login_required
def profile_edit(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if request.method == "POST":
        form = ProfileForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                services.user_profile_update(user=user, data=form.service_data())
            except ApplicationError as exc:
                for field, errors in exc.fields.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            else:
                messages.success(request, "Profile saved.")
                return redirect("profile", username=user.username)
    else:
        form = ProfileForm(
            initial={
                "display_name": user.display_name,
                "bio": user.bio,
                "links": "\n".join(user.links or []),
                "topics": [topic.slug for topic in user.topics.all()],
            }
        )
    return render(request, "accounts/profile_edit.html", {"form": form})


@login_required
@require_POST
def profile_follow(request: HttpRequest, username: str) -> HttpResponse:
    """The profile page's Follow / Unfollow button (`action` = follow | unfollow)."""
    try:
        other = selectors.user_get_visible(viewer=_user(request), username=username)
        if request.POST.get("action") == "unfollow":
            services.user_unfollow(follower=_user(request), followee=other)
        else:
            services.user_follow(follower=_user(request), followee=other)
    except NotFound:
        return render(request, "accounts/not_found.html", status=404)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("profile", username=username)


@login_required
def account_settings(request: HttpRequest) -> HttpResponse:
    """Two-factor, your data, and deleting your account."""
    return _settings_page(request, AccountDeleteForm())


def _settings_page(
    request: HttpRequest, form: AccountDeleteForm, status: int = 200
) -> HttpResponse:
    user = _user(request)
    context = {
        "delete_form": form,
        "has_password": user.has_usable_password(),
        "two_factor": selectors.user_two_factor_enabled(user),
    }
    # Other apps' settings (payouts: a creator's own Send Money switch).
    context.update({name: section(user=user) for name, section in events.SETTINGS_SECTIONS.items()})
    return render(request, "accounts/settings.html", context, status=status)


@login_required
def account_export_download(request: HttpRequest) -> HttpResponse:
    """The "Download your data" button: the same JSON as GET /api/v1/me/export/."""
    response = JsonResponse(
        selectors.account_export(_user(request)), json_dumps_params={"indent": 2}
    )
    response["Content-Disposition"] = 'attachment; filename="clubhouse-export.json"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def account_delete(request: HttpRequest) -> HttpResponse:
    form = AccountDeleteForm(request.POST)
    form.is_valid()
    try:
        services.account_delete_by_self(
            user=_user(request),
            password=form.cleaned_data.get("password", ""),
            confirm=form.cleaned_data.get("confirm", ""),
        )
    except ApplicationError as exc:
        for field, errors in exc.fields.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
        if not exc.fields:
            form.add_error(None, exc.message)
        return _settings_page(request, form, status=exc.status)
    logout(request)
    messages.success(request, "Your account is deleted. Thank you for being here.")
    return redirect("home")


# The link in a mail's text opens a page with one button (a GET must not unsubscribe: mail
# scanners and link previews open links); mail clients POST to the same address from the
# List-Unsubscribe header (RFC 8058), without a CSRF token, so the signed token is the only
# authority here, and the only thing it can do is switch one kind of mail off.
UNSUBSCRIBE_WHAT = {
    "email_event_reminders": "event reminder e-mails",
    "email_weekly_digest": "the weekly digest e-mail",
}


@csrf_exempt
def email_unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    found = mail.unsubscribe_token_read(token)
    if found is None:
        return render(request, "accounts/unsubscribe.html", {"invalid": True}, status=400)
    what = UNSUBSCRIBE_WHAT[found[1]]
    if request.method == "POST":
        try:
            services.email_unsubscribe(token=token)
        except ApplicationError:
            return render(request, "accounts/unsubscribe.html", {"invalid": True}, status=400)
        return render(request, "accounts/unsubscribe.html", {"done": True, "what": what})
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD, POST"})
    return render(request, "accounts/unsubscribe.html", {"what": what, "token": token})
