"""Login limits key on the real client behind the TLS proxy, and the admin's login is the same
limited login (failed attempts per address and per account)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, override_settings

from tests.factories import PASSWORD, InvitationFactory, UserFactory, totp_code

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
PROXY = "10.0.0.2"
TOO_MANY = "Too many failed login attempts"


def _client_behind_proxy(forwarded_for: str) -> Client:
    """A browser whose requests reach Django through the proxy: the peer is the proxy, which
    appends the address it saw to X-Forwarded-For."""
    return Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded_for)


def _login(client: Client, email: str, password: str, next_url: str = ""):  # type: ignore[no-untyped-def]
    data = {"login": email, "password": password}
    if next_url:
        data["next"] = next_url
    return client.post("/accounts/login/", data)


def _second_factor(client: Client) -> None:
    """Staff have TOTP (the back office requires it): the password step is followed by the code."""
    response = client.post("/accounts/2fa/authenticate/", {"code": totp_code()})
    assert response.status_code == 302, response.content.decode()[-500:]


def _is_logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_behind_the_tls_proxy_the_trusted_hop_is_the_client() -> None:
    script = (
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "print(settings.ALLAUTH_TRUSTED_PROXY_COUNT)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "clubhouse.settings"}
    env.pop("DJANGO_TRUSTED_PROXY_COUNT", None)
    behind = {**env, "DJANGO_BEHIND_TLS_PROXY": "1"}
    direct = {**env, "DJANGO_BEHIND_TLS_PROXY": "0"}
    for environ, expected in ((behind, "1"), (direct, "0")):
        out = subprocess.run(  # noqa: S603  (this interpreter, fixed arguments)
            [sys.executable, "-c", script], cwd=REPO, env=environ, check=True, timeout=120,
            capture_output=True, text=True,
        ).stdout  # fmt: skip
        assert out.strip() == expected


@override_settings(ALLAUTH_TRUSTED_PROXY_COUNT=1)
def test_two_clients_behind_one_proxy_are_limited_separately() -> None:
    attacker = _client_behind_proxy("203.0.113.5")
    for n in range(10):  # allauth: 10 failed logins per address per minute
        _login(attacker, f"nobody{n}@example.com", "wrong")
    refused = _login(attacker, "nobody-else@example.com", "wrong")
    assert TOO_MANY in refused.content.decode()

    member = UserFactory()
    neighbour = _client_behind_proxy("198.51.100.7")
    _login(neighbour, member.email, PASSWORD)
    assert _is_logged_in(neighbour)


@override_settings(ALLAUTH_TRUSTED_PROXY_COUNT=1)
def test_an_address_the_client_writes_into_x_forwarded_for_does_not_reset_its_limit() -> None:
    for n in range(10):
        # the proxy appends the real address after whatever the client sent
        spoofing = _client_behind_proxy(f"192.0.2.{n}, 203.0.113.5")
        _login(spoofing, f"nobody{n}@example.com", "wrong")
    member = UserFactory(email="victim@example.com")
    again = _client_behind_proxy("192.0.2.99, 203.0.113.5")
    refused = _login(again, member.email, PASSWORD)
    assert TOO_MANY in refused.content.decode()
    assert not _is_logged_in(again)


@override_settings(ALLAUTH_TRUSTED_PROXY_COUNT=1)
def test_the_api_limits_anonymous_clients_behind_the_proxy_separately(settings) -> None:  # type: ignore[no-untyped-def]
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "invitation_token": "3/h"}
    token = "behind-the-proxy"
    InvitationFactory(token=token)
    first = _client_behind_proxy("203.0.113.5")
    for _ in range(3):
        assert (
            first.post(
                "/api/v1/invitations/preview/", {"token": token}, content_type="application/json"
            ).status_code
            == 200
        )
    assert (
        first.post(
            "/api/v1/invitations/preview/", {"token": token}, content_type="application/json"
        ).status_code
        == 429
    )
    second = _client_behind_proxy("198.51.100.7")
    assert (
        second.post(
            "/api/v1/invitations/preview/", {"token": token}, content_type="application/json"
        ).status_code
        == 200
    )


def test_the_admin_login_page_is_the_rate_limited_login() -> None:
    staff = UserFactory(staff=True)
    client = Client()
    page = client.get("/admin/login/?next=/admin/")
    assert page.status_code == 302
    assert page["Location"].startswith("/accounts/login/")
    # The admin's own password form no longer checks passwords: nothing to guess at there.
    posted = client.post(
        "/admin/login/?next=/admin/", {"username": staff.email, "password": PASSWORD}
    )
    assert posted.status_code == 302
    assert not _is_logged_in(client)

    _login(client, staff.email, PASSWORD, next_url="/admin/")
    _second_factor(client)
    assert client.get("/admin/").status_code == 200


def test_the_admin_login_is_refused_after_failed_attempts_on_the_account() -> None:
    staff = UserFactory(staff=True)
    attacker = Client(REMOTE_ADDR="203.0.113.5")
    for _ in range(5):  # allauth: 5 failed logins per account per 5 minutes
        _login(attacker, staff.email, "wrong", next_url="/admin/")
    refused = _login(attacker, staff.email, PASSWORD, next_url="/admin/")
    assert refused.status_code == 200
    assert TOO_MANY in refused.content.decode()
    assert not _is_logged_in(attacker)
    assert attacker.get("/admin/").status_code == 302

    other_staff = UserFactory(staff=True)
    elsewhere = Client(REMOTE_ADDR="198.51.100.7")
    _login(elsewhere, other_staff.email, PASSWORD, next_url="/admin/")
    _second_factor(elsewhere)
    assert elsewhere.get("/admin/").status_code == 200


def test_too_many_logins_from_one_address_get_a_clear_page() -> None:
    client = Client(REMOTE_ADDR="203.0.113.5")
    statuses = [_login(client, f"nobody{n}@example.com", "wrong").status_code for n in range(31)]
    assert statuses[-1] == 429
    page = _login(client, "nobody@example.com", "wrong")
    assert page.status_code == 429
    assert "Too many attempts to log in" in page.content.decode()


def test_a_member_who_is_not_staff_is_refused_the_admin() -> None:
    client = Client()
    client.force_login(UserFactory())
    assert client.get("/admin/login/").status_code == 403
