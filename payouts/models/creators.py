"""The creator program: applications, programs, connected accounts."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

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
    review_note = models.TextField(
        blank=True, help_text="Staff's own note; the applicant never sees it."
    )
    decision_reason = models.TextField(
        blank=True, help_text="Why it was rejected, as the applicant reads it (notice and status)."
    )
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
    """What an approved creator gets. Exists only for approved creators.

    The stipend is due for a month when the month is within [start, end] (no end: until
    ended), not paused, and the amount in force that month is positive. Staff's changes take
    effect next month (payouts/services/programs.py): a new amount or currency waits in the
    `stipend_next_*` fields until `stipend_next_from`; a pause runs from `stipend_paused_from`
    until `stipend_resumes_month` (exclusive; none: until resumed). So a month whose run has
    begun is paid on the terms it began with, whatever staff change meanwhile.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="creator_program"
    )
    application = models.ForeignKey(
        CreatorApplication, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    send_money_enabled = models.BooleanField(
        default=True, help_text="Staff's switch: off forces Send Money off for this creator."
    )
    creator_send_money_on = models.BooleanField(
        default=True,
        help_text="The creator's own switch (their settings page); staff's switch still wins.",
    )
    stipend_amount = models.BigIntegerField(default=0, help_text="Minor units; 0 = no stipend.")
    stipend_currency = models.CharField(max_length=3, default="USD")
    stipend_start_month = models.DateField(null=True, blank=True, help_text="First day of a month.")
    stipend_end_month = models.DateField(
        null=True, blank=True, help_text="First day of a month; none: until ended."
    )
    stipend_next_amount = models.BigIntegerField(null=True, blank=True)
    stipend_next_currency = models.CharField(max_length=3, blank=True)
    stipend_next_from = models.DateField(
        null=True, blank=True, help_text="From this month the next amount and currency apply."
    )
    stipend_paused_from = models.DateField(null=True, blank=True)
    stipend_resumes_month = models.DateField(null=True, blank=True)
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
            models.CheckConstraint(
                condition=Q(stipend_next_amount__isnull=True) | Q(stipend_next_amount__gte=0),
                name="creator_program_next_stipend_non_negative",
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
