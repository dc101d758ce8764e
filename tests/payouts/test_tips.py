from __future__ import annotations

import pytest
from django.test import override_settings

from accounts.models import Block
from clubhouse.errors import ApplicationError
from clubhouse.money import Money
from payouts import ledger, services
from payouts.ledger import Kind
from payouts.models import Journal, PaymentCustomer, Tip
from payouts.provider import CardDeclined
from payouts.provider.standin import STANDIN
from payouts.services.cards import PaymentMethodRequired

from .conftest import follow, make_creator, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair():
    creator, sender = make_creator(), make_user()
    follow(sender, creator)
    return sender, creator


def _code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.code


def test_first_tip_takes_the_card_and_saves_it_for_the_next(pair) -> None:
    sender, creator = pair
    tip = services.tip_send(sender=sender, creator=creator, amount=Money(1000, "USD"),
                            payment_method="pm_card_visa")  # fmt: skip
    assert (tip.status, tip.amount, tip.fee, tip.charge_amount) == ("succeeded", 1000, 61, 1061)
    customer = PaymentCustomer.objects.get(user=sender)
    assert (customer.card_brand, customer.card_last4) == ("visa", "4242")
    second = services.tip_send(sender=sender, creator=creator, amount=Money(500, "USD"))
    assert second.status == "succeeded"
    intents = STANDIN.all("payment_intents")
    assert {pi["payment_method"] for pi in intents} == {customer.default_payment_method_id}
    assert len(STANDIN.all("customers")) == 1


def test_a_tip_is_a_destination_charge_with_the_fees_as_application_fee(pair) -> None:
    sender, creator = pair
    tip = services.tip_send(sender=sender, creator=creator, amount=Money(1000, "USD"),
                            payment_method="pm_card_visa")  # fmt: skip
    pi = STANDIN.get("payment_intents", tip.stripe_payment_intent_id)
    assert pi["application_fee_amount"] == 61
    assert pi["amount"] == 1061
    assert pi["transfer_data"]["destination"] == creator.connected_account.stripe_account_id
    assert pi["transfer_group"] == f"tip-{tip.uuid}"
    charge = STANDIN.get("charges", tip.stripe_charge_id)
    # Stripe's flow of funds: the whole charge goes to the creator's account, the application
    # fee comes back to the platform, so the creator keeps exactly the tip.
    transfer = STANDIN.get("transfers", charge["transfer"])
    fee = STANDIN.get("application_fees", charge["application_fee"])
    assert (transfer["amount"], fee["amount"]) == (1061, 61)
    assert fee["originating_transaction"] == charge["id"]
    assert STANDIN.connected_balance(creator.connected_account.stripe_account_id) == {"usd": 1000}
    assert ledger.creator_balances(creator) == {"USD": 1000}
    assert ledger.balance_of(Kind.PROCESSING_FEES, "USD") == 61
    assert Journal.objects.get(kind="tip").stripe_charge_id == tip.stripe_charge_id


def test_without_a_saved_card_the_client_is_asked_for_one(pair) -> None:
    sender, creator = pair
    with pytest.raises(PaymentMethodRequired):
        services.tip_send(sender=sender, creator=creator, amount=Money(1000, "USD"))
    assert not Tip.objects.exists()


def test_3ds_returns_requires_action_with_a_client_secret(pair) -> None:
    sender, creator = pair
    tip = services.tip_send(sender=sender, creator=creator, amount=Money(1000, "USD"),
                            payment_method="pm_card_threeDSecure2Required")  # fmt: skip
    assert tip.status == Tip.Status.REQUIRES_ACTION
    assert tip.client_secret.startswith(tip.stripe_payment_intent_id)
    assert not Journal.objects.exists()


def test_a_declined_card_fails_the_tip(pair) -> None:
    sender, creator = pair
    with pytest.raises(CardDeclined):
        services.tip_send(sender=sender, creator=creator, amount=Money(1000, "USD"),
                          payment_method="pm_card_chargeDeclined")  # fmt: skip
    assert Tip.objects.get().status == Tip.Status.FAILED


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ("self", "tip_self"),
        ("blocked", "tip_blocked"),
        ("blocked_by_creator", "tip_blocked"),
        ("not_creator", "tip_creator_not_eligible"),
        ("send_money_off", "tip_creator_not_eligible"),
        ("not_onboarded", "tip_creator_not_onboarded"),
        ("not_following", "tip_relationship_required"),
        ("too_small", "tip_too_small"),
        ("too_large", "tip_too_large"),
        ("currency", "tip_currency"),
    ],
)
def test_eligibility_errors_have_distinct_codes(setup: str, code: str) -> None:
    sender = make_user()
    amount = Money(1000, "USD")
    if setup == "not_creator":
        creator = make_user()
    elif setup == "send_money_off":
        creator = make_creator(send_money_enabled=False)
    elif setup == "not_onboarded":
        creator = make_creator(active=False)
    else:
        creator = make_creator()
    if setup != "not_following":
        follow(sender, creator)
    if setup == "self":
        sender = creator
    if setup == "blocked":
        Block.objects.create(blocker=sender, blocked=creator)
    if setup == "blocked_by_creator":
        Block.objects.create(blocker=creator, blocked=sender)
    if setup == "too_small":
        amount = Money(10, "USD")
    if setup == "too_large":
        amount = Money(10**7, "USD")
    if setup == "currency":
        amount = Money(1000, "CHF")
    with pytest.raises(ApplicationError) as exc:
        services.tip_send(
            sender=sender, creator=creator, amount=amount, payment_method="pm_card_visa"
        )
    assert _code(exc) == code
    assert not STANDIN.all("payment_intents")


@override_settings(PAYOUTS_TIP_DAILY_LIMIT=2500)
def test_the_daily_limit_counts_the_last_24_hours(pair) -> None:
    sender, creator = pair
    services.tip_send(sender=sender, creator=creator, amount=Money(2000, "USD"),
                      payment_method="pm_card_visa")  # fmt: skip
    with pytest.raises(ApplicationError) as exc:
        services.tip_send(sender=sender, creator=creator, amount=Money(1000, "USD"))
    assert exc.value.code == "tip_daily_limit"
    services.tip_send(sender=sender, creator=creator, amount=Money(500, "USD"))


def test_a_refund_reverses_the_creator_share_and_books_the_refund(pair) -> None:
    sender, creator = pair
    tip = services.tip_send(sender=sender, creator=creator, amount=Money(1000, "USD"),
                            payment_method="pm_card_visa")  # fmt: skip
    services.tip_refund(tip=tip, actor=make_user(is_staff=True))
    tip.refresh_from_db()
    assert tip.status == Tip.Status.REFUNDED
    assert ledger.creator_balances(creator) == {"USD": 0}
    assert ledger.balance_of(Kind.REFUNDS, "USD") == 1061


def test_jpy_tips_have_no_minor_units(pair) -> None:
    sender, creator = pair
    tip = services.tip_send(sender=sender, creator=creator, amount=Money(1000, "JPY"),
                            payment_method="pm_card_visa")  # fmt: skip
    assert tip.charge_amount - (round(tip.charge_amount * 360 / 10_000)) >= 1000
    assert ledger.creator_balances(creator) == {"JPY": 1000}


# --- REST -----------------------------------------------------------------------------------


def test_api_quote_send_and_read(api_client, pair) -> None:
    sender, creator = pair
    api_client.force_authenticate(sender)
    quote = api_client.get("/api/v1/payouts/tips/quote/", {"amount": 1000, "currency": "USD"})
    assert quote.json() == {"tip": 1000, "fee": 61, "charge": 1061, "currency": "USD"}
    missing = api_client.post(
        "/api/v1/payouts/tips/", {"creator": creator.username, "amount": 1000}
    )
    assert missing.status_code == 402
    assert missing.json()["error"]["code"] == "payment_method_required"
    sent = api_client.post(
        "/api/v1/payouts/tips/",
        {
            "creator": creator.username,
            "amount": 1000,
            "currency": "USD",
            "payment_method": "pm_card_visa",
        },
    )
    assert sent.status_code == 201
    assert sent.json()["status"] == "succeeded"
    detail = api_client.get(f"/api/v1/payouts/tips/{sent.json()['uuid']}/")
    assert detail.json()["charge_amount"] == 1061
    card = api_client.get("/api/v1/payouts/payment-method/").json()
    assert card == {"card": {"brand": "visa", "last4": "4242"}}


def test_api_3ds_gives_the_client_secret(api_client, pair) -> None:
    sender, creator = pair
    api_client.force_authenticate(sender)
    sent = api_client.post(
        "/api/v1/payouts/tips/",
        {
            "creator": creator.username,
            "amount": 1000,
            "payment_method": "pm_card_threeDSecure2Required",
        },
    )
    assert sent.status_code == 201
    assert sent.json()["status"] == "requires_action"
    assert sent.json()["client_secret"]


def test_api_errors_use_the_project_shape(api_client) -> None:
    sender = make_user()
    api_client.force_authenticate(sender)
    response = api_client.post(
        "/api/v1/payouts/tips/", {"creator": sender.username, "amount": 1000}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "tip_self"


def test_api_needs_a_member(api_client) -> None:
    waitlisted = make_user(status="waitlisted")
    api_client.force_authenticate(waitlisted)
    assert api_client.get("/api/v1/payouts/wallet/").json()["error"]["code"] == "waitlisted"


def test_api_wallet_shows_balances_and_onboarding(api_client) -> None:
    creator = make_creator()
    api_client.force_authenticate(creator)
    wallet = api_client.get("/api/v1/payouts/wallet/").json()
    assert wallet["creator"]
    assert wallet["payouts_active"]
    assert wallet["balances"] == {}
    link = api_client.post("/api/v1/payouts/connect/onboarding-link/")
    assert link.status_code == 201
    assert link.json()["url"].startswith("https://")


def test_api_creator_application(api_client) -> None:
    api_client.force_authenticate(make_user())
    first = api_client.post("/api/v1/payouts/creator-application/", {"pitch": "hi"})
    again = api_client.post("/api/v1/payouts/creator-application/", {"pitch": "hi"})
    assert first.status_code == 201
    assert again.json()["error"]["code"] == "creator_already_applied"


def test_a_double_tap_with_the_same_request_key_charges_once(api_client, pair) -> None:
    sender, creator = pair
    api_client.force_authenticate(sender)
    body = {"creator": creator.username, "amount": 1000, "payment_method": "pm_card_visa"}
    first = api_client.post("/api/v1/payouts/tips/", body, HTTP_IDEMPOTENCY_KEY="tap-1")
    second = api_client.post("/api/v1/payouts/tips/", body, HTTP_IDEMPOTENCY_KEY="tap-1")
    assert first.json()["uuid"] == second.json()["uuid"]
    assert len(STANDIN.all("payment_intents")) == 1
    other = api_client.post("/api/v1/payouts/tips/", {**body, "amount": 2000},
                            HTTP_IDEMPOTENCY_KEY="tap-1")  # fmt: skip
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "tip_request_key_reused"


def test_a_double_tap_without_a_key_charges_once(api_client, pair) -> None:
    sender, creator = pair
    api_client.force_authenticate(sender)
    body = {"creator": creator.username, "amount": 1000, "payment_method": "pm_card_visa"}
    first = api_client.post("/api/v1/payouts/tips/", body)
    second = api_client.post("/api/v1/payouts/tips/", body)
    assert first.status_code == second.status_code == 201
    assert first.json()["uuid"] == second.json()["uuid"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(STANDIN.all("payment_intents")) == 1
    # Another amount is another tip.
    other = api_client.post("/api/v1/payouts/tips/", {**body, "amount": 500})
    assert other.status_code == 201
    assert other.json()["uuid"] != first.json()["uuid"]
    assert len(STANDIN.all("payment_intents")) == 2


def test_the_same_tip_again_after_the_duplicate_window_is_a_new_tip(api_client, pair) -> None:
    from datetime import timedelta

    sender, creator = pair
    api_client.force_authenticate(sender)
    body = {"creator": creator.username, "amount": 1000, "payment_method": "pm_card_visa"}
    first = api_client.post("/api/v1/payouts/tips/", body).json()
    Tip.objects.filter(uuid=first["uuid"]).update(
        created=Tip.objects.get(uuid=first["uuid"]).created - timedelta(seconds=61)
    )
    again = api_client.post("/api/v1/payouts/tips/", body)
    assert again.status_code == 201
    assert again.json()["uuid"] != first["uuid"]
    assert len(STANDIN.all("payment_intents")) == 2


def test_a_tip_that_failed_can_be_sent_again_at_once_without_a_key(api_client, pair) -> None:
    sender, creator = pair
    api_client.force_authenticate(sender)
    body = {"creator": creator.username, "amount": 1000}
    declined = api_client.post("/api/v1/payouts/tips/",
                               {**body, "payment_method": "pm_card_chargeDeclined"})  # fmt: skip
    assert declined.status_code == 402
    retried = api_client.post("/api/v1/payouts/tips/", {**body, "payment_method": "pm_card_visa"})
    assert retried.status_code == 201
    assert retried.json()["status"] == "succeeded"


def test_an_operator_sets_the_tip_limits_from_the_environment() -> None:
    import os
    import subprocess
    import sys

    from django.conf import settings

    env = {**os.environ, "PAYOUTS_TIP_DAILY_LIMIT": "4321", "PAYOUTS_TIP_MAX": "999",
           "PAYOUTS_TIP_DUPLICATE_WINDOW": "7", "PAYOUTS_TIP_STUCK_AFTER": "600"}  # fmt: skip
    code = ("from payouts import conf; print(conf.tip_daily_limit(), conf.tip_max_amount(), "
            "conf.tip_duplicate_window(), conf.tip_stuck_after())")  # fmt: skip
    result = subprocess.run(  # noqa: S603 (the interpreter running these tests, fixed arguments)
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == ["4321", "999", "7", "600"]
