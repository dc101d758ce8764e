"""What every kind of card charge shares: the payer's Stripe customer, refunds of any charge."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

from payouts.models.ledger import Journal


class PaymentCustomer(models.Model):
    """A payer's Stripe customer and saved card: card details only on the first payment."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="payment_customer"
    )
    stripe_customer_id = models.CharField(max_length=255, unique=True)
    default_payment_method_id = models.CharField(max_length=255, blank=True)
    card_brand = models.CharField(max_length=32, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.stripe_customer_id} ({self.user})"


class ChargeRefund(models.Model):
    """One provider refund of a charge (any kind: tip, ticket, membership), and the rule that
    books it: the ledger books a refund once it has succeeded, and reverses that journal (a new
    journal, never an edit) if it later fails or is canceled. `failed` and `canceled` are
    final: news of an older state (an out-of-order `succeeded`) changes nothing."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending at the provider"
        SUCCEEDED = "succeeded", "Succeeded (booked)"
        FAILED = "failed", "Failed (retry in admin)"
        CANCELED = "canceled", "Canceled (retry in admin)"

    TRANSITIONS: ClassVar[dict[str, set[str]]] = {
        Status.PENDING: {Status.SUCCEEDED, Status.FAILED, Status.CANCELED},
        Status.SUCCEEDED: {Status.FAILED, Status.CANCELED},
        Status.FAILED: set(),
        Status.CANCELED: set(),
    }
    FINAL = (Status.FAILED, Status.CANCELED)

    stripe_refund_id = models.CharField(max_length=255, unique=True)
    stripe_charge_id = models.CharField(max_length=255, db_index=True)
    charge_kind = models.CharField(max_length=32, blank=True, help_text="tip, ticket, membership")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    failure_reason = models.CharField(max_length=255, blank=True)
    booked = models.ForeignKey(
        Journal, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reversed_by = models.ForeignKey(
        Journal, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="charge_refund_amount_positive")
        ]

    def __str__(self) -> str:
        return f"refund {self.stripe_refund_id} {self.amount} {self.currency} ({self.status})"
