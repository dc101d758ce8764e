"""GET /api/v1/payouts/config/ (what a browser or an app needs to take a card itself) and the
stand-in's test authentication of a 3-D Secure payment (POST payouts/standin/authenticate/)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings
from django.urls import reverse

from clubhouse.money import Money
from payouts import services
from payouts.models import HandledEvent, Journal, Tip
from payouts.provider import get_provider
from payouts.provider.standin import STANDIN

from .conftest import follow, make_creator, make_user

pytestmark = pytest.mark.django_db

SECRETS = {
    "STRIPE_TEST_SECRET_KEY": "sk_test_51NeverSentToAnyBrowser",
    "STRIPE_LIVE_SECRET_KEY": "sk_live_51NeverSentToAnyBrowser",
    "DJSTRIPE_WEBHOOK_SECRET": "whsec_NeverSentToAnyBrowser",
}


@pytest.fixture
def provider_mode() -> Iterator[Any]:
    """mode("test"|"live", **settings): real-Stripe settings, and a provider built from them
    (nothing is sent to Stripe: the config endpoint only reads settings)."""
    overrides: list[Any] = []

    def mode(name: str, **extra: Any) -> None:
        values = {**SECRETS, "STRIPE_LIVE_MODE": name == "live", **extra}
        override = override_settings(**values)
        override.enable()
        overrides.append(override)
        get_provider.cache_clear()
        assert get_provider().mode == name

    yield mode
    for override in reversed(overrides):
        override.disable()
    get_provider.cache_clear()


def _config(api_client: Any) -> Any:
    return api_client.get(reverse("api:payouts-config"))


def _no_secret_in(response: Any) -> None:
    body = response.content.decode()
    for secret in SECRETS.values():
        assert secret not in body
    assert "sk_" not in body
    assert "whsec_" not in body
    assert "rk_" not in body


def test_the_stand_in_offers_test_cards_and_no_key(api_client) -> None:
    response = _config(api_client)  # anonymous: a sign-up page or an app before login
    assert response.status_code == 200
    assert response.json() == {
        "mode": "standin",
        "publishable_key": None,
        "card_entry": "test_cards",
    }


@pytest.mark.parametrize("name", ["test", "live"])
def test_real_stripe_gives_the_publishable_key_of_its_mode_and_never_a_secret(
    api_client, provider_mode, name
) -> None:
    provider_mode(
        name,
        STRIPE_TEST_PUBLIC_KEY="pk_test_51Publishable",
        STRIPE_LIVE_PUBLIC_KEY="pk_live_51Publishable",
    )
    response = _config(api_client)
    assert response.status_code == 200
    assert response.json() == {
        "mode": name,
        "publishable_key": f"pk_{name}_51Publishable",
        "card_entry": "stripe",
    }
    _no_secret_in(response)


def test_without_a_publishable_key_card_entry_is_unavailable(api_client, provider_mode) -> None:
    provider_mode("test", STRIPE_TEST_PUBLIC_KEY="")
    assert _config(api_client).json() == {
        "mode": "test",
        "publishable_key": None,
        "card_entry": "unavailable",
    }


@pytest.mark.parametrize(
    ("name", "wrong"),
    [
        ("test", "sk_test_51NeverSentToAnyBrowser"),  # a secret key pasted by mistake
        ("live", "rk_live_51Restricted"),  # a restricted key
        ("live", "pk_test_51OtherMode"),  # test key in live mode: cards would never work
        ("test", "pk_live_51OtherMode"),
    ],
)
def test_a_key_that_is_not_a_publishable_key_of_the_mode_is_never_sent(
    api_client, provider_mode, name, wrong
) -> None:
    setting = "STRIPE_LIVE_PUBLIC_KEY" if name == "live" else "STRIPE_TEST_PUBLIC_KEY"
    provider_mode(name, **{setting: wrong})
    response = _config(api_client)
    assert response.json() == {"mode": name, "publishable_key": None, "card_entry": "unavailable"}
    assert wrong not in response.content.decode()
    _no_secret_in(response)


def test_the_config_is_in_the_openapi_schema(api_client) -> None:
    schema = api_client.get(reverse("schema"))
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "/api/v1/payouts/config/" in text
    assert "publishable_key" in text


# --- the stand-in's 3-D Secure answer --------------------------------------------------------
def _tip_waiting_for_3ds(sender: Any) -> Any:
    creator = make_creator()
    follow(sender, creator)
    tip = services.tip_send(
        sender=sender,
        creator=creator,
        amount=Money(1000, "USD"),
        payment_method="pm_card_threeDSecure2Required",
    )
    assert tip.status == Tip.Status.REQUIRES_ACTION
    return tip


def _authenticate(api_client: Any, user: Any, secret: str, outcome: str = "succeed") -> Any:
    api_client.force_authenticate(user)
    return api_client.post(
        reverse("api:payouts-standin-authenticate"),
        {"client_secret": secret, "outcome": outcome},
        format="json",
    )


def test_completing_the_test_authentication_settles_the_tip_through_the_webhook(
    api_client,
) -> None:
    sender = make_user()
    tip = _tip_waiting_for_3ds(sender)
    response = _authenticate(api_client, sender, tip.client_secret)
    assert response.status_code == 200, response.content
    assert response.json() == {
        "payment_intent": tip.stripe_payment_intent_id,
        "status": "succeeded",
    }
    tip.refresh_from_db()
    assert tip.status == Tip.Status.SUCCEEDED
    assert Journal.objects.filter(kind=Journal.Kind.TIP).count() == 1
    assert HandledEvent.objects.filter(type="payment_intent.succeeded").count() == 1
    # Twice: the payment no longer waits; nothing is booked again.
    again = _authenticate(api_client, sender, tip.client_secret)
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "payment_not_awaiting_action"
    assert Journal.objects.filter(kind=Journal.Kind.TIP).count() == 1


def test_failing_the_test_authentication_fails_the_tip(api_client) -> None:
    sender = make_user()
    tip = _tip_waiting_for_3ds(sender)
    response = _authenticate(api_client, sender, tip.client_secret, outcome="fail")
    assert response.status_code == 200
    tip.refresh_from_db()
    assert tip.status == Tip.Status.FAILED
    assert not Journal.objects.filter(kind=Journal.Kind.TIP).exists()


def test_only_the_payer_can_answer_and_a_wrong_secret_is_refused(api_client) -> None:
    sender = make_user()
    tip = _tip_waiting_for_3ds(sender)
    stranger = make_user()
    response = _authenticate(api_client, stranger, tip.client_secret)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    wrong = _authenticate(api_client, sender, f"{tip.stripe_payment_intent_id}_secret_guess")
    assert wrong.status_code == 400
    assert wrong.json()["error"]["fields"] == {"client_secret": ["unknown"]}
    bad = _authenticate(api_client, sender, tip.client_secret, outcome="maybe")
    assert bad.status_code == 400
    assert "outcome" in json.dumps(bad.json()["error"]["fields"])
    tip.refresh_from_db()
    assert tip.status == Tip.Status.REQUIRES_ACTION


def test_with_real_stripe_the_test_authentication_does_not_exist(api_client, provider_mode) -> None:
    provider_mode("test", STRIPE_TEST_PUBLIC_KEY="pk_test_51Publishable")
    user = make_user()
    response = _authenticate(api_client, user, "pi_123_secret_456")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert STANDIN.requests == []  # the stand-in was not touched


# --- pages: Stripe.js is never in a page's HTML --------------------------------------------
def _profile_html(client: Any, creator: Any) -> str:
    client.force_login(make_user())
    response = client.get(f"/u/{creator.username}/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_page_with_a_payment_button_includes_no_stripe_js_in_stand_in_mode(client) -> None:
    html = _profile_html(client, make_creator())
    assert 'data-test-mode="1"' in html  # the card chooser offers the stand-in's test cards
    assert "stripe.com" not in html


def test_with_stripe_keys_stripe_js_is_not_in_the_page_either(client, provider_mode) -> None:
    """payment_card.js loads it from js.stripe.com when a card form opens, not every page."""
    creator = make_creator()
    provider_mode("test", STRIPE_TEST_PUBLIC_KEY="pk_test_51Publishable")
    html = _profile_html(client, creator)
    assert 'data-test-mode=""' in html  # no test banner, no test cards with real Stripe
    assert "stripe.com" not in html
    assert "pk_test_51Publishable" not in html  # the key comes from payouts/config/


def test_the_test_authentication_pays_a_subscriptions_first_invoice(api_client) -> None:
    from clubs.selectors import club_premium_access
    from payouts.models import ClubSubscription

    from .test_memberships import paid_club, subscribed

    club = paid_club()
    user, sub = subscribed(club, card="pm_card_threeDSecure2Required")
    assert sub.status == ClubSubscription.Status.INCOMPLETE
    response = _authenticate(api_client, user, sub.client_secret)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "succeeded"
    sub.refresh_from_db()
    assert sub.status == ClubSubscription.Status.ACTIVE
    assert club_premium_access(user, club)
    assert Journal.objects.filter(kind=Journal.Kind.MEMBERSHIP).count() == 1
