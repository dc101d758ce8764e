"""Paid clubs: plans, subscriptions, membership invoices."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

from payouts.models.charges import CardCharge, PaymentStatuses

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


class MembershipInvoice(CardCharge):
    """One invoice of a club subscription, booked once when paid (`membership:<invoice>`).
    Stripe drives its payments (the subscription's invoices, retried by Stripe): an invoice
    stays open until one is paid."""

    class Status(models.TextChoices):
        OPEN = "open", "Open (payment failed, Stripe retries)"
        PAID = "paid", "Paid"

    TRANSITIONS: ClassVar[dict[str, set[str]]] = {Status.OPEN: {Status.PAID}, Status.PAID: set()}
    CHARGE_KIND = "membership"
    OWNER_KEY = ("membership_invoice", "stripe_invoice_id")
    PAYMENT = PaymentStatuses(
        pending=Status.OPEN,
        requires_action=Status.OPEN,
        paid=Status.PAID,
        failed=Status.OPEN,
        settled=frozenset({Status.PAID}),
    )

    subscription = models.ForeignKey(
        ClubSubscription, on_delete=models.PROTECT, related_name="invoices"
    )
    stripe_invoice_id = models.CharField(max_length=255, unique=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    amount = models.BigIntegerField(help_text="What the card was charged (minor units).")
    application_fee = models.BigIntegerField(default=0)
    processing_fee = models.BigIntegerField(default=0)
    attempt_count = models.PositiveIntegerField(default=0)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"invoice {self.stripe_invoice_id} ({self.status})"

    @property
    def charged_amount(self) -> int:
        return self.amount

    @property
    def application_fee_amount(self) -> int:
        return self.application_fee
