"""Two-factor authentication (issue #12, Accounts): TOTP with recovery codes through allauth's
MFA, open to every member, and required for staff: the back office sends a staff account
without TOTP to set it up, and the admin's own password-only login form is not used."""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.core.cache import cache
from django.test import Client

from tests.factories import PASSWORD, TOTP_SECRET, UserFactory, totp_activate, totp_code

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
AUTHENTICATE = "/accounts/2fa/authenticate/"
ACTIVATE = "/accounts/2fa/totp/activate/"


def _password_step(client: Client, email: str, next_url: str = "/admin/") -> None:
    response = client.post(f"{LOGIN}?next={next_url}", {"login": email, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"].startswith(AUTHENTICATE), response["Location"]


def test_a_staff_account_without_totp_is_sent_to_set_it_up_and_then_gets_in(
    client: Client,
) -> None:
    staff = UserFactory(staff=True, two_factor=False)
    logged_in = client.post(f"{LOGIN}?next=/admin/", {"login": staff.email, "password": PASSWORD})
    assert logged_in.status_code == 302  # no second factor yet: the password logs in

    response = client.get("/admin/accounts/user/")

    assert response.status_code == 302
    assert response["Location"] == f"{ACTIVATE}?next=/admin/accounts/user/"
    assert client.get("/admin/").status_code == 302  # every admin page, not just one
    confirm = client.get(response["Location"])  # allauth asks for the password again first
    assert confirm.status_code == 302
    assert confirm["Location"].startswith("/accounts/reauth")
    again = client.post(confirm["Location"], {"password": PASSWORD})
    assert again.status_code == 302
    setup = client.get(again["Location"])
    assert setup.status_code == 200  # the setup page, with the QR code and the secret
    secret = client.session["mfa.totp.secret"]
    assert secret.encode() in setup.content
    activated = client.post(ACTIVATE, {"code": totp_code(secret)})
    assert activated.status_code == 302
    assert client.get("/admin/accounts/user/").status_code == 200


def test_a_staff_member_with_totp_logs_in_with_a_code_and_reaches_the_admin(
    client: Client,
) -> None:
    staff = UserFactory(staff=True)  # TOTP with TOTP_SECRET
    _password_step(client, staff.email)
    assert client.get("/admin/").status_code == 302  # not logged in after the password alone

    done = client.post(AUTHENTICATE, {"code": totp_code(TOTP_SECRET)})

    assert done.status_code == 302
    assert done["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_wrong_code_does_not_log_in(client: Client) -> None:
    staff = UserFactory(staff=True)
    _password_step(client, staff.email)
    wrong = str((int(totp_code(TOTP_SECRET)) + 1) % 1_000_000).zfill(6)
    response = client.post(AUTHENTICATE, {"code": wrong})
    assert response.status_code == 200  # the form again, with an error
    assert client.get("/admin/").status_code == 302


def test_a_recovery_code_works_once(client: Client) -> None:
    staff = UserFactory(staff=True)
    code = RecoveryCodes(
        Authenticator.objects.get(user=staff, type=Authenticator.Type.RECOVERY_CODES)
    ).get_unused_codes()[0]
    _password_step(client, staff.email)
    assert client.post(AUTHENTICATE, {"code": code}).status_code == 302
    assert client.get("/admin/").status_code == 200
    client.logout()
    cache.clear()  # allauth's login rate limits are not what this test is about

    again = Client()
    _password_step(again, staff.email)
    refused = again.post(AUTHENTICATE, {"code": code})
    assert refused.status_code == 200
    assert again.get("/admin/").status_code == 302


def test_the_admin_login_form_cannot_skip_the_second_factor(client: Client) -> None:
    staff = UserFactory(staff=True)
    response = client.post(
        "/admin/login/?next=/admin/", {"username": staff.username, "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)
    assert client.get("/admin/").status_code == 302


def test_any_member_can_turn_on_totp_from_settings(client: Client) -> None:
    member = UserFactory()
    client.force_login(member)
    page = client.get("/settings/")
    assert b"/accounts/2fa/" in page.content
    assert client.get("/accounts/2fa/").status_code == 200


def test_a_member_with_totp_is_asked_for_a_code_at_login(client: Client) -> None:
    member = UserFactory()
    totp_activate(member)
    _password_step(client, member.email, next_url="/")
    assert client.post(AUTHENTICATE, {"code": totp_code()}).status_code == 302
    assert client.get("/settings/").status_code == 200


def test_the_app_login_asks_for_the_code_too() -> None:
    from rest_framework.test import APIClient

    member = UserFactory()
    totp_activate(member)
    app = APIClient()
    first = app.post(
        "/_allauth/app/v1/auth/login", {"email": member.email, "password": PASSWORD}, format="json"
    )
    assert first.status_code == 401  # not logged in yet: a pending second step
    flows = first.json()["data"]["flows"]
    assert any(f["id"] == "mfa_authenticate" and f.get("is_pending") for f in flows)
    token = first.json()["meta"]["session_token"]
    assert APIClient().get("/api/v1/me/", HTTP_X_SESSION_TOKEN=token).status_code == 401

    second = app.post(
        "/_allauth/app/v1/auth/2fa/authenticate",
        {"code": totp_code()},
        format="json",
        HTTP_X_SESSION_TOKEN=token,
    )

    assert second.status_code == 200, second.json()
    done = second.json()["meta"]["session_token"]
    assert APIClient().get("/api/v1/me/", HTTP_X_SESSION_TOKEN=done).status_code == 200
