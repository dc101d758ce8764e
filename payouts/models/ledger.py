"""The append-only double-entry ledger, and what keeps its books honest: audits, handled
webhook events, reconciliation's discrepancies."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

# --------------------------------------------------------------------------------------------
# Ledger: append-only double entry. Entries are signed integer minor units, debits positive.
# --------------------------------------------------------------------------------------------


class LedgerImmutable(Exception):
    """Raised on any attempt to change or remove a posted journal or entry."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise LedgerImmutable("ledger rows are append-only; post a correcting journal")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise LedgerImmutable("ledger rows are append-only; post a correcting journal")


class AppendOnlyModel(models.Model):
    objects: ClassVar[Any] = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise LedgerImmutable("ledger rows are append-only; post a correcting journal")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise LedgerImmutable("ledger rows are append-only; post a correcting journal")


class LedgerAccount(models.Model):
    """Where money is (a balance at Stripe) or the boundary it crossed (a source or a sink).

    See docs/payouts.md for the chart of accounts and the sign convention.
    """

    class Kind(models.TextChoices):
        PLATFORM_BALANCE = "platform_balance", "Platform Stripe balance"
        CREATOR_PAYABLE = "creator_payable", "Creator payable (connected account balance)"
        CUSTOMER_PAYMENTS = "customer_payments", "Payments from cards (source)"
        PLATFORM_FUNDING = "platform_funding", "Platform top-ups (source)"
        PROCESSING_FEES = "processing_fees", "Processing fees (Stripe)"
        REFUNDS = "refunds", "Refunds (sink)"
        DISPUTES = "disputes", "Disputes lost (sink)"
        DISPUTE_FEES = "dispute_fees", "Dispute fees (Stripe, platform expense)"
        BANK_PAYOUTS = "bank_payouts", "Paid out to banks (sink)"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    currency = models.CharField(max_length=3)
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_accounts",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "currency"],
                condition=Q(creator__isnull=True),
                name="ledger_account_platform_once",
            ),
            models.UniqueConstraint(
                fields=["kind", "currency", "creator"],
                condition=Q(creator__isnull=False),
                name="ledger_account_creator_once",
            ),
            models.CheckConstraint(
                condition=Q(kind="creator_payable", creator__isnull=False)
                | (~Q(kind="creator_payable") & Q(creator__isnull=True)),
                name="ledger_account_creator_iff_payable",
            ),
        ]

    def __str__(self) -> str:
        owner = f":{self.creator_id}" if self.creator_id else ""
        return f"{self.kind}{owner} {self.currency}"


class Journal(AppendOnlyModel):
    class Kind(models.TextChoices):
        TIP = "tip", "Tip"
        TIP_REFUND = "tip_refund", "Tip refund"
        TIP_DISPUTE = "tip_dispute", "Tip dispute"
        STIPEND = "stipend", "Stipend"
        STIPEND_REVERSAL = "stipend_reversal", "Stipend reversal"
        TICKET = "ticket", "Ticket"
        TICKET_REFUND = "ticket_refund", "Ticket refund"
        TICKET_DISPUTE = "ticket_dispute", "Ticket dispute"
        MEMBERSHIP = "membership", "Club membership"
        PAYOUT = "payout", "Payout to bank"
        FUNDING = "funding", "Platform top-up"
        # A booked top-up that Stripe reversed (`topup.reversed`): the exact negation of its
        # funding journal.
        FUNDING_REVERSED = "funding_reversed", "Platform top-up reversed"
        CORRECTION = "correction", "Correction"
        # Kinds of charge without journal kinds of their own (memberships): see
        # payouts/services/charges.py, which books every refund and dispute.
        REFUND = "refund", "Refund"
        DISPUTE = "dispute", "Dispute: funds withdrawn"
        DISPUTE_REINSTATED = "dispute_reinstated", "Dispute: funds reinstated"
        CREATOR_PAYOUT = "creator_payout", "Creator payout to bank"
        CREATOR_PAYOUT_FAILED = "creator_payout_failed", "Creator payout failed (returned)"
        PAYOUT_FAILED = "payout_failed", "Payout to bank failed (returned)"
        # A refund booked when it succeeded, then failed or canceled: the exact negation of
        # its refund journal (see ChargeRefund).
        REFUND_REVERSED = "refund_reversed", "Refund failed after success (reversed)"
        DISPUTE_FEE = "dispute_fee", "Dispute fee"
        DISPUTE_FEE_RETURNED = "dispute_fee_returned", "Dispute fee returned (won)"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    currency = models.CharField(max_length=3)
    description = models.CharField(max_length=255, blank=True)
    idempotency_key = models.CharField(max_length=200, unique=True)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_charge_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_transfer_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_refund_id = models.CharField(max_length=255, blank=True)
    stripe_dispute_id = models.CharField(max_length=255, blank=True)
    stripe_payout_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_topup_id = models.CharField(max_length=255, blank=True, db_index=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]
        permissions = [("book_topup", "Can book a platform top-up from Stripe (admin form)")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.currency} {self.description}"


class Entry(AppendOnlyModel):
    journal = models.ForeignKey(Journal, on_delete=models.PROTECT, related_name="entries")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="entries")
    amount = models.BigIntegerField(help_text="Minor units; debits positive, credits negative.")
    currency = models.CharField(max_length=3)

    class Meta:
        verbose_name_plural = "entries"
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="entry_not_zero")]

    def __str__(self) -> str:
        return f"{self.account} {self.amount:+d}"


# --------------------------------------------------------------------------------------------
# Audit: every state transition writes one, in the same transaction.
# --------------------------------------------------------------------------------------------


class AuditEntry(models.Model):
    subject_type = models.CharField(max_length=64)
    subject_id = models.CharField(max_length=64)
    action = models.CharField(max_length=64)
    from_status = models.CharField(max_length=32, blank=True)
    to_status = models.CharField(max_length=32, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True)
    # Why staff did it, in their words (asked for by the admin on retries, refunds, corrections).
    reason = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["subject_type", "subject_id"])]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.subject_type}#{self.subject_id} {self.action}"


# --------------------------------------------------------------------------------------------
# Webhooks and reconciliation
# --------------------------------------------------------------------------------------------


class HandledEvent(models.Model):
    """A provider event our handlers have applied; the primary key makes replays no-ops."""

    event_id = models.CharField(max_length=255, primary_key=True)
    type = models.CharField(max_length=255)
    handled_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.event_id} {self.type}"


class Discrepancy(models.Model):
    class Kind(models.TextChoices):
        MISSING_IN_LEDGER = "missing_in_ledger", "At the provider, not in the ledger"
        MISSING_AT_PROVIDER = "missing_at_provider", "In the ledger, not at the provider"
        AMOUNT_MISMATCH = "amount_mismatch", "Amounts differ"
        CURRENCY_MISMATCH = "currency_mismatch", "Currencies differ"
        UNEXPECTED_REVERSAL = "unexpected_reversal", "Reversed at the provider"
        UNKNOWN_ACCOUNT = "unknown_account", "From a connected account we do not know"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    object_type = models.CharField(max_length=32, help_text="transfer, payout, charge")
    external_id = models.CharField(max_length=255)
    journal = models.ForeignKey(Journal, null=True, blank=True, on_delete=models.PROTECT)
    ledger_amount = models.BigIntegerField(null=True, blank=True)
    provider_amount = models.BigIntegerField(null=True, blank=True)
    ledger_currency = models.CharField(max_length=3, blank=True)
    provider_currency = models.CharField(max_length=3, blank=True)
    detail = models.TextField(blank=True)
    detected_at = models.DateTimeField(auto_now_add=True)
    resolved = models.BooleanField(default=False)
    resolution_note = models.TextField(blank=True)
    # The correcting journal staff posted for it (services/corrections.py): a new journal,
    # never an edit of the journal above.
    correction = models.ForeignKey(
        Journal,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="corrected_discrepancies",
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "discrepancies"
        ordering = ["-detected_at"]
        permissions = [("post_correction", "Can post a correcting journal for a discrepancy")]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "object_type", "external_id"], name="discrepancy_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_type} {self.external_id}"
