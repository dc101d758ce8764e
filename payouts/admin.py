"""Staff back office for money. Ledger rows are read-only here too; actions call services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.selectors import admin_log_for
from clubhouse.audit import StaffAction
from clubhouse.errors import ApplicationError
from clubhouse.staff_admin import ReasonForm, StaffHistoryAdmin, action_reason
from payouts import admin_creators as admin_creators  # registers the creator program's pages
from payouts import ledger, selectors, services
from payouts.forms import CorrectionForm, CorrectionLineFormSet, TopupBookForm
from payouts.models import (
    AuditEntry,
    ChargeRefund,
    ClubPlan,
    ClubSubscription,
    ConnectedAccount,
    ConnectedPayout,
    Discrepancy,
    Entry,
    HandledEvent,
    Journal,
    LedgerAccount,
    MembershipInvoice,
    StipendPayment,
    StipendRun,
    Tip,
)
from payouts.models import Ticket as TicketModel
from payouts.models import TicketPrice as TicketPriceModel
from payouts.provider import ProviderError, ProviderUnavailable
from payouts.services.charges import charge_refund_refresh, charge_refund_retry
from payouts.services.corrections import DiscrepancyResolved
from payouts.services.memberships import membership_invoice_refund
from payouts.services.tickets import ticket_refund


class PayoutsHistoryAdmin(StaffHistoryAdmin):
    """The object's audit entries (payouts.audit) and admin changes, under its form."""

    def staff_history(self, obj: Any) -> list[StaffAction]:
        return [*selectors.audit_history_for(obj), *admin_log_for(obj)]


def _can_refund(request: HttpRequest) -> bool:
    return request.user.has_perm("payouts.refund_charge")


class ReadOnlyAdmin(PayoutsHistoryAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class EntryInline(admin.TabularInline):
    model = Entry
    extra = 0
    fields = ["account", "amount", "currency"]
    readonly_fields = ["account", "amount", "currency"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Journal)
class JournalAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "currency", "description", "created"]
    list_filter = ["kind", "currency"]
    search_fields = [
        "idempotency_key",
        "stripe_payment_intent_id",
        "stripe_charge_id",
        "stripe_transfer_id",
        "stripe_payout_id",
        "stripe_topup_id",
    ]
    inlines = [EntryInline]
    change_list_template = "admin/payouts/journal/change_list.html"

    # No "add" here, ever: journals are posted by services. Booking a top-up is its own form.
    def get_urls(self) -> list[Any]:
        book = path(
            "book-topup/",
            self.admin_site.admin_view(self.book_topup_view),
            name="payouts_journal_book_topup",
        )
        return [book, *super().get_urls()]

    def has_book_topup_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payouts.book_topup")

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        context = {
            **(extra_context or {}),
            "can_book_topup": self.has_book_topup_permission(request),
        }
        return super().changelist_view(request, context)

    def book_topup_view(self, request: HttpRequest) -> HttpResponse:
        """Book a Stripe top-up whose event never arrived: Stripe is asked for it by id."""
        if not self.has_book_topup_permission(request):
            raise PermissionDenied
        form = TopupBookForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            topup_id = form.cleaned_data["topup_id"]
            try:
                journal, booked = services.topup_book_from_provider(
                    topup_id=topup_id, reason=form.cleaned_data["reason"], actor=request.user
                )
            except ProviderUnavailable:
                form.add_error(None, "Stripe could not be reached; nothing was booked. "
                                     "Try again in a moment.")  # fmt: skip
            except ApplicationError as exc:
                field = (
                    "topup_id" if exc.code in {"topup_not_found", "topup_not_succeeded"} else None
                )
                form.add_error(field, exc.message)
            else:
                if booked:
                    self.message_user(request, f"Top-up {topup_id} booked: journal #{journal.pk} "
                                      f"({journal.description}).", messages.SUCCESS)  # fmt: skip
                else:
                    self.message_user(request, f"Top-up {topup_id} is already booked (journal "
                                      f"#{journal.pk}); nothing new was booked.", messages.WARNING)  # fmt: skip
                return redirect("admin:payouts_journal_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Book a platform top-up",
            "form": form,
        }
        return TemplateResponse(request, "admin/payouts/journal/book_topup.html", context)


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ["kind", "currency", "creator", "balance"]
    list_filter = ["kind", "currency"]

    @admin.display(description="balance (sum of entries)")
    def balance(self, obj: LedgerAccount) -> int:
        return ledger.account_balance(obj)


@admin.register(ConnectedAccount)
class ConnectedAccountAdmin(ReadOnlyAdmin):
    list_display = ["user", "stripe_account_id", "transfers_active", "payouts_enabled", "updated"]


class StipendPaymentInline(admin.TabularInline):
    model = StipendPayment
    extra = 0
    fields = ["creator", "amount", "currency", "status", "stripe_transfer_id", "error", "updated"]
    readonly_fields = ["creator", "amount", "currency", "status", "stripe_transfer_id", "error",
                       "updated"]  # fmt: skip
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(StipendRun)
class StipendRunAdmin(ReadOnlyAdmin):
    list_display = ["month", "progress", "needs_attention", "last_report", "started", "last_run"]
    inlines = [StipendPaymentInline]

    def progress(self, obj: StipendRun) -> str:
        p = selectors.stipend_run_progress(obj)
        failed = p["failed"] + p["failed_insufficient_funds"]
        return f"{p['paid']}/{p['total']} paid, {p['processing']} in flight, {failed} failed"

    @admin.display(description="needs attention")
    def needs_attention(self, obj: StipendRun) -> Any:
        count = selectors.stipend_payments_needing_attention().filter(run=obj).count()
        if not count:
            return "-"
        url = reverse("admin:payouts_stipendpayment_changelist")
        return format_html(
            '<a href="{}?attention=yes&amp;month={}">{} to retry</a>', url, obj.month, count
        )

    @admin.display(description="last failure report to staff")
    def last_report(self, obj: StipendRun) -> str:
        entry = (
            AuditEntry.objects.filter(
                subject_type="StipendRun", subject_id=str(obj.pk), action="failures_reported"
            )
            .order_by("-pk")
            .first()
        )
        return f"{entry.created:%Y-%m-%d %H:%M} UTC: {entry.note}" if entry else "-"

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        _warn_attention(self, request)
        return super().changelist_view(request, extra_context)


class NeedsAttentionFilter(admin.SimpleListFilter):
    """`?attention=yes`: the rows a selector says wait for staff (the staff home links here
    with the same count)."""

    title = "needs attention"
    parameter_name = "attention"
    label = "Failed or stuck (retry)"

    def rows(self) -> QuerySet:
        return selectors.stipend_payments_needing_attention()

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", self.label)]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet | None:
        if self.value() == "yes":
            return queryset.filter(pk__in=self.rows().values("pk"))
        return queryset


class RefundNeedsAttentionFilter(NeedsAttentionFilter):
    label = "Failed and not retried, or pending too long"

    def rows(self) -> QuerySet:
        return selectors.charge_refunds_needing_attention()


class TicketRefundNeedsAttentionFilter(NeedsAttentionFilter):
    label = "Refund failed, or requested and stuck"

    def rows(self) -> QuerySet:
        return selectors.tickets_refund_needing_attention()


def _warn_attention(model_admin: admin.ModelAdmin, request: HttpRequest) -> None:
    """The notice staff see on the stipend pages while any row is failed or stuck (on the page
    shown, not on an action's POST: its count would be stale after the action)."""
    if request.method != "GET":
        return
    count = selectors.stipend_payments_needing_attention().count()
    if count:
        url = reverse("admin:payouts_stipendpayment_changelist") + "?attention=yes"
        model_admin.message_user(
            request,
            format_html(
                '{} stipend payment(s) failed or stuck: <a href="{}">review and retry</a>.',
                count,
                url,
            ),
            messages.WARNING,
        )


@admin.register(StipendPayment)
class StipendPaymentAdmin(ReadOnlyAdmin):
    list_display = ["creator", "month", "amount", "currency", "status", "stripe_transfer_id",
                    "key_attempt", "error", "updated"]  # fmt: skip
    list_filter = [NeedsAttentionFilter, "status", "month"]
    actions = ["retry_selected"]
    change_form_template = "admin/payouts/stipendpayment/change_form.html"

    def get_urls(self) -> list[Any]:
        retry = path(
            "<int:pk>/retry/",
            self.admin_site.admin_view(self.retry_view),
            name="payouts_stipendpayment_retry",
        )
        return [retry, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        _warn_attention(self, request)
        return super().changelist_view(request, extra_context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        payment = self.get_object(request, object_id)
        attention = selectors.stipend_payments_needing_attention()
        can_retry = (
            payment is not None
            and self.has_retry_permission(request)
            and attention.filter(pk=payment.pk).exists()
        )
        context = {**(extra_context or {}), "can_retry": can_retry}
        return super().change_view(request, object_id, form_url, context)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        # Rows are read-only here, but retrying moves money: its own permission (Finance).
        return request.user.has_perm("payouts.retry_stipend")

    def _retry(self, request: HttpRequest, payment: StipendPayment, reason: str) -> None:
        staff: Any = request.user
        try:
            ended = services.stipend_retry(payment=payment, actor=staff, reason=reason)
        except ApplicationError as exc:
            self.message_user(request, f"{payment}: {exc.message}", messages.ERROR)
            return
        if ended.status == StipendPayment.Status.PAID:
            self.message_user(request, f"{ended}: paid ({ended.stripe_transfer_id}).")
        else:
            self.message_user(request, f"{ended}: {ended.error}", messages.WARNING)

    def retry_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """From the row's page: the reason and one click (a POST: it moves money)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_retry_permission(request):
            raise PermissionDenied
        payment = get_object_or_404(StipendPayment, pk=pk)
        form = ReasonForm(request.POST)
        if form.is_valid():
            self._retry(request, payment, form.cleaned_data["reason"])
        else:
            self.message_user(request, "Nothing was retried: say why you retry it (the reason "
                              "is recorded in the staff audit).", messages.ERROR)  # fmt: skip
        return redirect("admin:payouts_stipendpayment_change", payment.pk)

    @admin.action(
        description="Retry the selected stipends (failed or stuck)…", permissions=["retry"]
    )
    def retry_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        reason = action_reason(self, request, queryset, action="retry_selected",
                               title="Retry these stipends", button="Retry")  # fmt: skip
        if isinstance(reason, TemplateResponse):
            return reason
        for payment in queryset:
            self._retry(request, payment, reason)
        return None


def _refund_state(charge_id: str) -> str:
    """The latest refund of a charge as staff need it: pending, or failed with the reason."""
    latest = ChargeRefund.objects.filter(stripe_charge_id=charge_id or "-").order_by("-pk").first()
    if latest is None:
        return ""
    reason = f" ({latest.failure_reason})" if latest.status in ChargeRefund.FINAL else ""
    return f"{latest.get_status_display()}{reason}: {latest.amount} {latest.currency}"


@admin.register(ChargeRefund)
class ChargeRefundAdmin(ReadOnlyAdmin):
    """Every refund of every kind of charge: pending until the provider says it succeeded (only
    then is it in the ledger), failed or canceled with the reason (its booking reversed if it
    had succeeded). Staff retry a failed one here, or ask Stripe about a stuck one."""

    list_display = ["stripe_refund_id", "charge_kind", "stripe_charge_id", "amount", "currency",
                    "status", "failure_reason", "booked", "reversed_by", "created", "updated"]  # fmt: skip
    list_filter = [RefundNeedsAttentionFilter, "status", "charge_kind", "currency"]
    search_fields = ["stripe_refund_id", "stripe_charge_id"]
    actions = ["retry", "refresh"]

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return _can_refund(request)

    @admin.action(description="Retry (a new refund of the same amount)…", permissions=["refund"])
    def retry(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        reason = action_reason(self, request, queryset, action="retry",
                               title="Retry these refunds", button="Retry")  # fmt: skip
        if isinstance(reason, TemplateResponse):
            return reason
        for row in queryset:
            try:
                new = charge_refund_retry(refund=row, actor=request.user, reason=reason)
            except ApplicationError as exc:
                self.message_user(request, f"{row}: {exc.message}", messages.ERROR)
                continue
            self.message_user(request, f"{row}: retried as {new}", messages.SUCCESS)
        return None

    @admin.action(description="Ask Stripe where it stands", permissions=["refund"])
    def refresh(self, request: HttpRequest, queryset: QuerySet) -> None:
        for row in queryset:
            try:
                self.message_user(request, str(charge_refund_refresh(refund=row)))
            except ProviderError as exc:
                self.message_user(request, f"{row}: {exc.message}", messages.ERROR)


@admin.register(Tip)
class TipAdmin(ReadOnlyAdmin):
    list_display = ["uuid", "sender", "creator", "amount", "fee", "currency", "status",
                    "refund_state", "created"]  # fmt: skip
    list_filter = ["status", "currency"]
    search_fields = ["uuid", "stripe_payment_intent_id", "stripe_charge_id"]
    actions = ["refund"]

    @admin.display(description="refund")
    def refund_state(self, obj: Tip) -> str:
        return _refund_state(obj.stripe_charge_id)

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return _can_refund(request)

    @admin.action(
        description="Refund to the sender (or retry a failed refund)…", permissions=["refund"]
    )
    def refund(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        reason = action_reason(self, request, queryset, action="refund",
                               title="Refund these tips", button="Refund")  # fmt: skip
        if isinstance(reason, TemplateResponse):
            return reason
        for tip in queryset:
            try:
                tip = services.tip_refund(tip=tip, actor=request.user, reason=reason)  # type: ignore[arg-type]
            except ApplicationError as exc:
                self.message_user(request, f"{tip}: {exc.message}", messages.ERROR)
                continue
            self.message_user(request, f"{tip}: {_refund_state(tip.stripe_charge_id)}")
        return None


@admin.register(Discrepancy)
class DiscrepancyAdmin(PayoutsHistoryAdmin):
    list_display = ["kind", "object_type", "external_id", "ledger_amount", "provider_amount",
                    "ledger_currency", "provider_currency", "detected_at", "resolved",
                    "correction"]  # fmt: skip
    list_filter = ["kind", "object_type", "resolved"]
    readonly_fields = ["kind", "object_type", "external_id", "journal", "ledger_amount",
                       "provider_amount", "ledger_currency", "provider_currency", "detail",
                       "detected_at", "correction", "resolved_by", "resolved_at"]  # fmt: skip
    change_form_template = "admin/payouts/discrepancy/change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_urls(self) -> list[Any]:
        correct = path(
            "<int:pk>/correct/",
            self.admin_site.admin_view(self.correct_view),
            name="payouts_discrepancy_correct",
        )
        return [correct, *super().get_urls()]

    def has_correction_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payouts.post_correction")

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        discrepancy = self.get_object(request, object_id)
        can_correct = (
            discrepancy is not None
            and not discrepancy.resolved
            and self.has_correction_permission(request)
        )
        context = {**(extra_context or {}), "can_correct": can_correct}
        return super().change_view(request, object_id, form_url, context)

    def correct_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Post a correcting journal that resolves this discrepancy (services.correction_post)."""
        if not self.has_correction_permission(request):
            raise PermissionDenied
        discrepancy = get_object_or_404(Discrepancy, pk=pk)
        back = redirect("admin:payouts_discrepancy_change", discrepancy.pk)
        if request.method == "POST":
            form = CorrectionForm(request.POST)
            lines: Any = CorrectionLineFormSet(request.POST, prefix="lines")
            if form.is_valid() and lines.is_valid():
                was_resolved = discrepancy.resolved
                try:
                    journal = services.correction_post(
                        discrepancy=discrepancy,
                        currency=form.cleaned_data["currency"],
                        reason=form.cleaned_data["reason"],
                        lines=lines.lines(),
                        actor=request.user,
                        key=str(form.cleaned_data["key"]),
                    )
                except DiscrepancyResolved as exc:
                    self.message_user(request, exc.message, messages.ERROR)
                    return back
                except ApplicationError as exc:
                    form.add_error(None, exc.message)
                else:
                    if was_resolved:
                        note = f"This correction was already posted as journal #{journal.pk}."
                        self.message_user(request, note, messages.WARNING)
                    else:
                        self.message_user(request, f"Correcting journal #{journal.pk} posted; "
                                          "the discrepancy is resolved.", messages.SUCCESS)  # fmt: skip
                    return back
        elif discrepancy.resolved:
            self.message_user(request, DiscrepancyResolved.default_message, messages.ERROR)
            return back
        else:
            currency = discrepancy.ledger_currency or discrepancy.provider_currency
            form = CorrectionForm(initial={"key": CorrectionForm.new_key(), "currency": currency})
            lines = CorrectionLineFormSet(prefix="lines")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": discrepancy,
            "title": "Post a correcting journal",
            "form": form,
            "lines": lines,
        }
        return TemplateResponse(request, "admin/payouts/discrepancy/correct.html", context)


@admin.register(HandledEvent)
class HandledEventAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "type", "handled_at"]


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["subject_type", "subject_id", "action", "from_status", "to_status", "actor",
                    "reason", "created"]  # fmt: skip
    list_filter = ["subject_type", "action"]


# --- Tickets ----------------------------------------------------------------------------------


@admin.register(TicketPriceModel)
class TicketPriceAdmin(ReadOnlyAdmin):
    list_display = ["id", "event", "room", "creator", "amount", "currency", "updated"]
    search_fields = ["creator__username"]


@admin.register(TicketModel)
class TicketAdmin(ReadOnlyAdmin):
    """Every ticket with its state. A failed refund stays `refund_failed` with the provider's
    message until staff retry it here; nothing is lost."""

    list_display = ["uuid", "target_key", "title", "buyer", "creator", "amount",
                    "application_fee", "currency", "status", "refund_reason", "refund_error",
                    "updated"]  # fmt: skip
    list_filter = [TicketRefundNeedsAttentionFilter, "status", "currency", "refund_reason"]
    search_fields = ["uuid", "target_key", "buyer__username", "creator__username",
                     "stripe_payment_intent_id", "stripe_charge_id", "stripe_refund_id"]  # fmt: skip
    list_select_related = ["buyer", "creator"]
    actions = ["refund"]

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return _can_refund(request)

    @admin.action(
        description="Refund to the buyer (or retry a failed or stuck refund)…",
        permissions=["refund"],
    )
    def refund(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        reason = action_reason(self, request, queryset, action="refund",
                               title="Refund these tickets", button="Refund")  # fmt: skip
        if isinstance(reason, TemplateResponse):
            return reason
        for ticket in queryset:
            try:
                result = ticket_refund(ticket=ticket, actor=request.user, staff_reason=reason)  # type: ignore[arg-type]
            except ApplicationError as exc:
                self.message_user(request, f"{ticket}: {exc.message}", messages.ERROR)
                continue
            level = messages.ERROR if result.status == TicketModel.Status.REFUND_FAILED else None
            self.message_user(request, f"{result}: {result.status} {result.refund_error}".strip(),
                              level or messages.SUCCESS)  # fmt: skip
        return None


# --- paid clubs and creators' payouts ---------------------------------------------------------


@admin.register(ClubPlan)
class ClubPlanAdmin(ReadOnlyAdmin):
    list_display = ["club", "creator", "amount", "currency", "active", "stripe_price_id",
                    "updated"]  # fmt: skip
    list_filter = ["active", "currency"]
    search_fields = ["club__name", "club__slug", "creator__username"]


class MembershipInvoiceInline(admin.TabularInline):
    model = MembershipInvoice
    extra = 0
    fields = ("stripe_invoice_id", "status", "amount", "currency", "application_fee",
              "attempt_count", "period_end", "paid_at")  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ClubSubscription)
class ClubSubscriptionAdmin(ReadOnlyAdmin):
    list_display = ["uuid", "club", "user", "amount", "currency", "status",
                    "cancel_at_period_end", "current_period_end", "created"]  # fmt: skip
    list_filter = ["status", "cancel_at_period_end", "currency"]
    search_fields = ["uuid", "stripe_subscription_id", "club__slug", "user__username"]
    list_select_related = ["club", "user"]
    inlines = [MembershipInvoiceInline]
    actions = ["cancel_at_period_end_action", "refresh_from_provider"]

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payouts.change_clubsubscription")

    @admin.action(description="Cancel at period end", permissions=["cancel"])
    def cancel_at_period_end_action(self, request: HttpRequest, queryset: QuerySet) -> None:
        for sub in queryset:
            try:
                services.club_subscription_cancel(subscription=sub, actor=request.user)  # type: ignore[arg-type]
            except ApplicationError as exc:
                self.message_user(request, f"{sub}: {exc.message}", messages.ERROR)

    @admin.action(
        description="Refresh from Stripe (status, period, access)", permissions=["cancel"]
    )
    def refresh_from_provider(self, request: HttpRequest, queryset: QuerySet) -> None:
        for sub in queryset.exclude(stripe_subscription_id=""):
            try:
                services.club_subscription_sync(
                    subscription_id=sub.stripe_subscription_id,
                    snapshot={"id": sub.stripe_subscription_id},
                )
            except ApplicationError as exc:
                self.message_user(request, f"{sub}: {exc.message}", messages.ERROR)


@admin.register(MembershipInvoice)
class MembershipInvoiceAdmin(ReadOnlyAdmin):
    list_display = ["stripe_invoice_id", "subscription", "status", "amount", "currency",
                    "application_fee", "attempt_count", "paid_at", "refund_state"]  # fmt: skip
    list_filter = ["status", "currency"]
    search_fields = ["stripe_invoice_id", "stripe_charge_id", "stripe_payment_intent_id"]
    actions = ["refund"]

    @admin.display(description="refund")
    def refund_state(self, obj: MembershipInvoice) -> str:
        return _refund_state(obj.stripe_charge_id)

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return _can_refund(request)

    @admin.action(
        description="Refund in full (what is left) to the member…", permissions=["refund"]
    )
    def refund(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        reason = action_reason(self, request, queryset, action="refund",
                               title="Refund these invoices", button="Refund")  # fmt: skip
        if isinstance(reason, TemplateResponse):
            return reason
        for invoice in queryset:
            try:
                membership_invoice_refund(invoice=invoice, actor=request.user, reason=reason)  # type: ignore[arg-type]
            except ApplicationError as exc:
                self.message_user(request, f"{invoice}: {exc.message}", messages.ERROR)
                continue
            self.message_user(request, f"{invoice}: {_refund_state(invoice.stripe_charge_id)}")
        return None


@admin.register(ConnectedPayout)
class ConnectedPayoutAdmin(ReadOnlyAdmin):
    list_display = ["stripe_payout_id", "creator", "amount", "currency", "status",
                    "arrival_date", "failure_code", "created"]  # fmt: skip
    list_filter = ["status", "currency"]
    search_fields = ["stripe_payout_id", "creator__username"]
