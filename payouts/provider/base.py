"""The payment provider interface. Services talk to this, never to stripe-python directly.

``StripeProvider`` is the only implementation: against real Stripe when a secret key is set, and
against the in-process stand-in (an HTTP client injected into stripe-python) otherwise. The
stand-in is therefore a test double of Stripe's HTTP API, not of this interface, so tests run
the very code production runs.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol

from clubhouse.errors import ApplicationError

StripeDict = dict[str, Any]


class ProviderError(ApplicationError):
    code = "payment_provider_error"
    status = 502
    default_message = "The payment provider refused the request."
    failed_payment = True  # counts toward the payer's failed-payment limit (clubhouse/throttling)


class ProviderUnavailable(ProviderError):
    """The outcome is unknown (network, 5xx, a concurrent request with the same key): retry with
    the same idempotency key, never with a new one."""

    code = "payment_provider_unavailable"
    status = 503
    default_message = "The payment provider did not answer; try again shortly."
    failed_payment = False  # the outcome is unknown, not a refusal


class InsufficientFunds(ProviderError):
    code = "insufficient_funds"
    status = 409
    default_message = "The platform balance is too low for this transfer."
    failed_payment = False  # the platform's balance, not the payer's card


class CardDeclined(ProviderError):
    code = "card_declined"
    status = 402
    default_message = "The card was declined."
    # The payment intent the provider declined, when it says (Stripe does): kept off the API
    # body, it lets the caller record the attempt and cancel it before another one.
    payment_intent_id: str = ""


class PaymentProvider(Protocol):
    mode: str  # "standin", "test" or "live"

    def customer_create(self, *, email: str, user_id: int, idempotency_key: str) -> StripeDict: ...

    def setup_intent_create(self, *, customer: str) -> StripeDict: ...

    def payment_method_attach(self, *, payment_method: str, customer: str) -> StripeDict: ...

    def payment_intent_create(
        self,
        *,
        amount: int,
        currency: str,
        customer: str,
        payment_method: str,
        application_fee_amount: int,
        destination: str,
        transfer_group: str,
        metadata: dict[str, str],
        idempotency_key: str,
        on_behalf_of: str | None = None,
    ) -> StripeDict: ...

    def payment_intent_retrieve(self, payment_intent: str) -> StripeDict: ...

    def payment_intent_list(
        self, *, customer: str, created_gte: int | None = None
    ) -> list[StripeDict]: ...

    def payment_intent_cancel(self, payment_intent: str, *, idempotency_key: str) -> StripeDict:
        """Cancel a payment intent that has not succeeded, so nothing can confirm it any more.
        Refused (`ProviderError`, `provider_code` ``payment_intent_unexpected_state``) when it
        has succeeded or was canceled already: the caller retrieves it to see which."""
        ...

    def account_create(self, *, email: str, user_id: int, idempotency_key: str) -> StripeDict: ...

    def account_retrieve(self, account: str) -> StripeDict: ...

    def account_link_create(
        self, *, account: str, refresh_url: str, return_url: str
    ) -> StripeDict: ...

    def transfer_create(
        self,
        *,
        amount: int,
        currency: str,
        destination: str,
        transfer_group: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> StripeDict: ...

    def transfer_list(
        self, *, transfer_group: str | None = None, created_gte: int | None = None
    ) -> list[StripeDict]: ...

    def balance_transaction_list(self, *, created_gte: int | None = None) -> list[StripeDict]: ...

    def payout_list(self, *, created_gte: int | None = None) -> list[StripeDict]: ...

    def payout_create(self, *, amount: int, currency: str, idempotency_key: str) -> StripeDict: ...

    def refund_create(
        self, *, payment_intent: str, idempotency_key: str, amount: int | None = None
    ) -> StripeDict: ...

    def balance_retrieve(self) -> StripeDict: ...

    # paid clubs, refunds/disputes, connected payouts (memberships) ---------------------------
    def price_create(
        self,
        *,
        amount: int,
        currency: str,
        product_name: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> StripeDict: ...

    def club_subscription_create(
        self,
        *,
        customer: str,
        price: str,
        payment_method: str,
        destination: str,
        application_fee_percent: Decimal,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> StripeDict: ...

    def subscription_retrieve(self, subscription: str) -> StripeDict: ...

    def subscription_list(self, *, customer: str) -> list[StripeDict]:
        """Every subscription of a customer, whatever its status."""
        ...

    def subscription_set_cancel_at_period_end(
        self, *, subscription: str, cancel: bool, idempotency_key: str
    ) -> StripeDict: ...

    def invoice_retrieve(self, invoice: str) -> StripeDict: ...

    def charge_retrieve(self, charge: str) -> StripeDict: ...

    def charge_metadata_update(self, *, charge: str, metadata: dict[str, str]) -> StripeDict: ...

    def refund_list(self, *, created_gte: int | None = None) -> list[StripeDict]: ...

    def refund_retrieve(self, refund: str) -> StripeDict: ...

    def application_fee_list(self, *, created_gte: int | None = None) -> list[StripeDict]: ...

    def topup_list(self, *, created_gte: int | None = None) -> list[StripeDict]: ...

    def topup_retrieve(self, topup: str) -> StripeDict: ...

    def charge_refund_list(self, charge: str) -> list[StripeDict]: ...

    def dispute_list(self, *, created_gte: int | None = None) -> list[StripeDict]: ...

    def connected_payout_list(
        self, *, account: str, created_gte: int | None = None
    ) -> list[StripeDict]: ...

    def subscription_cancel_now(self, subscription: str) -> StripeDict: ...
