from __future__ import annotations

import json

import pytest
import stripe

from payouts.provider import ProviderError
from payouts.provider.standin import STANDIN, parse_form


def test_stripe_form_encoding_round_trips() -> None:
    body = "amount=5&metadata[kind]=tip&items[0][price]=p1&items[1][price]=p2&transfer_data[destination]=acct_1"
    assert parse_form(body) == {
        "amount": "5",
        "metadata": {"kind": "tip"},
        "items": [{"price": "p1"}, {"price": "p2"}],
        "transfer_data": {"destination": "acct_1"},
    }


def test_the_same_idempotency_key_and_params_replays_the_first_object(provider) -> None:
    first = provider.customer_create(email="a@example.test", user_id=1, idempotency_key="c1")
    again = provider.customer_create(email="a@example.test", user_id=1, idempotency_key="c1")
    assert first["id"] == again["id"]
    assert len(STANDIN.all("customers")) == 1


def test_the_same_key_with_other_params_is_an_idempotency_error(provider) -> None:
    provider.customer_create(email="a@example.test", user_id=1, idempotency_key="c1")
    with pytest.raises(ProviderError) as exc:
        provider.customer_create(email="b@example.test", user_id=1, idempotency_key="c1")
    assert exc.value.code == "idempotency_error"


def test_a_stored_error_replays_under_the_same_key(provider) -> None:
    acct = provider.account_create(email="c@example.test", user_id=2, idempotency_key="a2")
    STANDIN.account_activate(acct["id"])
    kwargs = {
        "amount": 100,
        "currency": "usd",
        "destination": acct["id"],
        "transfer_group": "g",
        "metadata": {},
        "idempotency_key": "t1",
    }
    with pytest.raises(ProviderError):
        provider.transfer_create(**kwargs)
    STANDIN.top_up(1000)
    with pytest.raises(ProviderError):  # like Stripe: the first answer is kept for the key
        provider.transfer_create(**kwargs)
    assert provider.transfer_create(**{**kwargs, "idempotency_key": "t2"})["amount"] == 100


def test_webhook_signatures_verify_with_stripes_own_code() -> None:
    event = {"id": "evt_1", "object": "event", "type": "account.updated", "data": {"object": {}}}
    payload, header = STANDIN.signed_webhook(event, "whsec_test")
    parsed = stripe.Webhook.construct_event(payload.decode(), header, "whsec_test")
    assert parsed["id"] == "evt_1"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload.decode(), header, "whsec_other")
    assert json.loads(payload)["type"] == "account.updated"


def test_lists_page_like_stripe(provider) -> None:
    acct = provider.account_create(email="c@example.test", user_id=2, idempotency_key="a2")
    STANDIN.account_activate(acct["id"])
    STANDIN.top_up(10**6)
    for i in range(150):
        provider.transfer_create(amount=1, currency="usd", destination=acct["id"],
                                 transfer_group=f"g{i % 2}", metadata={}, idempotency_key=f"k{i}")  # fmt: skip
    assert len(provider.transfer_list()) == 150
    assert len(provider.transfer_list(transfer_group="g1")) == 75


def test_a_configured_secret_key_selects_real_stripe_and_none_the_stand_in(settings) -> None:
    from payouts.provider import get_provider as choose

    choose.cache_clear()
    try:
        settings.STRIPE_TEST_SECRET_KEY = "sk_test_" + "x" * 24
        real = choose()
        assert real.mode == "test"
        assert real.client._requestor._client is not STANDIN  # stripe-python's own HTTP client
        choose.cache_clear()
        settings.STRIPE_TEST_SECRET_KEY = ""
        standin = choose()
        assert standin.mode == "standin"
        assert standin.client._requestor._client is STANDIN
    finally:
        choose.cache_clear()


def _intent(provider, card: str, key: str) -> dict:
    acct = provider.account_create(email=f"{key}@example.test", user_id=3, idempotency_key=key)
    STANDIN.account_activate(acct["id"])
    customer = provider.customer_create(
        email="p@example.test", user_id=4, idempotency_key=f"c{key}"
    )
    pm = provider.payment_method_attach(payment_method=card, customer=customer["id"])
    return {
        "amount": 1000, "currency": "usd", "customer": customer["id"], "payment_method": pm["id"],
        "application_fee_amount": 100, "destination": acct["id"], "transfer_group": "g",
        "metadata": {}, "idempotency_key": f"pi-{key}",
    }  # fmt: skip


def test_a_payment_intent_not_yet_succeeded_can_be_canceled_once_and_never_confirmed(
    provider,
) -> None:
    intent = provider.payment_intent_create(
        **_intent(provider, "pm_card_threeDSecure2Required", "x1")
    )
    assert intent["status"] == "requires_action"
    canceled = provider.payment_intent_cancel(intent["id"], idempotency_key="cancel-1")
    assert canceled["status"] == "canceled"
    assert STANDIN.events[-1]["type"] == "payment_intent.canceled"
    with pytest.raises(Exception, match="canceled"):
        STANDIN.complete_3ds(intent["id"])  # the cardholder can no longer confirm it
    with pytest.raises(ProviderError) as exc:  # a new request (another key): refused
        provider.payment_intent_cancel(intent["id"], idempotency_key="cancel-2")
    assert exc.value.extra["provider_code"] == "payment_intent_unexpected_state"


def test_a_succeeded_payment_intent_cannot_be_canceled(provider) -> None:
    intent = provider.payment_intent_create(**_intent(provider, "pm_card_visa", "x2"))
    with pytest.raises(ProviderError) as exc:
        provider.payment_intent_cancel(intent["id"], idempotency_key="cancel-3")
    assert exc.value.extra["provider_code"] == "payment_intent_unexpected_state"
    assert provider.payment_intent_retrieve(intent["id"])["status"] == "succeeded"


def test_a_decline_names_the_payment_intent_it_declined(provider) -> None:
    from payouts.provider import CardDeclined

    with pytest.raises(CardDeclined) as exc:
        provider.payment_intent_create(**_intent(provider, "pm_card_chargeDeclined", "x3"))
    declined = STANDIN.all("payment_intents")[-1]
    assert exc.value.payment_intent_id == declined["id"]
    assert "payment_intent" not in exc.value.as_dict()  # kept off the API's error body
    assert [i["id"] for i in provider.payment_intent_list(customer=declined["customer"])] == [
        declined["id"]
    ]
