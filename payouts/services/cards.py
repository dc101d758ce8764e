"""The payer's side of every card charge (tips, tickets, paid clubs): their Stripe customer,
the card saved for next time, and the SetupIntent that collects a new one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction

from clubhouse.errors import ApplicationError, InvalidInput
from payouts.models import PaymentCustomer
from payouts.provider import ProviderError, get_provider

if TYPE_CHECKING:
    from accounts.models import User


class PaymentMethodRequired(ApplicationError):
    code = "payment_method_required"
    status = 402
    default_message = "Add a card to send money; it is saved for next time."


def payment_customer_ensure(*, user: User) -> PaymentCustomer:
    existing = PaymentCustomer.objects.filter(user=user).first()
    if existing:
        return existing
    data = get_provider().customer_create(
        email=user.email, user_id=user.pk, idempotency_key=f"customer-{user.pk}"
    )
    try:
        with transaction.atomic():
            return PaymentCustomer.objects.create(user=user, stripe_customer_id=data["id"])
    except IntegrityError:
        return PaymentCustomer.objects.get(user=user)


def payment_method_save(*, user: User, payment_method: str) -> PaymentCustomer:
    """Attach a card (from Stripe.js / a SetupIntent) and make it the default for next time."""
    customer = payment_customer_ensure(user=user)
    try:
        pm = get_provider().payment_method_attach(
            payment_method=payment_method, customer=customer.stripe_customer_id
        )
    except ProviderError as exc:
        if exc.extra.get("provider_code") != "resource_missing":
            raise
        # An id the client made up or mistyped: their mistake, not the provider's failure.
        raise InvalidInput(
            "No such payment method.",
            code="payment_method_unknown",
            fields={"payment_method": ["Not a payment method the provider knows."]},
        ) from exc
    card = pm.get("card") or {}
    with transaction.atomic():
        customer = PaymentCustomer.objects.select_for_update().get(pk=customer.pk)
        customer.default_payment_method_id = pm["id"]
        customer.card_brand = str(card.get("brand", ""))
        customer.card_last4 = str(card.get("last4", ""))
        customer.save()
    return customer


def setup_intent_create(*, user: User) -> dict[str, Any]:
    customer = payment_customer_ensure(user=user)
    intent = get_provider().setup_intent_create(customer=customer.stripe_customer_id)
    return {"client_secret": intent["client_secret"], "setup_intent": intent["id"]}
