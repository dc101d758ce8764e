"""What every kind of card charge shares: its payment fields and lifecycle statuses
(`CardCharge`), the payer's Stripe customer, refunds of any charge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

from payouts.models.ledger import Journal


@dataclass(frozen=True)
class PaymentStatuses:
    """Which of a kind's own statuses is each step of the one payment lifecycle
    (payouts/services/charges.py): waiting for the provider, waiting for the payer (3-D
    Secure), paid, failed; and `settled`, every status at or past paid (the refund and dispute
    states of the kind), where payment news changes nothing."""

    pending: str
    requires_action: str
    paid: str
    failed: str
    settled: frozenset[str]

    @property
    def unsettled(self) -> frozenset[str]:
        return frozenset({self.pending, self.requires_action, self.failed})


class CardCharge(models.Model):
    """The payment side of anything paid by card (a tip, a ticket, a club membership invoice):
    one payment intent and its charge. The lifecycle that moves it is one state machine for
    every kind (payouts/services/charges.py); each kind registers its hooks there."""

    # The charge's `kind` metadata, and the metadata key (with the field it holds) that names
    # the row on the provider's objects.
    CHARGE_KIND: ClassVar[str]
    OWNER_KEY: ClassVar[tuple[str, str]]
    # Who pays (a foreign key's name): their Stripe customer's payment intents are listed when
    # an unanswered request must be found. Empty where the provider drives the payments
    # (membership invoices).
    PAYER_FIELD: ClassVar[str] = ""
    PAYMENT: ClassVar[PaymentStatuses]
    TRANSITIONS: ClassVar[dict[str, set[str]]]

    currency = models.CharField(max_length=3)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_charge_id = models.CharField(max_length=255, blank=True, db_index=True)
    failure_code = models.CharField(max_length=64, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    status: Any  # each kind's own field, with its own choices

    @property
    def charged_amount(self) -> int:
        """What the card is charged (minor units)."""
        raise NotImplementedError

    @property
    def application_fee_amount(self) -> int:
        """The platform's part of the charge (the rest goes to the creator's account)."""
        raise NotImplementedError

    def intent_metadata(self) -> dict[str, str]:
        """The metadata of the payment intent that pays for this row: it names the kind and the
        row (and the attempt, where a payer can try again), so news of it finds the row."""
        key, field = self.OWNER_KEY
        return {key: str(getattr(self, field)), "kind": self.CHARGE_KIND}


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
        # Refunding any kind of charge (tip, ticket, membership) or retrying a failed refund.
        permissions = [("refund_charge", "Can refund a charge or retry a failed refund")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="charge_refund_amount_positive")
        ]

    def __str__(self) -> str:
        return f"refund {self.stripe_refund_id} {self.amount} {self.currency} ({self.status})"
