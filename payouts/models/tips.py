"""Send Money: tips."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

from payouts.models.charges import CardCharge, PaymentStatuses

# --------------------------------------------------------------------------------------------
# Tips (Send Money)
# --------------------------------------------------------------------------------------------


class Tip(CardCharge):
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
    CHARGE_KIND = "tip"
    OWNER_KEY = ("tip", "uuid")
    PAYER_FIELD = "sender"
    PAYMENT = PaymentStatuses(
        pending=Status.CREATED,
        requires_action=Status.REQUIRES_ACTION,
        paid=Status.SUCCEEDED,
        failed=Status.FAILED,
        settled=frozenset({Status.SUCCEEDED, Status.REFUNDED, Status.DISPUTED}),
    )

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
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CREATED)
    destination_account_id = models.CharField(max_length=255)
    request_key = models.CharField(
        max_length=255,
        blank=True,
        help_text="The client's Idempotency-Key: a double tap sends once.",
    )

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

    @property
    def payment_idempotency_key(self) -> str:
        return f"tip-{self.uuid}"

    @property
    def charged_amount(self) -> int:
        return self.charge_amount

    @property
    def application_fee_amount(self) -> int:
        return self.fee
