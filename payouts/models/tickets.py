"""Ticketed events and rooms."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

from payouts.models.charges import CardCharge, PaymentStatuses

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


class Ticket(CardCharge):
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
    CHARGE_KIND = "ticket"
    OWNER_KEY = ("ticket", "uuid")
    PAYER_FIELD = "buyer"
    PAYMENT = PaymentStatuses(
        pending=Status.PENDING,
        requires_action=Status.REQUIRES_ACTION,
        paid=Status.PAID,
        failed=Status.FAILED,
        settled=frozenset({Status.PAID, Status.REFUND_PENDING, Status.REFUNDED,
                           Status.REFUND_FAILED, Status.DISPUTED}),
    )  # fmt: skip

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
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempt = models.PositiveIntegerField(
        default=1, help_text="Bumped when a declined buyer tries again: a new idempotency key."
    )
    destination_account_id = models.CharField(max_length=255)
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

    @property
    def charged_amount(self) -> int:
        return self.amount

    @property
    def application_fee_amount(self) -> int:
        return self.application_fee

    def intent_metadata(self) -> dict[str, str]:
        # The attempt tells a late event of an earlier attempt from the current one's.
        return {**super().intent_metadata(), "attempt": str(self.attempt)}
