"""Which payment provider runs, and when the configuration is refused.

Real Stripe runs with the selected secret key (STRIPE_TEST_SECRET_KEY, or STRIPE_LIVE_SECRET_KEY
with STRIPE_LIVE_MODE). Without one, the in-process stand-in answers only when asked for
(STRIPE_STANDIN, on by default with DEBUG, as `make run` has it) and only with DEBUG on; live mode
never falls back. Anything else is a system check error, so `check --deploy`, `migrate` and
`runserver` refuse to start, and the provider refuses to be built. Nothing here contacts Stripe.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.urls import reverse

from payouts.checks import stripe_configuration_check
from payouts.provider import get_provider, provider_is_standin
from payouts.provider.standin import STANDIN

from .conftest import make_user

TEST_KEY = "sk_test_51NotARealKeyForTheseChecks"
LIVE_KEY = "sk_live_51NotARealKeyForTheseChecks"


@pytest.fixture(autouse=True)
def _fresh_provider() -> Iterator[None]:
    get_provider.cache_clear()
    yield
    get_provider.cache_clear()


def _config(
    *,
    debug: bool,
    standin: bool,
    live: bool = False,
    test_key: str = "",
    live_key: str = "",
) -> Any:
    return override_settings(
        DEBUG=debug,
        STRIPE_STANDIN=standin,
        STRIPE_LIVE_MODE=live,
        STRIPE_TEST_SECRET_KEY=test_key,
        STRIPE_LIVE_SECRET_KEY=live_key,
    )


def _ids(**config: Any) -> list[str]:
    with _config(**config):
        found = stripe_configuration_check(None)
    assert all(message.level == checks.ERROR for message in found)
    return [message.id for message in found]


# --- the system check, every combination ---------------------------------------------------------
@pytest.mark.parametrize(
    ("config", "expected"),
    [
        # No key: the stand-in, only when asked for and only with DEBUG.
        ({"debug": True, "standin": True}, []),  # `make run`
        ({"debug": True, "standin": False}, ["payouts.E002"]),
        ({"debug": False, "standin": False}, ["payouts.E002"]),  # production, nothing set
        ({"debug": False, "standin": True}, ["payouts.E003"]),
        # A test key: Stripe's test mode, with or without DEBUG; STRIPE_STANDIN is moot.
        ({"debug": False, "standin": False, "test_key": TEST_KEY}, []),
        ({"debug": True, "standin": True, "test_key": TEST_KEY}, []),
        ({"debug": False, "standin": True, "test_key": TEST_KEY}, []),
        # Live mode needs the live key; a test key never stands in for it, nor does the stand-in.
        ({"debug": False, "standin": False, "live": True, "test_key": TEST_KEY}, ["payouts.E001"]),
        ({"debug": True, "standin": True, "live": True, "test_key": TEST_KEY}, ["payouts.E001"]),
        ({"debug": True, "standin": True, "live": True}, ["payouts.E001"]),
        ({"debug": False, "standin": False, "live": True}, ["payouts.E001"]),
        ({"debug": False, "standin": False, "live": True, "live_key": LIVE_KEY}, []),
        (
            {
                "debug": False,
                "standin": False,
                "live": True,
                "live_key": LIVE_KEY,
                "test_key": TEST_KEY,
            },
            [],
        ),
        # A key of the other mode in a key's variable.
        ({"debug": False, "standin": False, "live": True, "live_key": TEST_KEY}, ["payouts.E004"]),
        ({"debug": False, "standin": False, "test_key": LIVE_KEY}, ["payouts.E005"]),
    ],
)
def test_the_stripe_configuration_check(config: dict[str, Any], expected: list[str]) -> None:
    assert _ids(**config) == expected


def test_the_check_is_registered_and_runs_with_every_check() -> None:
    with _config(debug=False, standin=False):
        found = checks.run_checks(tags=["payouts"])
    assert "payouts.E002" in [message.id for message in found]
    with _config(debug=False, standin=False):
        deploy = checks.run_checks(tags=["payouts"], include_deployment_checks=True)
    assert "payouts.E002" in [message.id for message in deploy]


def test_the_check_names_the_variables_to_set_and_never_a_key() -> None:
    with _config(debug=False, standin=False, live=True, test_key=TEST_KEY):
        (error,) = stripe_configuration_check(None)
    text = f"{error.msg} {error.hint}"
    assert "STRIPE_LIVE_SECRET_KEY" in text
    assert TEST_KEY not in text
    with _config(debug=False, standin=False):
        (error,) = stripe_configuration_check(None)
    assert "STRIPE_TEST_SECRET_KEY" in f"{error.msg} {error.hint}"
    assert "STRIPE_STANDIN" in f"{error.msg} {error.hint}"


def test_the_check_does_not_contact_stripe(monkeypatch: pytest.MonkeyPatch) -> None:
    import stripe

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the check called Stripe")

    monkeypatch.setattr(stripe.HTTPClient, "request_with_retries", no_network, raising=False)
    monkeypatch.setattr(stripe.StripeClient, "__init__", no_network)
    for config in (
        {"debug": False, "standin": False, "test_key": TEST_KEY},
        {"debug": False, "standin": False, "live": True, "live_key": LIVE_KEY},
        {"debug": False, "standin": False},
    ):
        with _config(**config):
            stripe_configuration_check(None)


# --- the provider: never a silent stand-in --------------------------------------------------------
def test_the_provider_is_the_stand_in_only_when_asked_for() -> None:
    with _config(debug=True, standin=True):
        assert get_provider().mode == "standin"
        assert provider_is_standin()


@pytest.mark.parametrize(
    "config",
    [
        {"debug": False, "standin": False},
        {"debug": True, "standin": True, "live": True, "test_key": TEST_KEY},
        {"debug": True, "standin": True, "live": True},
    ],
)
def test_the_provider_refuses_a_configuration_without_the_key_it_needs(
    config: dict[str, Any],
) -> None:
    with _config(**config):
        with pytest.raises(ImproperlyConfigured):
            get_provider()
        assert not provider_is_standin()


def test_live_mode_with_both_keys_uses_the_live_key() -> None:
    with _config(debug=False, standin=False, live=True, test_key=TEST_KEY, live_key=LIVE_KEY):
        provider = get_provider()
    assert provider.mode == "live"
    assert provider.client._requestor._client is not STANDIN


# --- the stand-in's URL exists only in stand-in mode ---------------------------------------------
def _authenticate(api_client: Any, user: Any = None) -> Any:
    if user is not None:
        api_client.force_authenticate(user)
    return api_client.post(
        reverse("api:payouts-standin-authenticate"),
        {"client_secret": "pi_123_secret_456", "outcome": "succeed"},
        format="json",
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "config",
    [
        {"debug": False, "standin": False, "test_key": TEST_KEY},
        {"debug": False, "standin": False, "live": True, "live_key": LIVE_KEY},
        {"debug": False, "standin": False},  # refused at start-up, and still no stand-in
        {"debug": True, "standin": True, "live": True, "test_key": TEST_KEY},
    ],
)
@pytest.mark.parametrize("who", ["member", "anonymous"])
def test_outside_stand_in_mode_the_stand_in_url_is_a_404(
    api_client: Any, config: dict[str, Any], who: str
) -> None:
    user = make_user() if who == "member" else None
    with _config(**config):
        response = _authenticate(api_client, user)
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "not_found"
    assert STANDIN.requests == []


@pytest.mark.django_db
def test_in_stand_in_mode_the_stand_in_url_answers(api_client: Any) -> None:
    with _config(debug=True, standin=True):
        response = _authenticate(api_client, make_user())
    assert response.status_code == 400  # it exists: no payment waits with this secret
    assert response.json()["error"]["fields"] == {"client_secret": ["unknown"]}


# --- `manage.py check --deploy` as an operator runs it ---------------------------------------------
def _manage_check(**environ: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "DJSTRIPE_"))}
    env.update(
        DJANGO_SECRET_KEY="a-secret-key-for-this-test-only-" + "x" * 40,
        DJANGO_ALLOWED_HOSTS="clubhouse.example.com",
        # Set, even empty, so that keys in a developer's .env cannot fill them in.
        STRIPE_TEST_SECRET_KEY="",
        STRIPE_LIVE_SECRET_KEY="",
        STRIPE_LIVE_MODE="false",
    )
    env.update(environ)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_check_deploy_fails_with_debug_off_and_no_stripe_key() -> None:
    result = _manage_check(DJANGO_DEBUG="0")
    assert result.returncode != 0
    assert "payouts.E002" in result.stderr


@pytest.mark.slow
def test_check_deploy_fails_when_the_stand_in_is_asked_for_without_debug() -> None:
    result = _manage_check(DJANGO_DEBUG="0", STRIPE_STANDIN="1")
    assert result.returncode != 0
    assert "payouts.E003" in result.stderr


@pytest.mark.slow
def test_check_deploy_fails_in_live_mode_with_only_a_test_key() -> None:
    result = _manage_check(
        DJANGO_DEBUG="0", STRIPE_LIVE_MODE="true", STRIPE_TEST_SECRET_KEY="sk_test_deploy-check"
    )
    assert result.returncode != 0
    assert "payouts.E001" in result.stderr


@pytest.mark.slow
def test_check_deploy_passes_with_a_test_key_as_make_deploy_check_gives_it() -> None:
    result = _manage_check(DJANGO_DEBUG="0", STRIPE_TEST_SECRET_KEY="sk_test_deploy-check-fake")
    assert result.returncode == 0, result.stderr
