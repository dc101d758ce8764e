"""Payouts data: the append-only ledger, the creator program, tips, stipends, webhooks, audits.

State machines follow the house style: a ``Status`` and its allowed transitions live next to
the model; the one service per transition (payouts/services/) locks, checks and audits.
"""

from __future__ import annotations

import uuid
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
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["subject_type", "subject_id"])]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.subject_type}#{self.subject_id} {self.action}"


# --------------------------------------------------------------------------------------------
# Creator program
# --------------------------------------------------------------------------------------------


class CreatorApplication(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    TRANSITIONS: ClassVar[dict[str, set[str]]] = {
        Status.PENDING: {Status.APPROVED, Status.REJECTED},
        Status.REJECTED: {Status.PENDING},  # a rejected creator may apply again later
        Status.APPROVED: set(),
    }

    class Source(models.TextChoices):
        APPLIED = "applied", "Applied"
        NOMINATED = "nominated", "Nominated by staff"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="creator_applications"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.APPLIED)
    pitch = models.TextField(blank=True)
    nominated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    review_note = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(status="pending"),
                name="creator_application_one_pending",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.status})"


class CreatorProgram(models.Model):
    """What an approved creator gets. Exists only for approved creators."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="creator_program"
    )
    application = models.ForeignKey(
        CreatorApplication, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    send_money_enabled = models.BooleanField(default=True)
    stipend_amount = models.BigIntegerField(default=0, help_text="Minor units; 0 = no stipend.")
    stipend_currency = models.CharField(max_length=3, default="USD")
    stipend_start_month = models.DateField(null=True, blank=True, help_text="First day of a month.")
    stipend_end_month = models.DateField(null=True, blank=True, help_text="First day of a month.")
    active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(stipend_amount__gte=0), name="creator_program_stipend_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(stipend_start_month__isnull=True)
                | Q(stipend_end_month__isnull=True)
                | Q(stipend_end_month__gte=models.F("stipend_start_month")),
                name="creator_program_stipend_months_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"program for {self.user}"


class ConnectedAccount(models.Model):
    """A creator's Stripe Connect (Express) account; the flags come from `account.updated`."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="connected_account"
    )
    stripe_account_id = models.CharField(max_length=255, unique=True)
    transfers_active = models.BooleanField(default=False)
    charges_enabled = models.BooleanField(default=False)
    payouts_enabled = models.BooleanField(default=False)
    details_submitted = models.BooleanField(default=False)
    provider_seen_at = models.BigIntegerField(
        null=True, blank=True, help_text="`created` of the newest account event applied."
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.stripe_account_id} ({self.user})"


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


# --------------------------------------------------------------------------------------------
# Tips (Send Money)
# --------------------------------------------------------------------------------------------


class Tip(models.Model):
    class Status(models.TextChoices):
        CREATED = "created", "Created"
        REQUIRES_ACTION = "requires_action", "Requires action (3-D Secure)"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        REFUNDED = "refunded", "Refunded"
        DISPUTED = "disputed", "Disputed"

    TRANSITIONS: ClassVar[dict[str, set[str]]] = {
        Status.CREATED: {Status.REQUIRES_ACTION, Status.SUCCEEDED, Status.FAILED},
        Status.REQUIRES_ACTION: {Status.SUCCEEDED, Status.FAILED},
        Status.SUCCEEDED: {Status.REFUNDED, Status.DISPUTED},
        # A payment intent may be confirmed again after a failure (another card, 3-D Secure
        # retried): the provider's success wins.
        Status.FAILED: {Status.SUCCEEDED},
        # A refund that failed (or was canceled) after it succeeded: the tip is paid again.
        Status.REFUNDED: {Status.SUCCEEDED},
        Status.DISPUTED: {Status.REFUNDED},
    }

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="tips_sent"
    )
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="tips_received"
    )
    amount = models.BigIntegerField(help_text="The tip the creator receives (minor units).")
    fee = models.BigIntegerField(help_text="Processing fees the sender pays on top.")
    charge_amount = models.BigIntegerField(help_text="amount + fee: what the card is charged.")
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CREATED)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_charge_id = models.CharField(max_length=255, blank=True, db_index=True)
    destination_account_id = models.CharField(max_length=255)
    failure_code = models.CharField(max_length=64, blank=True)
    request_key = models.CharField(
        max_length=255,
        blank=True,
        help_text="The client's Idempotency-Key: a double tap sends once.",
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(
                fields=["sender", "request_key"],
                condition=~Q(request_key=""),
                name="tip_once_per_request_key",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="tip_amount_positive"),
            models.CheckConstraint(
                condition=Q(charge_amount=models.F("amount") + models.F("fee")),
                name="tip_charge_is_amount_plus_fee",
            ),
            models.CheckConstraint(
                condition=~Q(sender=models.F("creator")), name="tip_not_to_self"
            ),
        ]

    def __str__(self) -> str:
        return f"tip {self.uuid} {self.amount} {self.currency} ({self.status})"

    @property
    def transfer_group(self) -> str:
        return f"tip-{self.uuid}"


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


# --------------------------------------------------------------------------------------------
# Ticketed rooms and events
#
# Prices live here, keyed by event or room, rather than as fields on rooms' models: rooms stays
# free of money (it asks through rooms/tickets_bridge.py, as it does clubs), a price carries who
# is paid (the creator's connected account), and the rooms tables need no migration.
# --------------------------------------------------------------------------------------------


class TicketPrice(models.Model):
    """The price of entry to one scheduled event or one room, set by an approved creator."""

    event = models.OneToOneField(
        "rooms.ScheduledEvent",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="ticket_price",
    )
    room = models.OneToOneField(
        "rooms.Room", null=True, blank=True, on_delete=models.CASCADE, related_name="ticket_price"
    )
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="ticket_prices",
        help_text="Who is paid: the ticket money goes to their connected account.",
    )
    amount = models.BigIntegerField(help_text="Minor units.")
    currency = models.CharField(max_length=3)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(event__isnull=False, room__isnull=True)
                | Q(event__isnull=True, room__isnull=False),
                name="ticket_price_event_xor_room",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="ticket_price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.target_key} {self.amount} {self.currency}"

    @property
    def target_key(self) -> str:
        return f"event:{self.event_id}" if self.event_id else f"room:{self.room_id}"


class Ticket(models.Model):
    """One buyer's ticket for one event or room. Its state follows the payment intent, then
    the refund; every transition is a service in payouts/services/tickets/."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending (payment in flight)"
        REQUIRES_ACTION = "requires_action", "Requires action (3-D Secure)"
        PAID = "paid", "Paid"
        FAILED = "failed", "Payment failed"
        REFUND_PENDING = "refund_pending", "Refund requested"
        REFUNDED = "refunded", "Refunded"
        REFUND_FAILED = "refund_failed", "Refund failed (retry in admin)"
        DISPUTED = "disputed", "Disputed (chargeback)"

    TRANSITIONS: ClassVar[dict[str, set[str]]] = {
        Status.PENDING: {Status.REQUIRES_ACTION, Status.PAID, Status.FAILED},
        Status.REQUIRES_ACTION: {Status.PAID, Status.FAILED},
        # A declined buyer may try again (a new attempt, a new idempotency key); a payment
        # intent confirmed after a failure (3-D Secure retried) also wins.
        Status.FAILED: {Status.PENDING, Status.PAID},
        Status.PAID: {Status.REFUND_PENDING, Status.REFUNDED, Status.DISPUTED},
        Status.REFUND_PENDING: {Status.REFUNDED, Status.REFUND_FAILED, Status.DISPUTED},
        Status.REFUND_FAILED: {Status.REFUND_PENDING, Status.REFUNDED, Status.DISPUTED},
        # A refund that failed (or was canceled) after it succeeded: staff retry it.
        Status.REFUNDED: {Status.REFUND_FAILED},
        # A chargeback: the buyer's bank took the money back; the ticket no longer admits.
        Status.DISPUTED: set(),
    }
    ADMITTING = (Status.PAID,)

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="tickets"
    )
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="tickets_sold"
    )
    # The event or room; kept as `target_key` too, so a ticket outlives a cancelled (deleted)
    # event and the one-per-buyer rule still holds.
    event = models.ForeignKey(
        "rooms.ScheduledEvent",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tickets",
    )
    room = models.ForeignKey(
        "rooms.Room", null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    target_key = models.CharField(max_length=40, help_text="event:<id> or room:<id>")
    title = models.CharField(max_length=120, blank=True)
    amount = models.BigIntegerField(help_text="What the card is charged (minor units).")
    application_fee = models.BigIntegerField(help_text="The platform's cut (minor units).")
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempt = models.PositiveIntegerField(
        default=1, help_text="Bumped when a declined buyer tries again: a new idempotency key."
    )
    destination_account_id = models.CharField(max_length=255)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_charge_id = models.CharField(max_length=255, blank=True, db_index=True)
    failure_code = models.CharField(max_length=64, blank=True)
    refund_reason = models.CharField(max_length=32, blank=True)
    refund_requested_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set when the event was cancelled or staff refunded: a payment still in "
        "flight is refunded as soon as it succeeds.",
    )
    refund_attempt = models.PositiveIntegerField(
        default=1, help_text="Bumped after a definitive refund refusal: a retry is a new request."
    )
    stripe_refund_id = models.CharField(max_length=255, blank=True, db_index=True)
    refund_error = models.TextField(blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(
                fields=["buyer", "target_key"], name="ticket_once_per_buyer_and_target"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="ticket_amount_positive"),
            models.CheckConstraint(
                condition=Q(application_fee__gte=0, application_fee__lte=models.F("amount")),
                name="ticket_fee_within_amount",
            ),
            models.CheckConstraint(
                condition=~Q(buyer=models.F("creator")), name="ticket_not_to_self"
            ),
            models.CheckConstraint(
                condition=Q(event__isnull=True) | Q(room__isnull=True),
                name="ticket_event_or_room",
            ),
        ]
        indexes = [models.Index(fields=["status", "updated"])]

    def __str__(self) -> str:
        return f"ticket {self.uuid} {self.target_key} ({self.status})"

    @property
    def transfer_group(self) -> str:
        return f"ticket-{self.uuid}"

    @property
    def payment_idempotency_key(self) -> str:
        # Derived from what is bought: (buyer, event/room), plus the attempt after a decline.
        return f"ticket-{self.buyer_id}-{self.target_key.replace(':', '-')}-a{self.attempt}"

    @property
    def refund_idempotency_key(self) -> str:
        return f"ticket-refund-{self.uuid}-a{self.refund_attempt}"

    @property
    def creator_share(self) -> int:
        return self.amount - self.application_fee


# --------------------------------------------------------------------------------------------
# Paid clubs: a monthly price per exclusive club, Stripe subscriptions, their invoices.
# Connected-account payouts. (Section owned by the memberships work; see docs/payouts.md.)
# --------------------------------------------------------------------------------------------


class ClubPlan(models.Model):
    """The monthly price of an exclusive club's premium membership, paid to the club's owner.

    A Stripe Price is immutable, so a new amount or currency is a new Price; running
    subscriptions keep the price they started with.
    """

    club = models.OneToOneField("clubs.Club", on_delete=models.CASCADE, related_name="plan")
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="club_plans",
        help_text="The payee: the club's owner, an approved creator.",
    )
    amount = models.BigIntegerField(help_text="Monthly price in minor units.")
    currency = models.CharField(max_length=3)
    destination_account_id = models.CharField(max_length=255)
    stripe_price_id = models.CharField(max_length=255, blank=True)
    active = models.BooleanField(default=True)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="club_plan_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"plan of club {self.club_id}: {self.amount} {self.currency}/month"


class ClubSubscription(models.Model):
    """A member's Stripe subscription to an exclusive club. The status is Stripe's own; premium
    access is derived from it by `clubs.services.premium_membership_sync`."""

    class Status(models.TextChoices):
        INCOMPLETE = "incomplete", "Incomplete (first payment pending)"
        INCOMPLETE_EXPIRED = "incomplete_expired", "Incomplete, expired"
        TRIALING = "trialing", "Trialing"
        ACTIVE = "active", "Active"
        PAST_DUE = "past_due", "Past due"
        UNPAID = "unpaid", "Unpaid"
        CANCELED = "canceled", "Canceled"
        PAUSED = "paused", "Paused"

    # Stripe's subscription lifecycle; `canceled` and `incomplete_expired` are final.
    TRANSITIONS: ClassVar[dict[str, set[str]]] = {
        Status.INCOMPLETE: {
            Status.ACTIVE, Status.TRIALING, Status.INCOMPLETE_EXPIRED, Status.CANCELED,
            Status.PAST_DUE,
        },
        Status.TRIALING: {Status.ACTIVE, Status.PAST_DUE, Status.UNPAID, Status.CANCELED,
                          Status.PAUSED},
        Status.ACTIVE: {Status.PAST_DUE, Status.UNPAID, Status.CANCELED, Status.PAUSED},
        Status.PAST_DUE: {Status.ACTIVE, Status.UNPAID, Status.CANCELED},
        Status.UNPAID: {Status.ACTIVE, Status.CANCELED},
        Status.PAUSED: {Status.ACTIVE, Status.CANCELED},
        Status.CANCELED: set(),
        Status.INCOMPLETE_EXPIRED: set(),
    }  # fmt: skip
    LIVE: ClassVar[tuple[str, ...]] = (
        Status.INCOMPLETE, Status.TRIALING, Status.ACTIVE, Status.PAST_DUE, Status.UNPAID,
        Status.PAUSED,
    )  # fmt: skip

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # A subscription is a money record: it outlives a deleted club (no database constraint, the
    # id stays); payouts' membership-lost hook cancels it at Stripe when the club goes.
    club = models.ForeignKey(
        "clubs.Club",
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="subscriptions",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="club_subscriptions"
    )
    plan = models.ForeignKey(
        ClubPlan, null=True, on_delete=models.SET_NULL, related_name="subscriptions"
    )
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="club_subscribers"
    )
    amount = models.BigIntegerField(help_text="Monthly price at subscription time (minor units).")
    currency = models.CharField(max_length=3)
    application_fee_percent = models.DecimalField(max_digits=5, decimal_places=2)
    destination_account_id = models.CharField(max_length=255)
    stripe_price_id = models.CharField(max_length=255)
    stripe_subscription_id = models.CharField(max_length=255, blank=True, db_index=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.INCOMPLETE)
    cancel_at_period_end = models.BooleanField(default=False)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    failure_code = models.CharField(max_length=64, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            # No double subscriptions: at most one live subscription per member and club.
            models.UniqueConstraint(
                fields=["club", "user"],
                condition=Q(
                    status__in=[
                        "incomplete",
                        "trialing",
                        "active",
                        "past_due",
                        "unpaid",
                        "paused",
                    ]
                ),
                name="club_subscription_one_live",
            ),
            models.UniqueConstraint(
                fields=["stripe_subscription_id"],
                condition=~Q(stripe_subscription_id=""),
                name="club_subscription_stripe_id_once",
            ),
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="club_subscription_amount_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"subscription {self.uuid} club {self.club_id} user {self.user_id} ({self.status})"

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE


class MembershipInvoice(models.Model):
    """One invoice of a club subscription, booked once when paid (`membership:<invoice>`)."""

    class Status(models.TextChoices):
        OPEN = "open", "Open (payment failed, Stripe retries)"
        PAID = "paid", "Paid"

    subscription = models.ForeignKey(
        ClubSubscription, on_delete=models.PROTECT, related_name="invoices"
    )
    stripe_invoice_id = models.CharField(max_length=255, unique=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    amount = models.BigIntegerField(help_text="What the card was charged (minor units).")
    currency = models.CharField(max_length=3)
    application_fee = models.BigIntegerField(default=0)
    processing_fee = models.BigIntegerField(default=0)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True)
    stripe_charge_id = models.CharField(max_length=255, blank=True, db_index=True)
    attempt_count = models.PositiveIntegerField(default=0)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"invoice {self.stripe_invoice_id} ({self.status})"


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
