"""stripe-python (StripeClient) behind the PaymentProvider interface."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import stripe

from payouts.provider.base import (
    CardDeclined,
    InsufficientFunds,
    ProviderError,
    ProviderUnavailable,
    StripeDict,
)


def _plain(obj: Any) -> StripeDict:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _error_payment_intent(exc: stripe.StripeError) -> str:
    """The id of the payment intent a card error is about (Stripe sends it in the error)."""
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    pi = (body.get("error") or {}).get("payment_intent")
    if isinstance(pi, dict):
        return str(pi.get("id") or "")
    return str(pi or "")


class StripeProvider:
    def __init__(
        self,
        api_key: str,
        *,
        api_version: str,
        http_client: stripe.HTTPClient | None = None,
        mode: str = "test",
    ) -> None:
        self.mode = mode
        self.client = stripe.StripeClient(
            api_key,
            stripe_version=api_version,
            http_client=http_client,
            max_network_retries=2,
        )

    # Every call goes through here so provider errors become the project's error family.
    def _call(self, fn: Any, params: dict[str, Any], key: str | None = None) -> StripeDict:
        options: dict[str, Any] = {"idempotency_key": key} if key else {}
        try:
            return _plain(fn(params=params, options=options))
        except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
            raise ProviderUnavailable() from exc
        except stripe.CardError as exc:
            declined = CardDeclined(
                exc.user_message or "The card was declined.", extra={"decline_code": exc.code}
            )
            declined.payment_intent_id = _error_payment_intent(exc)
            raise declined from exc
        except stripe.InvalidRequestError as exc:
            if exc.code in {"balance_insufficient", "insufficient_funds"}:
                raise InsufficientFunds(exc.user_message or str(exc)) from exc
            raise ProviderError(
                str(exc.user_message or exc), extra={"provider_code": exc.code}
            ) from exc
        except stripe.IdempotencyError as exc:
            raise ProviderError(str(exc), code="idempotency_error") from exc
        except stripe.StripeError as exc:
            if (exc.http_status or 500) >= 500 or exc.http_status == 409:
                raise ProviderUnavailable() from exc
            raise ProviderError(str(exc.user_message or exc)) from exc

    def _list(self, fn: Any, params: dict[str, Any]) -> list[StripeDict]:
        try:
            page = fn(params={"limit": 100, **params})
            items: Iterable[Any] = page.auto_paging_iter()
            return [_plain(item) for item in items]
        except stripe.StripeError as exc:
            raise ProviderError(str(exc.user_message or exc)) from exc

    # customers and cards -------------------------------------------------------------------
    def customer_create(self, *, email: str, user_id: int, idempotency_key: str) -> StripeDict:
        return self._call(
            self.client.v1.customers.create,
            {"email": email, "metadata": {"user_id": str(user_id)}},
            idempotency_key,
        )

    def setup_intent_create(self, *, customer: str) -> StripeDict:
        return self._call(
            self.client.v1.setup_intents.create,
            {"customer": customer, "usage": "on_session", "payment_method_types": ["card"]},
        )

    def payment_method_attach(self, *, payment_method: str, customer: str) -> StripeDict:
        return self._call(
            lambda params, options: self.client.v1.payment_methods.attach(
                payment_method, params=params, options=options
            ),
            {"customer": customer},
        )

    # payments ------------------------------------------------------------------------------
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
    ) -> StripeDict:
        params: dict[str, Any] = {
            "amount": amount,
            "currency": currency.lower(),
            "customer": customer,
            "payment_method": payment_method,
            "payment_method_types": ["card"],
            "confirm": True,
            "application_fee_amount": application_fee_amount,
            "transfer_data": {"destination": destination},
            "transfer_group": transfer_group,
            "metadata": metadata,
        }
        if on_behalf_of:
            params["on_behalf_of"] = on_behalf_of
        return self._call(self.client.v1.payment_intents.create, params, idempotency_key)

    def payment_intent_retrieve(self, payment_intent: str) -> StripeDict:
        return self._call(
            lambda params, options: self.client.v1.payment_intents.retrieve(
                payment_intent, params=params, options=options
            ),
            {},
        )

    def payment_intent_list(
        self, *, customer: str, created_gte: int | None = None
    ) -> list[StripeDict]:
        """A customer's payment intents (newest first), for finding one whose creation got no
        answer by its metadata. Listing, not Search: search is eventually consistent."""
        params: dict[str, Any] = {"customer": customer}
        if created_gte is not None:
            params["created"] = {"gte": created_gte}
        return self._list(self.client.v1.payment_intents.list, params)

    def payment_intent_cancel(self, payment_intent: str, *, idempotency_key: str) -> StripeDict:
        return self._call(
            lambda params, options: self.client.v1.payment_intents.cancel(
                payment_intent, params=params, options=options
            ),
            {"cancellation_reason": "abandoned"},
            idempotency_key,
        )

    def refund_create(
        self, *, payment_intent: str, idempotency_key: str, amount: int | None = None
    ) -> StripeDict:
        params: dict[str, Any] = {
            "payment_intent": payment_intent,
            "reverse_transfer": True,
            "refund_application_fee": True,
        }
        if amount is not None:
            params["amount"] = amount
        return self._call(self.client.v1.refunds.create, params, idempotency_key)

    # connected accounts --------------------------------------------------------------------
    def account_create(self, *, email: str, user_id: int, idempotency_key: str) -> StripeDict:
        return self._call(
            self.client.v1.accounts.create,
            {
                "type": "express",
                "email": email,
                "capabilities": {"transfers": {"requested": True}},
                "metadata": {"user_id": str(user_id)},
            },
            idempotency_key,
        )

    def account_retrieve(self, account: str) -> StripeDict:
        return self._call(
            lambda params, options: self.client.v1.accounts.retrieve(
                account, params=params, options=options
            ),
            {},
        )

    def account_link_create(self, *, account: str, refresh_url: str, return_url: str) -> StripeDict:
        return self._call(
            self.client.v1.account_links.create,
            {
                "account": account,
                "refresh_url": refresh_url,
                "return_url": return_url,
                "type": "account_onboarding",
            },
        )

    # transfers, balance, payouts -----------------------------------------------------------
    def transfer_create(
        self,
        *,
        amount: int,
        currency: str,
        destination: str,
        transfer_group: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> StripeDict:
        return self._call(
            self.client.v1.transfers.create,
            {
                "amount": amount,
                "currency": currency.lower(),
                "destination": destination,
                "transfer_group": transfer_group,
                "metadata": metadata,
            },
            idempotency_key,
        )

    def transfer_list(
        self, *, transfer_group: str | None = None, created_gte: int | None = None
    ) -> list[StripeDict]:
        params: dict[str, Any] = {}
        if transfer_group:
            params["transfer_group"] = transfer_group
        if created_gte is not None:
            params["created"] = {"gte": created_gte}
        return self._list(self.client.v1.transfers.list, params)

    def balance_transaction_list(self, *, created_gte: int | None = None) -> list[StripeDict]:
        params: dict[str, Any] = {}
        if created_gte is not None:
            params["created"] = {"gte": created_gte}
        return self._list(self.client.v1.balance_transactions.list, params)

    def payout_list(self, *, created_gte: int | None = None) -> list[StripeDict]:
        params: dict[str, Any] = {}
        if created_gte is not None:
            params["created"] = {"gte": created_gte}
        return self._list(self.client.v1.payouts.list, params)

    def payout_create(self, *, amount: int, currency: str, idempotency_key: str) -> StripeDict:
        return self._call(
            self.client.v1.payouts.create,
            {"amount": amount, "currency": currency.lower()},
            idempotency_key,
        )

    def balance_retrieve(self) -> StripeDict:
        return self._call(
            lambda params, options: self.client.v1.balance.retrieve(params=params, options=options),
            {},
        )

    # paid clubs, refunds/disputes, connected payouts (memberships) ---------------------------
    def price_create(
        self,
        *,
        amount: int,
        currency: str,
        product_name: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> StripeDict:
        return self._call(
            self.client.v1.prices.create,
            {
                "unit_amount": amount,
                "currency": currency.lower(),
                "recurring": {"interval": "month"},
                "product_data": {"name": product_name[:250]},
                "metadata": metadata,
            },
            idempotency_key,
        )

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
    ) -> StripeDict:
        # A destination subscription: invoices are charged on the platform, the net of the
        # application fee is transferred to the creator's connected account. `allow_incomplete`
        # tries the saved card at once; when 3-D Secure is needed the subscription stays
        # `incomplete` and the first invoice's confirmation secret goes to the client.
        return self._call(
            self.client.v1.subscriptions.create,
            {
                "customer": customer,
                "items": [{"price": price}],
                "default_payment_method": payment_method,
                "payment_behavior": "allow_incomplete",
                "application_fee_percent": str(application_fee_percent),
                "transfer_data": {"destination": destination},
                "metadata": metadata,
                "expand": ["latest_invoice.confirmation_secret", "latest_invoice.payments"],
            },
            idempotency_key,
        )

    def subscription_retrieve(self, subscription: str) -> StripeDict:
        return self._call(
            lambda params, options: self.client.v1.subscriptions.retrieve(
                subscription, params=params, options=options
            ),
            {},
        )

    def subscription_list(self, *, customer: str) -> list[StripeDict]:
        return self._list(
            self.client.v1.subscriptions.list, {"customer": customer, "status": "all"}
        )

    def subscription_set_cancel_at_period_end(
        self, *, subscription: str, cancel: bool, idempotency_key: str
    ) -> StripeDict:
        return self._call(
            lambda params, options: self.client.v1.subscriptions.update(
                subscription, params=params, options=options
            ),
            {"cancel_at_period_end": cancel},
            idempotency_key,
        )

    def invoice_retrieve(self, invoice: str) -> StripeDict:
        return self._call(
            lambda params, options: self.client.v1.invoices.retrieve(
                invoice, params=params, options=options
            ),
            {"expand": ["payments"]},
        )

    def charge_retrieve(self, charge: str) -> StripeDict:
        return self._call(
            lambda params, options: self.client.v1.charges.retrieve(
                charge, params=params, options=options
            ),
            {},
        )

    def charge_metadata_update(self, *, charge: str, metadata: dict[str, str]) -> StripeDict:
        return self._call(
            lambda params, options: self.client.v1.charges.update(
                charge, params=params, options=options
            ),
            {"metadata": metadata},
        )

    def refund_list(self, *, created_gte: int | None = None) -> list[StripeDict]:
        params: dict[str, Any] = {}
        if created_gte is not None:
            params["created"] = {"gte": created_gte}
        return self._list(self.client.v1.refunds.list, params)

    def refund_retrieve(self, refund: str) -> StripeDict:
        return self._call(
            lambda params, options: self.client.v1.refunds.retrieve(
                refund, params=params, options=options
            ),
            {},
        )

    def application_fee_list(self, *, created_gte: int | None = None) -> list[StripeDict]:
        params: dict[str, Any] = {}
        if created_gte is not None:
            params["created"] = {"gte": created_gte}
        return self._list(self.client.v1.application_fees.list, params)

    def topup_list(self, *, created_gte: int | None = None) -> list[StripeDict]:
        params: dict[str, Any] = {}
        if created_gte is not None:
            params["created"] = {"gte": created_gte}
        return self._list(self.client.v1.topups.list, params)

    def topup_retrieve(self, topup: str) -> StripeDict:
        return self._call(
            lambda params, options: self.client.v1.topups.retrieve(
                topup, params=params, options=options
            ),
            {},
        )

    def charge_refund_list(self, charge: str) -> list[StripeDict]:
        return self._list(self.client.v1.refunds.list, {"charge": charge})

    def dispute_list(self, *, created_gte: int | None = None) -> list[StripeDict]:
        params: dict[str, Any] = {}
        if created_gte is not None:
            params["created"] = {"gte": created_gte}
        return self._list(self.client.v1.disputes.list, params)

    def connected_payout_list(
        self, *, account: str, created_gte: int | None = None
    ) -> list[StripeDict]:
        params: dict[str, Any] = {"limit": 100}
        if created_gte is not None:
            params["created"] = {"gte": created_gte}
        try:
            page = self.client.v1.payouts.list(
                params=params,  # type: ignore[arg-type]
                options={"stripe_account": account},
            )
            return [_plain(item) for item in page.auto_paging_iter()]
        except stripe.StripeError as exc:
            raise ProviderError(str(exc.user_message or exc)) from exc

    def subscription_cancel_now(self, subscription: str) -> StripeDict:
        return self._call(
            lambda params, options: self.client.v1.subscriptions.cancel(
                subscription, params=params, options=options
            ),
            {},
        )
