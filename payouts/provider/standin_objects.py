"""The stand-in's objects, whole: every field Stripe's object of that type carries, with the value
Stripe gives it in the flows this project uses (test mode, express accounts, card payments,
destination charges and subscriptions, no tax, no discounts).

Each builder takes what varies and fills in the rest, so the stand-in's handlers say only what
they decide. tests/payouts/test_standin_shapes.py checks the result against Stripe's published
example objects (tests/payouts/stripe_fixtures/)."""

from __future__ import annotations

import hashlib
from typing import Any

StripeObject = dict[str, Any]


def _address() -> StripeObject:
    return {
        "city": None,
        "country": None,
        "line1": None,
        "line2": None,
        "postal_code": None,
        "state": None,
    }


def list_object(url: str, data: list[StripeObject] | None = None) -> StripeObject:
    return {"object": "list", "data": data or [], "has_more": False, "url": url}


def fingerprint(*parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:16]


# customers and cards ----------------------------------------------------------------------


def customer(
    *, id_: str, created: int, email: str | None, metadata: dict[str, str]
) -> StripeObject:
    return {
        "id": id_,
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": created,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": email,
        "invoice_prefix": id_[-8:].upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": metadata,
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
        "customer_account": None,
    }


def setup_intent(
    *, id_: str, created: int, customer: str | None, client_secret: str, usage: str,
    payment_method_types: list[str],
) -> StripeObject:  # fmt: skip
    return {
        "id": id_,
        "object": "setup_intent",
        "application": None,
        "automatic_payment_methods": None,
        "cancellation_reason": None,
        "client_secret": client_secret,
        "created": created,
        "customer": customer,
        "description": None,
        "excluded_payment_method_types": None,
        "flow_directions": None,
        "last_setup_error": None,
        "latest_attempt": None,
        "livemode": False,
        "mandate": None,
        "metadata": {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": payment_method_types,
        "single_use_mandate": None,
        "status": "requires_payment_method",
        "usage": usage,
    }


def _card(brand: str, last4: str) -> StripeObject:
    return {
        "brand": brand,
        "checks": {
            "address_line1_check": None,
            "address_postal_code_check": None,
            "cvc_check": "unchecked",
        },
        "country": "US",
        "display_brand": brand,
        "exp_month": 12,
        "exp_year": 2034,
        "fingerprint": fingerprint("card", brand, last4),
        "funding": "credit",
        "generated_from": None,
        "last4": last4,
        "networks": {"available": [brand], "preferred": None},
        "regulated_status": "unregulated",
        "three_d_secure_usage": {"supported": True},
        "wallet": None,
    }


def _billing_details() -> StripeObject:
    return {"address": _address(), "email": None, "name": None, "phone": None, "tax_id": None}


def payment_method(*, id_: str, created: int, brand: str, last4: str) -> StripeObject:
    return {
        "id": id_,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": _billing_details(),
        "card": _card(brand, last4),
        "created": created,
        "customer": None,
        "customer_account": None,
        "livemode": False,
        "metadata": {},
        "type": "card",
    }


# payments ---------------------------------------------------------------------------------


def payment_intent(
    *, id_: str, created: int, amount: int, currency: str, customer: str | None,
    application_fee_amount: int | None, destination: str | None, transfer_group: str | None,
    on_behalf_of: str | None, metadata: dict[str, str], client_secret: str,
) -> StripeObject:  # fmt: skip
    return {
        "id": id_,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": application_fee_amount,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "client_secret": client_secret,
        "confirmation_method": "automatic",
        "created": created,
        "currency": currency,
        "customer": customer,
        "customer_account": None,
        "description": None,
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "managed_payments": {"enabled": False},
        "metadata": metadata,
        "next_action": None,
        "on_behalf_of": on_behalf_of,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": {"destination": destination} if destination else None,
        "transfer_group": transfer_group,
    }


def payment_error(
    *, type_: str, code: str, message: str, decline_code: str | None = None,
    payment_method: StripeObject | None = None,
) -> StripeObject:  # fmt: skip
    """A payment intent's `last_payment_error` (Stripe's error object)."""
    error: StripeObject = {
        "type": type_,
        "code": code,
        "message": message,
        "doc_url": f"https://docs.stripe.com/error-codes/{code.replace('_', '-')}",
    }
    if decline_code:
        error["decline_code"] = decline_code
    if payment_method is not None:
        error["payment_method"] = payment_method
    return error


def charge(
    *, id_: str, created: int, pi: StripeObject, pm: StripeObject, balance_transaction: str,
) -> StripeObject:  # fmt: skip
    card = pm["card"]
    destination = (pi.get("transfer_data") or {}).get("destination")
    return {
        "id": id_,
        "object": "charge",
        "amount": pi["amount"],
        "amount_captured": pi["amount"],
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": pi["application_fee_amount"],
        "balance_transaction": balance_transaction,
        "billing_details": _billing_details(),
        "calculated_statement_descriptor": "CLUBHOUSE",
        "captured": True,
        "created": created,
        "currency": pi["currency"],
        "customer": pi["customer"],
        "description": None,
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "livemode": False,
        "metadata": pi["metadata"],
        "on_behalf_of": pi["on_behalf_of"],
        "outcome": {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
        "paid": True,
        "payment_intent": pi["id"],
        "payment_method": pm["id"],
        "payment_method_details": {
            "card": {
                "amount_authorized": pi["amount"],
                "authorization_code": None,
                "brand": card["brand"],
                "checks": dict(card["checks"]),
                "country": card["country"],
                "exp_month": card["exp_month"],
                "exp_year": card["exp_year"],
                "extended_authorization": {"status": "disabled"},
                "fingerprint": card["fingerprint"],
                "funding": card["funding"],
                "incremental_authorization": {"status": "unavailable"},
                "installments": None,
                "last4": card["last4"],
                "mandate": None,
                "multicapture": {"status": "unavailable"},
                "network": card["brand"],
                "network_token": {"used": False},
                "network_transaction_id": fingerprint("network", id_),
                "overcapture": {"maximum_amount_capturable": pi["amount"], "status": "unavailable"},
                "regulated_status": card["regulated_status"],
                "three_d_secure": None,
                "transaction_link_id": None,
                "wallet": None,
            },
            "type": "card",
        },
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": f"https://pay.stripe.standin/receipts/payment/{id_}",
        "refunded": False,
        "refunds": list_object(f"/v1/charges/{id_}/refunds"),
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded",
        "transfer": None,
        "transfer_data": {"amount": None, "destination": destination} if destination else None,
        "transfer_group": pi["transfer_group"],
    }


def refund(
    *, id_: str, created: int, amount: int, currency: str, charge: str, payment_intent: str,
) -> StripeObject:  # fmt: skip
    return {
        "id": id_,
        "object": "refund",
        "amount": amount,
        "balance_transaction": None,
        "charge": charge,
        "created": created,
        "currency": currency,
        "customer": None,
        "customer_account": None,
        "destination_details": {
            "card": {
                "reference": None,
                "reference_status": "pending",
                "reference_type": "acquirer_reference_number",
                "type": "refund",
            },
            "type": "card",
        },
        "failure_balance_transaction": None,
        "failure_reason": None,
        "metadata": {},
        "payment_intent": payment_intent,
        "payment_method": None,
        "reason": None,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "pending",
        "transfer_reversal": None,
    }


def dispute(
    *, id_: str, created: int, charge: StripeObject, brand: str, due_by: int
) -> StripeObject:
    return {
        "id": id_,
        "object": "dispute",
        "amount": charge["amount"],
        "balance_transactions": [],
        "charge": charge["id"],
        "created": created,
        "currency": charge["currency"],
        "enhanced_eligibility_types": [],
        "evidence": {
            **dict.fromkeys(
                (
                    "access_activity_log",
                    "billing_address",
                    "cancellation_policy",
                    "cancellation_policy_disclosure",
                    "cancellation_rebuttal",
                    "customer_communication",
                    "customer_email_address",
                    "customer_name",
                    "customer_purchase_ip",
                    "customer_signature",
                    "duplicate_charge_documentation",
                    "duplicate_charge_explanation",
                    "duplicate_charge_id",
                    "product_description",
                    "receipt",
                    "refund_policy",
                    "refund_policy_disclosure",
                    "refund_refusal_explanation",
                    "service_date",
                    "service_documentation",
                    "shipping_address",
                    "shipping_carrier",
                    "shipping_date",
                    "shipping_documentation",
                    "shipping_tracking_number",
                    "uncategorized_file",
                    "uncategorized_text",
                )
            ),
            "enhanced_evidence": {},
        },
        "evidence_details": {
            "due_by": due_by,
            "enhanced_eligibility": {},
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": charge["payment_intent"],
        "payment_method_details": {
            "card": {
                "brand": brand,
                "case_type": "chargeback",
                "network": brand,
                "network_reason_code": "10.4",
            },
            "type": "card",
        },
        "reason": "fraudulent",
        "status": "needs_response",
    }


# balance ----------------------------------------------------------------------------------


def balance_transaction(
    *, id_: str, created: int, amount: int, currency: str, fee: int, type_: str, source: str,
    reporting_category: str,
) -> StripeObject:  # fmt: skip
    fee_details = (
        [{"amount": fee, "application": None, "currency": currency,
          "description": "Stripe processing fees", "type": "stripe_fee"}]
        if fee else []
    )  # fmt: skip
    return {
        "id": id_,
        "object": "balance_transaction",
        "amount": amount,
        "available_on": created,
        "balance_type": "payments",
        "created": created,
        "currency": currency,
        "description": None,
        "exchange_rate": None,
        "fee": fee,
        "fee_details": fee_details,
        "net": amount - fee,
        "reporting_category": reporting_category,
        "source": source,
        "status": "available",
        "type": type_,
    }


def balance(available: dict[str, int]) -> StripeObject:
    currencies = sorted(available) or ["usd"]
    return {
        "object": "balance",
        "available": [
            {"amount": available.get(c, 0), "currency": c,
             "source_types": {"card": available.get(c, 0)}}
            for c in currencies
        ],
        "connect_reserved": [{"amount": 0, "currency": c} for c in currencies],
        "livemode": False,
        "pending": [
            {"amount": 0, "currency": c, "source_types": {"card": 0}} for c in currencies
        ],
    }  # fmt: skip


def topup(
    *, id_: str, created: int, amount: int, currency: str, txn: str, description: str = "Top-up"
) -> StripeObject:
    return {
        "id": id_,
        "object": "topup",
        "amount": amount,
        "balance_transaction": txn,
        "created": created,
        "currency": currency,
        "description": description,
        "expected_availability_date": created,
        "failure_code": None,
        "failure_message": None,
        "initiated_by": None,
        "livemode": False,
        "metadata": {},
        "source": None,
        "statement_descriptor": None,
        "status": "succeeded",
        "transfer_group": None,
    }


def payout(
    *, id_: str, created: int, amount: int, currency: str, status: str, automatic: bool,
    txn: str | None, destination: str,
) -> StripeObject:  # fmt: skip
    return {
        "id": id_,
        "object": "payout",
        "amount": amount,
        "application_fee": None,
        "application_fee_amount": None,
        "arrival_date": created,
        "automatic": automatic,
        "balance_transaction": txn,
        "created": created,
        "currency": currency,
        "description": "STRIPE PAYOUT" if automatic else None,
        "destination": destination,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "livemode": False,
        "metadata": {},
        "method": "standard",
        "original_payout": None,
        "payout_method": None,
        "reconciliation_status": "completed" if automatic else "not_applicable",
        "reversed_by": None,
        "source_type": "card",
        "statement_descriptor": None,
        "status": status,
        "trace_id": {"status": "pending", "value": None},
        "type": "bank_account",
    }


# connected accounts and transfers ---------------------------------------------------------


def _requirements(due: list[str]) -> StripeObject:
    return {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": list(due),
        "disabled_reason": "requirements.past_due" if due else None,
        "errors": [],
        "eventually_due": list(due),
        "past_due": list(due),
        "pending_verification": [],
    }


ONBOARDING_DUE = [
    "business_profile.url",
    "external_account",
    "individual.dob.day",
    "individual.first_name",
    "individual.last_name",
    "tos_acceptance.date",
    "tos_acceptance.ip",
]


def account(*, id_: str, created: int, email: str | None, metadata: dict[str, str]) -> StripeObject:
    return {
        "id": id_,
        "object": "account",
        "business_profile": {
            "annual_revenue": None,
            "estimated_worker_count": None,
            "mcc": None,
            "minority_owned_business_designation": None,
            "name": None,
            "product_description": None,
            "support_address": None,
            "support_email": None,
            "support_phone": None,
            "support_url": None,
            "url": None,
        },
        "business_type": None,
        "capabilities": {"card_payments": "inactive", "transfers": "inactive"},
        "charges_enabled": False,
        "controller": {
            "fees": {"payer": "application"},
            "is_controller": True,
            "losses": {"payments": "application"},
            "requirement_collection": "stripe",
            "stripe_dashboard": {"type": "express"},
            "type": "application",
        },
        "country": "US",
        "created": created,
        "default_currency": "usd",
        "details_submitted": False,
        "email": email,
        "external_accounts": list_object(f"/v1/accounts/{id_}/external_accounts"),
        "future_requirements": _requirements([]),
        "metadata": metadata,
        "payouts_enabled": False,
        "requirements": _requirements(ONBOARDING_DUE),
        "settings": {
            "bacs_debit_payments": {"display_name": None, "service_user_number": None},
            "branding": {
                "icon": None,
                "logo": None,
                "primary_color": None,
                "secondary_color": None,
            },
            "card_issuing": {"tos_acceptance": {"date": None, "ip": None}},
            "card_payments": {
                "decline_on": {"avs_failure": False, "cvc_failure": False},
                "statement_descriptor_prefix": None,
                "statement_descriptor_prefix_kana": None,
                "statement_descriptor_prefix_kanji": None,
            },
            "dashboard": {"display_name": None, "timezone": "Etc/UTC"},
            "invoices": {"default_account_tax_ids": None, "hosted_payment_method_save": None},
            "payments": {
                "statement_descriptor": None,
                "statement_descriptor_kana": None,
                "statement_descriptor_kanji": None,
                "statement_descriptor_prefix_kana": None,
                "statement_descriptor_prefix_kanji": None,
            },
            "payouts": {
                "debit_negative_balances": True,
                "schedule": {"delay_days": 2, "interval": "daily"},
                "statement_descriptor": None,
            },
            "sepa_debit_payments": {},
        },
        "tos_acceptance": {"date": None, "ip": None, "user_agent": None},
        "type": "express",
    }


def account_onboarded(acct: StripeObject, *, now: int) -> None:
    """What finishing onboarding changes on an account (a bank account, terms accepted)."""
    acct["capabilities"] = {"card_payments": "active", "transfers": "active"}
    acct.update(charges_enabled=True, payouts_enabled=True, details_submitted=True)
    acct["requirements"] = _requirements([])
    acct["tos_acceptance"] = {"date": now, "ip": "127.0.0.1", "user_agent": None}
    acct["business_type"] = "individual"
    bank = {
        "id": f"ba_{fingerprint('bank', acct['id'])}",
        "object": "bank_account",
        "account": acct["id"],
        "account_holder_name": None,
        "account_holder_type": None,
        "account_type": None,
        "available_payout_methods": ["standard"],
        "bank_name": "STRIPE TEST BANK",
        "country": "US",
        "currency": "usd",
        "customer": None,
        "default_for_currency": True,
        "fingerprint": fingerprint("bank", acct["id"]),
        "future_requirements": None,
        "last4": "6789",
        "metadata": {},
        "requirements": None,
        "routing_number": "110000000",
        "status": "new",
    }
    acct["external_accounts"]["data"] = [bank]


def external_account_of(acct: StripeObject) -> str:
    banks = acct["external_accounts"]["data"]
    return str(banks[0]["id"]) if banks else f"ba_{fingerprint('bank', acct['id'])}"


def account_link(*, created: int, url: str) -> StripeObject:
    return {"object": "account_link", "created": created, "expires_at": created + 300, "url": url}


def transfer(
    *, id_: str, created: int, amount: int, currency: str, destination: str,
    transfer_group: str | None, metadata: dict[str, str], source_transaction: str | None,
    balance_transaction: str, destination_payment: str,
) -> StripeObject:  # fmt: skip
    return {
        "id": id_,
        "object": "transfer",
        "amount": amount,
        "amount_reversed": 0,
        "balance_transaction": balance_transaction,
        "created": created,
        "currency": currency,
        "description": None,
        "destination": destination,
        "destination_payment": destination_payment,
        "livemode": False,
        "metadata": metadata,
        "reversals": list_object(f"/v1/transfers/{id_}/reversals"),
        "reversed": False,
        "source_transaction": source_transaction,
        "source_type": "card",
        "transfer_group": transfer_group,
    }


def application_fee(
    *, id_: str, created: int, amount: int, currency: str, account: str, charge: str,
    originating_transaction: str, balance_transaction: str,
) -> StripeObject:  # fmt: skip
    """The platform's application fee on a destination charge: `charge` is the payment on the
    connected account (the transfer's `destination_payment`), `originating_transaction` the
    platform's charge."""
    return {
        "id": id_,
        "object": "application_fee",
        "account": account,
        "amount": amount,
        "amount_refunded": 0,
        "application": "ca_standin",
        "balance_transaction": balance_transaction,
        "charge": charge,
        "created": created,
        "currency": currency,
        "fee_source": {"charge": charge, "type": "charge"},
        "livemode": False,
        "originating_transaction": originating_transaction,
        "refunded": False,
        "refunds": list_object(f"/v1/application_fees/{id_}/refunds"),
    }


def fee_refund(
    *, id_: str, created: int, amount: int, currency: str, fee: str, balance_transaction: str,
) -> StripeObject:  # fmt: skip
    return {
        "id": id_,
        "object": "fee_refund",
        "amount": amount,
        "balance_transaction": balance_transaction,
        "created": created,
        "currency": currency,
        "fee": fee,
        "metadata": {},
    }


def transfer_reversal(
    *, id_: str, created: int, amount: int, currency: str, transfer: str,
    balance_transaction: str, source_refund: str | None,
) -> StripeObject:  # fmt: skip
    return {
        "id": id_,
        "object": "transfer_reversal",
        "amount": amount,
        "balance_transaction": balance_transaction,
        "created": created,
        "currency": currency,
        "destination_payment_refund": None,
        "metadata": {},
        "source_refund": source_refund,
        "transfer": transfer,
    }


# prices, subscriptions, invoices ----------------------------------------------------------


def product(*, id_: str, created: int, name: str) -> StripeObject:
    return {
        "id": id_,
        "object": "product",
        "active": True,
        "created": created,
        "default_price": None,
        "description": None,
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": {},
        "name": name,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": None,
        "updated": created,
        "url": None,
    }


def price(
    *, id_: str, created: int, currency: str, unit_amount: int, product: str, interval: str,
    metadata: dict[str, str],
) -> StripeObject:  # fmt: skip
    return {
        "id": id_,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": created,
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": None,
        "metadata": metadata,
        "nickname": None,
        "product": product,
        "recurring": {
            "interval": interval,
            "interval_count": 1,
            "meter": None,
            "trial_period_days": None,
            "usage_type": "licensed",
        },
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }


def plan_of(price: StripeObject) -> StripeObject:
    """The legacy `plan` view of a recurring price, as Stripe still sends on subscription items."""
    return {
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": price["billing_scheme"],
        "created": price["created"],
        "currency": price["currency"],
        "interval": price["recurring"]["interval"],
        "interval_count": price["recurring"]["interval_count"],
        "livemode": False,
        "metadata": dict(price["metadata"]),
        "meter": None,
        "nickname": None,
        "product": price["product"],
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }


def subscription_item(
    *, id_: str, created: int, subscription: str, price: StripeObject, start: int, end: int
) -> StripeObject:
    return {
        "id": id_,
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": created,
        "current_period_end": end,
        "current_period_start": start,
        "discounts": [],
        "metadata": {},
        "plan": plan_of(price),
        "price": price,
        "quantity": 1,
        "subscription": subscription,
        "tax_rates": [],
    }


def subscription(
    *, id_: str, created: int, customer: str, currency: str, item: StripeObject,
    application_fee_percent: float | None, destination: str | None, default_payment_method: str,
    metadata: dict[str, str],
) -> StripeObject:  # fmt: skip
    return {
        "id": id_,
        "object": "subscription",
        "application": None,
        "application_fee_percent": application_fee_percent,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": created,
        "billing_cycle_anchor_config": None,
        "billing_mode": {"flexible": None, "type": "classic"},
        "billing_schedules": [],
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": created,
        "currency": currency,
        "customer": customer,
        "customer_account": None,
        "days_until_due": None,
        "default_payment_method": default_payment_method,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {
            "account_tax_ids": None,
            "custom_fields": None,
            "description": None,
            "footer": None,
            "issuer": {"type": "self"},
        },
        "items": list_object(f"/v1/subscription_items?subscription={id_}", [item]),
        "latest_invoice": None,
        "livemode": False,
        "managed_payments": {"enabled": False},
        "metadata": metadata,
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": created,
        "status": "incomplete",
        "test_clock": None,
        "transfer_data": (
            {"amount_percent": None, "destination": destination} if destination else None
        ),
        "trial_end": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": None,
    }


def invoice(
    *, id_: str, created: int, sub: StripeObject, price: StripeObject, start: int, end: int,
    reason: str, line_id: str, account_name: str | None = None,
) -> StripeObject:  # fmt: skip
    amount, currency = price["unit_amount"], price["currency"]
    item = sub["items"]["data"][0]
    line = {
        "id": line_id,
        "object": "line_item",
        "amount": amount,
        "currency": currency,
        "description": f"1 x {price['product']} (at {amount} {currency} / month)",
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": id_,
        "livemode": False,
        "metadata": dict(sub["metadata"]),
        "parent": {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": sub["id"],
                "subscription_item": item["id"],
            },
            "type": "subscription_item_details",
        },
        "period": {"end": end, "start": start},
        "pretax_credit_amounts": [],
        "pricing": {
            "price_details": {"price": price["id"], "product": price["product"]},
            "type": "price_details",
            "unit_amount_decimal": price["unit_amount_decimal"],
        },
        "quantity": 1,
        "quantity_decimal": "1",
        "subscription": sub["id"],
        "subtotal": amount,
        "taxes": [],
    }
    return {
        "id": id_,
        "object": "invoice",
        "account_country": "US",
        "account_name": account_name,
        "account_tax_ids": None,
        "amount_due": amount,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": amount,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": True,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": reason,
        "collection_method": "charge_automatically",
        "confirmation_secret": None,
        "created": created,
        "currency": currency,
        "custom_fields": None,
        "customer": sub["customer"],
        "customer_account": None,
        "customer_address": None,
        "customer_email": None,
        "customer_name": None,
        "customer_phone": None,
        "customer_shipping": None,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "due_date": None,
        "effective_at": created,
        "ending_balance": 0,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": f"https://invoice.stripe.standin/i/{id_}",
        "invoice_pdf": f"https://pay.stripe.standin/invoice/{id_}/pdf",
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": list_object(f"/v1/invoices/{id_}/lines", [line]),
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None,
        "number": f"{sub['customer'][-8:].upper()}-{created % 10_000:04d}",
        "on_behalf_of": None,
        "parent": {
            "quote_details": None,
            "subscription_details": {
                "metadata": dict(sub["metadata"]),
                "subscription": sub["id"],
            },
            "type": "subscription_details",
        },
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "payments": list_object(f"/v1/invoice_payments?invoice={id_}"),
        "period_end": end,
        "period_start": start,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "open",
        "status_transitions": {
            "finalized_at": created,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        # In Stripe's published example (null); the subscription is under `parent` now.
        "subscription": None,
        "subtotal": amount,
        "subtotal_excluding_tax": amount,
        "test_clock": None,
        "total": amount,
        "total_discount_amounts": [],
        "total_excluding_tax": amount,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": created,
    }


def invoice_payment(
    *, id_: str, created: int, invoice: str, currency: str, amount: int, payment_intent: str,
) -> StripeObject:  # fmt: skip
    return {
        "id": id_,
        "object": "invoice_payment",
        "amount_paid": None,
        "amount_requested": amount,
        "created": created,
        "currency": currency,
        "invoice": invoice,
        "is_default": True,
        "livemode": False,
        "payment": {"payment_intent": payment_intent, "type": "payment_intent"},
        "status": "open",
        "status_transitions": {"canceled_at": None, "paid_at": None},
    }


def event(
    *, id_: str, created: int, type_: str, obj: StripeObject, api_version: str | None,
    request_id: str | None, idempotency_key: str | None, account: str | None,
    previous_attributes: dict[str, Any] | None = None,
) -> StripeObject:  # fmt: skip
    data: StripeObject = {"object": obj}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    event: StripeObject = {
        "id": id_,
        "object": "event",
        "api_version": api_version,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": type_,
    }
    if account:  # a Connect event: it happened on a connected account
        event["account"] = account
    return event
