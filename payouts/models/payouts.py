"""Money to creators: monthly stipends and their runs, payouts to their banks."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

from payouts.models.creators import ConnectedAccount

# --------------------------------------------------------------------------------------------
# Stipends
# --------------------------------------------------------------------------------------------


class StipendRun(models.Model):
    """One month's run; progress is counted from its payments, never stored."""

    month = models.DateField(unique=True, help_text="First day of the month paid.")
    started = models.DateTimeField(auto_now_add=True)
    last_run = models.DateTimeField(null=True, blank=True)
    # The latest round fanned out over Celery workers: its chunks, how many have ended, and
    # when it began (the last chunk to end reports the round's failures to staff).
    round_started = models.DateTimeField(null=True, blank=True)
    round_chunks = models.PositiveIntegerField(default=0)
    round_done = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-month"]

    def __str__(self) -> str:
        return f"stipends {self.month:%Y-%m}"


class StipendPayment(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSING = "processing", "Processing (provider call in flight)"
        PAID = "paid", "Paid"
        FAILED_INSUFFICIENT_FUNDS = "failed_insufficient_funds", "Failed: platform balance too low"
        FAILED = "failed", "Failed"

    TRANSITIONS: ClassVar[dict[str, set[str]]] = {
        Status.PENDING: {Status.PROCESSING},
        Status.PROCESSING: {
            Status.PAID,
            Status.FAILED,
            Status.FAILED_INSUFFICIENT_FUNDS,
            Status.PROCESSING,  # a stale claim is re-claimed after the provider lookup
        },
        Status.FAILED_INSUFFICIENT_FUNDS: {Status.PENDING, Status.PAID},
        Status.FAILED: {Status.PENDING, Status.PAID},
        Status.PAID: set(),
    }

    run = models.ForeignKey(StipendRun, on_delete=models.PROTECT, related_name="payments")
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="stipend_payments"
    )
    month = models.DateField()
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    destination_account_id = models.CharField(max_length=255)
    status = models.CharField(max_length=32, choices=Status.choices, default=Status.PENDING)
    # Bumped only after a *definitive* provider refusal, so a retry is a new request; an
    # unknown outcome (crash, timeout) retries with the same key and gets the same transfer.
    key_attempt = models.PositiveIntegerField(default=1)
    stripe_transfer_id = models.CharField(max_length=255, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["month", "creator_id"]
        # Retrying moves money: its own permission, not "change" (rows are read-only in admin).
        permissions = [("retry_stipend", "Can retry a failed or stuck stipend payment")]
        constraints = [
            models.UniqueConstraint(fields=["creator", "month"], name="stipend_once_per_month"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="stipend_amount_positive"),
        ]
        indexes = [models.Index(fields=["month", "status"])]

    def __str__(self) -> str:
        return f"stipend {self.creator_id} {self.month:%Y-%m} ({self.status})"

    @property
    def transfer_group(self) -> str:
        return f"stipend-{self.creator_id}-{self.month:%Y-%m}"

    @property
    def idempotency_key(self) -> str:
        return f"{self.transfer_group}-a{self.key_attempt}"


class ConnectedPayout(models.Model):
    """A payout from a creator's connected account to their bank (`payout.*` Connect events)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        IN_TRANSIT = "in_transit", "In transit"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    # A paid payout can still fail later (the bank returns it); failed and canceled are final.
    TRANSITIONS: ClassVar[dict[str, set[str]]] = {
        Status.PENDING: {Status.IN_TRANSIT, Status.PAID, Status.FAILED, Status.CANCELED},
        Status.IN_TRANSIT: {Status.PAID, Status.FAILED, Status.CANCELED},
        Status.PAID: {Status.FAILED},
        Status.FAILED: set(),
        Status.CANCELED: set(),
    }

    stripe_payout_id = models.CharField(max_length=255, unique=True)
    account = models.ForeignKey(ConnectedAccount, on_delete=models.PROTECT, related_name="payouts")
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bank_payouts"
    )
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    arrival_date = models.DateTimeField(null=True, blank=True)
    failure_code = models.CharField(max_length=64, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"payout {self.stripe_payout_id} {self.amount} {self.currency} ({self.status})"
