"""Every request the real provider sends, as it leaves stripe-python (captured at the HTTP
client, never reaching the network), checked against stripe-python's typed parameters for that
endpoint; answered with Stripe's published example object (stripe_fixtures/)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
import stripe
from django.conf import settings

from payouts.provider.base import PaymentProvider
from payouts.provider.standin import parse_form
from payouts.provider.stripe_provider import StripeProvider
from tests.payouts.stripe_shapes import fixture, params_class, params_errors


@dataclass
class Sent:
    method: str
    path: str
    params: dict[str, Any]
    headers: dict[str, str]


# The resource each path answers with (Stripe's example object of it).
_RESOURCE_OF_PATH = {
    "customers": "customer",
    "setup_intents": "setup_intent",
    "payment_methods": "payment_method",
    "payment_intents": "payment_intent",
    "refunds": "refund",
    "accounts": "account",
    "account_links": "account_link",
    "transfers": "transfer",
    "balance_transactions": "balance_transaction",
    "payouts": "payout",
    "balance": "balance",
    "prices": "price",
    "subscriptions": "subscription",
    "invoices": "invoice",
    "charges": "charge",
    "disputes": "dispute",
    "application_fees": "application_fee",
    "topups": "topup",
}


class CapturingHTTPClient(stripe.HTTPClient):
    """stripe-python's transport, replaced: records each request and answers it with Stripe's
    example object (a list of one for a list endpoint). Nothing leaves the process."""

    name = "contract-capture"

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Sent] = []

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        parts = urlsplit(url)
        method = method.upper()
        body = post_data.decode() if isinstance(post_data, bytes) else (post_data or "")
        params = parse_form(parts.query if method in {"GET", "DELETE"} else body)
        self.sent.append(Sent(method, parts.path, params, dict(headers or {})))
        segments = parts.path.strip("/").split("/")[1:]
        answer = fixture(_RESOURCE_OF_PATH[segments[0]])
        if method == "GET" and len(segments) == 1 and segments[0] != "balance":
            answer = {"object": "list", "data": [answer], "has_more": False, "url": parts.path}
        return json.dumps(answer), 200, {"request-id": "req_contract"}

    def close(self) -> None:
        pass


@dataclass
class Case:
    """One way the provider calls one endpoint."""

    provider_method: str
    call: Callable[[StripeProvider], Any]
    http: str  # method and path (a regex) of Stripe's endpoint
    service: Callable[[stripe.StripeClient], Any]  # the stripe-python method that sends it
    idempotency_key: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    label: str = ""

    @property
    def id(self) -> str:
        return f"{self.provider_method}{'-' + self.label if self.label else ''}"


KEY = "idem_contract_1"

CASES = [
    Case(
        "customer_create",
        lambda p: p.customer_create(email="a@example.test", user_id=7, idempotency_key=KEY),
        "POST /v1/customers",
        lambda c: c.v1.customers.create,
        KEY,
    ),
    Case(
        "setup_intent_create",
        lambda p: p.setup_intent_create(customer="cus_1"),
        "POST /v1/setup_intents",
        lambda c: c.v1.setup_intents.create,
    ),
    Case(
        "payment_method_attach",
        lambda p: p.payment_method_attach(payment_method="pm_1", customer="cus_1"),
        "POST /v1/payment_methods/pm_1/attach",
        lambda c: c.v1.payment_methods.attach,
    ),
    *[
        Case(
            "payment_intent_create",
            lambda p, on_behalf_of=on_behalf_of: p.payment_intent_create(
                amount=500,
                currency="USD",
                customer="cus_1",
                payment_method="pm_1",
                application_fee_amount=50,
                destination="acct_1",
                transfer_group="tip_9",
                metadata={"kind": "tip", "tip_id": "9"},
                idempotency_key=KEY,
                on_behalf_of=on_behalf_of,
            ),
            "POST /v1/payment_intents",
            lambda c: c.v1.payment_intents.create,
            KEY,
            label=label,
        )
        for label, on_behalf_of in (("destination", None), ("on-behalf-of", "acct_1"))
    ],
    Case(
        "payment_intent_retrieve",
        lambda p: p.payment_intent_retrieve("pi_1"),
        "GET /v1/payment_intents/pi_1",
        lambda c: c.v1.payment_intents.retrieve,
    ),
    *[
        Case(
            "payment_intent_list",
            lambda p, gte=gte: p.payment_intent_list(customer="cus_1", created_gte=gte),
            "GET /v1/payment_intents",
            lambda c: c.v1.payment_intents.list,
            label=label,
        )
        for label, gte in (("all", None), ("since", 1_700_000_000))
    ],
    Case(
        "payment_intent_cancel",
        lambda p: p.payment_intent_cancel("pi_1", idempotency_key=KEY),
        "POST /v1/payment_intents/pi_1/cancel",
        lambda c: c.v1.payment_intents.cancel,
        KEY,
    ),
    *[
        Case(
            "refund_create",
            lambda p, amount=amount: p.refund_create(
                payment_intent="pi_1", idempotency_key=KEY, amount=amount
            ),
            "POST /v1/refunds",
            lambda c: c.v1.refunds.create,
            KEY,
            label=label,
        )
        for label, amount in (("full", None), ("partial", 120))
    ],
    Case(
        "account_create",
        lambda p: p.account_create(email="c@example.test", user_id=7, idempotency_key=KEY),
        "POST /v1/accounts",
        lambda c: c.v1.accounts.create,
        KEY,
    ),
    Case(
        "account_retrieve",
        lambda p: p.account_retrieve("acct_1"),
        "GET /v1/accounts/acct_1",
        lambda c: c.v1.accounts.retrieve,
    ),
    Case(
        "account_link_create",
        lambda p: p.account_link_create(
            account="acct_1",
            refresh_url="https://example.test/refresh",
            return_url="https://example.test/return",
        ),
        "POST /v1/account_links",
        lambda c: c.v1.account_links.create,
    ),
    Case(
        "transfer_create",
        lambda p: p.transfer_create(
            amount=500_000,
            currency="USD",
            destination="acct_1",
            transfer_group="stipend_7_2026-01",
            metadata={"kind": "stipend"},
            idempotency_key=KEY,
        ),
        "POST /v1/transfers",
        lambda c: c.v1.transfers.create,
        KEY,
    ),
    *[
        Case(
            "transfer_list",
            lambda p, kwargs=kwargs: p.transfer_list(**kwargs),
            "GET /v1/transfers",
            lambda c: c.v1.transfers.list,
            label=label,
        )
        for label, kwargs in (
            ("all", {}),
            ("group", {"transfer_group": "tip_9"}),
            ("since", {"created_gte": 1_700_000_000}),
        )
    ],
    *[
        Case(
            method,
            lambda p, method=method, gte=gte: getattr(p, method)(created_gte=gte),
            f"GET /v1/{path}",
            lambda c, path=path: getattr(c.v1, path).list,
            label=label,
        )
        for method, path in (
            ("balance_transaction_list", "balance_transactions"),
            ("payout_list", "payouts"),
            ("refund_list", "refunds"),
            ("dispute_list", "disputes"),
            ("application_fee_list", "application_fees"),
            ("topup_list", "topups"),
        )
        for label, gte in (("all", None), ("since", 1_700_000_000))
    ],
    Case(
        "payout_create",
        lambda p: p.payout_create(amount=1000, currency="USD", idempotency_key=KEY),
        "POST /v1/payouts",
        lambda c: c.v1.payouts.create,
        KEY,
    ),
    Case(
        "balance_retrieve",
        lambda p: p.balance_retrieve(),
        "GET /v1/balance",
        lambda c: c.v1.balance.retrieve,
    ),
    Case(
        "price_create",
        lambda p: p.price_create(
            amount=900,
            currency="USD",
            product_name="Night owls membership",
            metadata={"club_id": "3"},
            idempotency_key=KEY,
        ),
        "POST /v1/prices",
        lambda c: c.v1.prices.create,
        KEY,
    ),
    Case(
        "club_subscription_create",
        lambda p: p.club_subscription_create(
            customer="cus_1",
            price="price_1",
            payment_method="pm_1",
            destination="acct_1",
            application_fee_percent=Decimal("10.00"),
            metadata={"kind": "membership"},
            idempotency_key=KEY,
        ),
        "POST /v1/subscriptions",
        lambda c: c.v1.subscriptions.create,
        KEY,
    ),
    Case(
        "subscription_retrieve",
        lambda p: p.subscription_retrieve("sub_1"),
        "GET /v1/subscriptions/sub_1",
        lambda c: c.v1.subscriptions.retrieve,
    ),
    Case(
        "subscription_list",
        lambda p: p.subscription_list(customer="cus_1"),
        "GET /v1/subscriptions",
        lambda c: c.v1.subscriptions.list,
    ),
    *[
        Case(
            "subscription_set_cancel_at_period_end",
            lambda p, cancel=cancel: p.subscription_set_cancel_at_period_end(
                subscription="sub_1", cancel=cancel, idempotency_key=KEY
            ),
            "POST /v1/subscriptions/sub_1",
            lambda c: c.v1.subscriptions.update,
            KEY,
            label=str(cancel).lower(),
        )
        for cancel in (True, False)
    ],
    Case(
        "subscription_cancel_now",
        lambda p: p.subscription_cancel_now("sub_1"),
        "DELETE /v1/subscriptions/sub_1",
        lambda c: c.v1.subscriptions.cancel,
    ),
    Case(
        "invoice_retrieve",
        lambda p: p.invoice_retrieve("in_1"),
        "GET /v1/invoices/in_1",
        lambda c: c.v1.invoices.retrieve,
    ),
    Case(
        "charge_retrieve",
        lambda p: p.charge_retrieve("ch_1"),
        "GET /v1/charges/ch_1",
        lambda c: c.v1.charges.retrieve,
    ),
    Case(
        "charge_metadata_update",
        lambda p: p.charge_metadata_update(charge="ch_1", metadata={"tip_id": "9"}),
        "POST /v1/charges/ch_1",
        lambda c: c.v1.charges.update,
    ),
    Case(
        "refund_retrieve",
        lambda p: p.refund_retrieve("re_1"),
        "GET /v1/refunds/re_1",
        lambda c: c.v1.refunds.retrieve,
    ),
    Case(
        "topup_retrieve",
        lambda p: p.topup_retrieve("tu_1"),
        "GET /v1/topups/tu_1",
        lambda c: c.v1.topups.retrieve,
    ),
    Case(
        "charge_refund_list",
        lambda p: p.charge_refund_list("ch_1"),
        "GET /v1/refunds",
        lambda c: c.v1.refunds.list,
    ),
    *[
        Case(
            "connected_payout_list",
            lambda p, gte=gte: p.connected_payout_list(account="acct_1", created_gte=gte),
            "GET /v1/payouts",
            lambda c: c.v1.payouts.list,
            headers={"Stripe-Account": "acct_1"},
            label=label,
        )
        for label, gte in (("all", None), ("since", 1_700_000_000))
    ],
]


def _provider_methods(cls: type) -> set[str]:
    return {
        name for name, value in vars(cls).items() if callable(value) and not name.startswith("_")
    }


def test_every_provider_method_has_a_contract_case() -> None:
    covered = {case.provider_method for case in CASES}
    assert _provider_methods(StripeProvider) - covered == set()
    # ... and the interface the services use has no method the provider lacks.
    interface = {
        name for name in vars(PaymentProvider) if not name.startswith("_") and name != "mode"
    }
    assert interface == _provider_methods(StripeProvider)


@pytest.fixture
def capture() -> CapturingHTTPClient:
    return CapturingHTTPClient()


@pytest.fixture
def provider(capture: CapturingHTTPClient) -> StripeProvider:
    return StripeProvider(
        "sk_test_contractCaptureOnly", api_version=settings.STRIPE_API_VERSION, http_client=capture
    )


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_the_request_is_one_stripe_python_types(
    case: Case, provider: StripeProvider, capture: CapturingHTTPClient
) -> None:
    case.call(provider)

    assert len(capture.sent) == 1
    sent = capture.sent[0]
    method, path = case.http.split(" ")
    assert (sent.method, sent.path) == (method, path)
    typed = params_class(case.service(provider.client))
    assert params_errors(sent.params, typed, typed.__name__) == []
    assert sent.headers.get("Stripe-Version") == settings.STRIPE_API_VERSION
    if case.idempotency_key:
        assert sent.headers.get("Idempotency-Key") == case.idempotency_key
    for name, value in case.headers.items():
        assert sent.headers.get(name) == value


def test_the_check_refuses_what_stripe_would() -> None:
    """The check itself can fail: an unknown parameter, a mistyped one, a missing one."""
    typed = stripe.params.TransferCreateParams
    assert params_errors({"amount": "5", "currency": "usd", "destination": "acct_1"}, typed) == []
    assert params_errors({"amount": "5", "destination": "acct_1"}, typed) == [
        "params.currency: required by TransferCreateParams, not sent"
    ]
    assert params_errors({"amount": "5.5", "currency": "usd", "destination": "a"}, typed) == [
        "params.amount: '5.5' is not an integer"
    ]
    assert params_errors({"amount": "5", "currency": "usd", "destinaton": "a"}, typed) == [
        "params.destination: required by TransferCreateParams, not sent",
        "params.destinaton: not a parameter of TransferCreateParams",
    ]
    intent = {"amount": "5", "currency": "usd", "confirm": "yes"}
    assert params_errors(intent, stripe.params.PaymentIntentCreateParams) == [
        "params.confirm: 'yes' is not a boolean"
    ]
    assert params_errors(
        {**intent, "confirm": "true", "transfer_data": {"destinaton": "a"}},
        stripe.params.PaymentIntentCreateParams,
    ) == [
        "params.transfer_data.destination: required by PaymentIntentCreateParamsTransferData, "
        "not sent",
        "params.transfer_data.destinaton: not a parameter of PaymentIntentCreateParamsTransferData",
    ]
    subscription = {"customer": "cus_1", "items": [{"price": "price_1"}]}
    assert params_errors(
        {**subscription, "payment_behavior": "allow_incompelte", "application_fee_percent": "x"},
        stripe.params.SubscriptionCreateParams,
    ) == [
        "params.payment_behavior: 'allow_incompelte' fits none of one of ['allow_incomplete', "
        "'default_incomplete', 'error_if_incomplete', 'pending_if_incomplete']",
        "params.application_fee_percent: 'x' fits none of one of [''] | float",
    ]


def test_the_provider_reads_stripes_example_objects(provider: StripeProvider) -> None:
    """What the provider hands the services is Stripe's object as Stripe sends it."""
    assert provider.charge_retrieve("ch_1") == fixture("charge")
    assert provider.transfer_list() == [fixture("transfer")]
