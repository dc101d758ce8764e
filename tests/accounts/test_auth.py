"""allauth: the app's headless API hands out a session token that authenticates our REST API;
password reset and e-mail verification mail go out through allauth."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from tests.factories import PASSWORD, InvitationFactory, UserFactory

pytestmark = pytest.mark.django_db

APP = "/_allauth/app/v1"


def test_app_signup_yields_a_session_token_that_authenticates_the_rest_api() -> None:
    client = APIClient()
    response = client.post(
        f"{APP}/auth/signup",
        {"email": "kim@example.com", "username": "kim", "password": PASSWORD},
        format="json",
    )
    assert response.status_code == 200, response.json()
    token = response.json()["meta"]["session_token"]
    app = APIClient()
    me = app.get("/api/v1/me/", HTTP_X_SESSION_TOKEN=token)
    assert me.status_code == 200
    assert me.json()["username"] == "kim"
    assert me.json()["status"] == "waitlisted"  # no invitation: the waitlist
    assert len(mail.outbox) == 1  # the e-mail verification mail
    assert "kim@example.com" in mail.outbox[0].to


def test_app_login_token_authenticates_and_an_app_can_redeem_an_invitation() -> None:
    person = UserFactory(waitlisted=True)
    InvitationFactory(token="tok-mobile")
    response = APIClient().post(
        f"{APP}/auth/login", {"email": person.email, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.json()
    token = response.json()["meta"]["session_token"]
    app = APIClient(HTTP_X_SESSION_TOKEN=token)
    waitlisted = app.get("/api/v1/invitations/")
    assert waitlisted.status_code == 403
    assert waitlisted.json()["error"]["code"] == "waitlisted"
    redeemed = app.post("/api/v1/invitations/redeem/", {"token": "tok-mobile"}, format="json")
    assert redeemed.status_code == 200, redeemed.json()
    assert app.get("/api/v1/invitations/").status_code == 200


def test_a_bad_session_token_is_401_in_our_error_shape() -> None:
    response = APIClient().get("/api/v1/me/", HTTP_X_SESSION_TOKEN="nope")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_banned_persons_token_stops_working() -> None:
    person = UserFactory()
    token = (
        APIClient()
        .post(f"{APP}/auth/login", {"email": person.email, "password": PASSWORD}, format="json")
        .json()["meta"]["session_token"]
    )
    User.objects.filter(pk=person.pk).update(is_active=False)
    assert APIClient().get("/api/v1/me/", HTTP_X_SESSION_TOKEN=token).status_code == 401


def test_browser_password_reset_sends_a_mail(client: Client) -> None:
    person = UserFactory()
    response = client.post("/accounts/password/reset/", {"email": person.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [person.email]
    assert "/accounts/password/reset/key/" in mail.outbox[0].body


def test_app_password_reset_request_sends_a_mail() -> None:
    person = UserFactory()
    response = APIClient().post(
        f"{APP}/auth/password/request", {"email": person.email}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [person.email]


def test_browser_signup_sends_an_email_verification_mail(client: Client) -> None:
    response = client.post(
        "/accounts/signup/",
        {
            "email": "lee@example.com",
            "username": "lee",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert "/accounts/confirm-email/" in mail.outbox[0].body


def test_allauth_pages_use_the_site_layout(client: Client) -> None:
    for path in ["/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"]:
        response = client.get(path)
        assert response.status_code == 200
        assert b'class="topbar"' in response.content, path


def test_user_factory_passwords_work_with_an_explicit_password(client: Client) -> None:
    person = UserFactory(password="another-Secret-9")
    assert person.check_password("another-Secret-9")
    assert UserFactory().check_password(PASSWORD)


def test_a_session_token_writes_without_csrf() -> None:
    person = UserFactory()
    token = (
        APIClient()
        .post(f"{APP}/auth/login", {"email": person.email, "password": PASSWORD}, format="json")
        .json()["meta"]["session_token"]
    )
    app = APIClient(enforce_csrf_checks=True, HTTP_X_SESSION_TOKEN=token)
    response = app.patch("/api/v1/me/", {"bio": "from the app"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["bio"] == "from the app"


def test_a_browser_session_write_without_csrf_is_refused_in_the_error_shape(
    client: Client,
) -> None:
    api = APIClient(enforce_csrf_checks=True)
    api.force_login(UserFactory())
    response = api.patch("/api/v1/me/", {"bio": "x"}, format="json")
    assert response.status_code == 403
    assert set(response.json()["error"]) >= {"code", "message", "fields"}
