"""The creator program's back office: reviewing an applicant, approving with terms or rejecting
with a reason, appointing a creator who never applied, and changing a program's terms.

Each page shows who the person is (payouts.selectors.creator_applicant_profile: figures from
every app through its selectors) and its history (payouts' audit entries). Every decision and
change is a form whose POST calls one service; nothing here sets a status or a term itself.
Nothing here is ever deleted.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from clubhouse.errors import ApplicationError
from clubhouse.money import Money
from payouts import conf, selectors, services
from payouts.forms import ApproveForm, NominateForm, ProgramChangeForm, ReasonForm, RejectForm
from payouts.models import CreatorApplication, CreatorProgram
from payouts.services.programs import month_after, month_of, program_terms_describe

PENDING = CreatorApplication.Status.PENDING


def _major(amount: int, currency: str) -> str:
    """Minor units as the form's amount field takes them (5000.00)."""
    return str(Money(amount, currency)).split(" ")[0] if amount else ""


class _NoDelete:
    """Money and history are never deleted from the back office: no delete button, no bulk
    delete action (Django drops it when this says no), no delete page."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class _CurationPages(admin.ModelAdmin):
    """What the creator pages share: a form page that shows the person, and their history."""

    def _form_page(
        self, request: HttpRequest, *, title: str, form: Form, submit: str, user: Any,
        original: Any = None, intro: str = "", danger: bool = False,
    ) -> TemplateResponse:  # fmt: skip
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": original,
            "title": title,
            "form": form,
            "submit": submit,
            "intro": intro,
            "danger": danger,
            "applicant": selectors.creator_applicant_profile(user) if user else None,
        }
        return TemplateResponse(request, "admin/payouts/creator_form.html", context)

    def _url(self, name: str, *args: Any) -> str:
        return reverse(f"admin:payouts_{self.model._meta.model_name}_{name}", args=args)


@admin.register(CreatorApplication)
class CreatorApplicationAdmin(_NoDelete, _CurationPages):
    list_display = ["user", "status", "source", "followers", "rooms_hosted_30d",
                    "listeners_reached_30d", "created"]  # fmt: skip
    list_filter = ["status", "source"]
    list_select_related = ["user"]
    fields = ["user", "status", "source", "nominated_by", "pitch", "decision_reason",
              "review_note", "reviewed_by", "reviewed_at", "created"]  # fmt: skip
    readonly_fields = ["user", "status", "source", "nominated_by", "pitch", "decision_reason",
                       "reviewed_by", "reviewed_at", "created"]  # fmt: skip
    actions = ["approve_send_money", "approve_with_stipend"]
    change_form_template = "admin/payouts/creatorapplication/change_form.html"

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/approve/", view(self.approve_view),
                 name="payouts_creatorapplication_approve"),
            path("<int:pk>/reject/", view(self.reject_view),
                 name="payouts_creatorapplication_reject"),
            *super().get_urls(),
        ]  # fmt: skip

    def followers(self, obj: CreatorApplication) -> int:
        return selectors.user_followers_count(obj.user)

    def rooms_hosted_30d(self, obj: CreatorApplication) -> int:
        return selectors.user_rooms_hosted_last_30_days(obj.user)

    def listeners_reached_30d(self, obj: CreatorApplication) -> int:
        return selectors.user_listeners_reached_last_30_days(obj.user)

    def has_review_permission(self, request: HttpRequest) -> bool:
        return self.has_change_permission(request)

    # --- the application's page -----------------------------------------------------------

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        application = self.get_object(request, object_id)
        context = {**(extra_context or {}), "show_save_and_add_another": False}
        if application is not None:
            program = CreatorProgram.objects.filter(user_id=application.user_id).first()
            context.update(
                applicant=selectors.creator_applicant_profile(application.user),
                history=selectors.creator_application_audit(application),
                can_review=application.status == PENDING and self.has_review_permission(request),
                program=program,
            )
        return super().change_view(request, object_id, form_url, context)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # Only staff's note is editable here; decisions go through the Approve/Reject pages.
        CreatorApplication.objects.filter(pk=obj.pk).update(review_note=obj.review_note)

    # --- nominating: "Add" is "make a member a creator" --------------------------------------

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> Any:
        """Staff appoint a member who never applied: the member and the program's terms."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = NominateForm(request.POST or None, initial=self._initial_terms())
        if request.method == "POST" and form.is_valid():
            staff: Any = request.user
            member = form.cleaned_data["username"]
            try:
                program = services.creator_appoint(
                    staff=staff, user=member, note=form.cleaned_data["note"], **form.terms()
                )
            except ApplicationError as exc:
                form.add_service_errors(exc)
            else:
                self.message_user(request, f"{member} is a creator: "
                                  f"{program_terms_describe(program)}.", messages.SUCCESS)  # fmt: skip
                return redirect("admin:payouts_creatorprogram_change", program.pk)
        return self._form_page(
            request, title="Nominate a creator", form=form, submit="Make them a creator",
            user=None, intro="For a member who never applied: they join the program at once "
            "with these terms, and are told so in their notifications.",
        )  # fmt: skip

    @staticmethod
    def _initial_terms() -> dict[str, Any]:
        currency = conf.stipend_default_currency()
        return {
            "send_money_enabled": True,
            "stipend_amount": _major(conf.stipend_default_amount(), currency),
            "stipend_currency": currency,
        }

    # --- the decisions ---------------------------------------------------------------------

    def _decidable(self, request: HttpRequest, pk: int) -> CreatorApplication:
        if not self.has_review_permission(request):
            raise PermissionDenied
        return get_object_or_404(CreatorApplication.objects.select_related("user"), pk=pk)

    @staticmethod
    def _already_decided(application: CreatorApplication) -> str | None:
        if application.status == PENDING:
            return None
        by = f" by {application.reviewed_by}" if application.reviewed_by else ""
        when = (
            f" on {application.reviewed_at:%Y-%m-%d %H:%M} UTC" if application.reviewed_at else ""
        )
        return f"This application was already {application.get_status_display().lower()}{by}{when}."

    def approve_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        application = self._decidable(request, pk)
        initial = {**self._initial_terms(), "stipend_start_month": month_after(month_of())}
        form = ApproveForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            decided = self._already_decided(application)
            if decided:
                form.add_error(None, decided)
            else:
                reviewer: Any = request.user
                try:
                    program = services.creator_application_approve(
                        application=application, reviewer=reviewer,
                        note=form.cleaned_data["note"], **form.terms(),
                    )  # fmt: skip
                except ApplicationError as exc:
                    form.add_service_errors(exc)
                else:
                    self.message_user(request, f"{application.user} is a creator: "
                                      f"{program_terms_describe(program)}.", messages.SUCCESS)  # fmt: skip
                    return redirect("admin:payouts_creatorapplication_change", application.pk)
        elif request.method != "POST" and (decided := self._already_decided(application)):
            self.message_user(request, decided, messages.ERROR)
            return redirect("admin:payouts_creatorapplication_change", application.pk)
        return self._form_page(
            request, title=f"Approve {application.user}", form=form, submit="Approve",
            user=application.user, original=application,
            intro="They join the creator program with these terms and are told so.",
        )  # fmt: skip

    def reject_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        application = self._decidable(request, pk)
        form = RejectForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            decided = self._already_decided(application)
            if decided:
                form.add_error(None, decided)
            else:
                reviewer: Any = request.user
                try:
                    services.creator_application_reject(
                        application=application, reviewer=reviewer,
                        reason=form.cleaned_data["reason"], note=form.cleaned_data["note"],
                    )  # fmt: skip
                except ApplicationError as exc:
                    form.add_error("reason" if "reason" in exc.fields else None, exc.message)
                else:
                    self.message_user(request, f"{application.user}'s application is rejected; "
                                      "they are told why.", messages.SUCCESS)  # fmt: skip
                    return redirect("admin:payouts_creatorapplication_change", application.pk)
        elif request.method != "POST" and (decided := self._already_decided(application)):
            self.message_user(request, decided, messages.ERROR)
            return redirect("admin:payouts_creatorapplication_change", application.pk)
        return self._form_page(
            request, title=f"Reject {application.user}", form=form, submit="Reject",
            user=application.user, original=application, danger=True,
            intro="They may apply again later.",
        )  # fmt: skip

    # --- bulk approvals (the list) ---------------------------------------------------------

    def _each(self, request: HttpRequest, queryset: QuerySet, fn: Any) -> None:
        for application in queryset:
            try:
                fn(application)
            except ApplicationError as exc:
                self.message_user(request, f"{application}: {exc.message}", messages.ERROR)

    @admin.action(description="Approve: Send Money only (note from the review note)",
                  permissions=["review"])  # fmt: skip
    def approve_send_money(self, request: HttpRequest, queryset: QuerySet) -> None:
        reviewer: Any = request.user
        self._each(request, queryset, lambda a: services.creator_application_approve(
            application=a, reviewer=reviewer, note=a.review_note))  # fmt: skip

    @admin.action(description="Approve: Send Money + default stipend for 3 months from next month",
                  permissions=["review"])  # fmt: skip
    def approve_with_stipend(self, request: HttpRequest, queryset: QuerySet) -> None:
        reviewer: Any = request.user
        start = month_after(month_of())
        end = month_after(month_after(start))
        self._each(request, queryset, lambda a: services.creator_application_approve(
            application=a, reviewer=reviewer, note=a.review_note,
            stipend_start_month=start, stipend_end_month=end))  # fmt: skip


@admin.register(CreatorProgram)
class CreatorProgramAdmin(_NoDelete, _CurationPages):
    list_display = ["user", "send_money_enabled", "creator_send_money_on", "stipend_amount",
                    "stipend_currency", "stipend_start_month", "stipend_end_month",
                    "stipend_paused_from", "stipend_next_from", "active"]  # fmt: skip
    # creator_send_money_on is the creator's own switch (their settings page); staff's is
    # send_money_enabled, which forces it off.
    list_filter = ["send_money_enabled", "creator_send_money_on", "active"]
    list_select_related = ["user"]
    change_form_template = "admin/payouts/creatorprogram/change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # programs come from approvals and nominations

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Terms change through the pages below (each audited, effective next month).
        return [f.name for f in self.model._meta.fields]

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/terms/", view(self.terms_view), name="payouts_creatorprogram_terms"),
            path("<int:pk>/pause/", view(self.pause_view), name="payouts_creatorprogram_pause"),
            path("<int:pk>/resume/", view(self.resume_view), name="payouts_creatorprogram_resume"),
            path("<int:pk>/end/", view(self.end_view), name="payouts_creatorprogram_end"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        program = self.get_object(request, object_id)
        context = {**(extra_context or {}), "show_save": False,
                   "show_save_and_continue": False, "show_save_and_add_another": False}  # fmt: skip
        if program is not None:
            this = month_of()
            nxt = month_after(this)
            context.update(
                applicant=selectors.creator_applicant_profile(program.user),
                history=selectors.creator_program_audit(program),
                terms=program_terms_describe(program),
                this_month=(this, _stipend_text(program, this)),
                next_month=(nxt, _stipend_text(program, nxt)),
                can_manage=program.active and self.has_change_permission(request, program),
            )
        return super().change_view(request, object_id, form_url, context)

    def _managed(self, request: HttpRequest, pk: int) -> CreatorProgram:
        program = get_object_or_404(CreatorProgram.objects.select_related("user"), pk=pk)
        if not self.has_change_permission(request, program):
            raise PermissionDenied
        return program

    def terms_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        program = self._managed(request, pk)
        p = program
        currency = p.stipend_next_currency if p.stipend_next_from else p.stipend_currency
        amount = (p.stipend_next_amount or 0) if p.stipend_next_from else p.stipend_amount
        initial = {
            "send_money_enabled": p.send_money_enabled,
            "stipend_amount": _major(amount, currency),
            "stipend_currency": currency,
            "stipend_start_month": p.stipend_start_month,
            "stipend_end_month": p.stipend_end_month,
        }
        form = ProgramChangeForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            actor: Any = request.user
            try:
                program = services.creator_program_terms_change(
                    program=program, actor=actor, reason=form.cleaned_data["reason"],
                    **form.terms(),
                )  # fmt: skip
            except ApplicationError as exc:
                form.add_service_errors(exc)
            else:
                self.message_user(request, f"New terms: {program_terms_describe(program)}.",
                                  messages.SUCCESS)  # fmt: skip
                return redirect("admin:payouts_creatorprogram_change", program.pk)
        return self._form_page(
            request, title=f"Change {program.user}'s terms", form=form, submit="Save the new terms",
            user=program.user, original=program,
            intro=f"Now: {program_terms_describe(program)}. A new amount or currency applies from "
            "next month; this month is paid as agreed. Send Money on or off applies at once.",
        )  # fmt: skip

    def _reason_action(
        self, request: HttpRequest, pk: int, *, service: Any, title: str, submit: str,
        intro: str, done: str, danger: bool = False,
    ) -> HttpResponse:  # fmt: skip
        program = self._managed(request, pk)
        form = ReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            actor: Any = request.user
            try:
                program = service(program=program, actor=actor, reason=form.cleaned_data["reason"])
            except ApplicationError as exc:
                form.add_error("reason" if "reason" in exc.fields else None, exc.message)
            else:
                self.message_user(request, f"{done} Now: {program_terms_describe(program)}.",
                                  messages.SUCCESS)  # fmt: skip
                return redirect("admin:payouts_creatorprogram_change", program.pk)
        return self._form_page(request, title=f"{title}: {program.user}", form=form,
                               submit=submit, user=program.user, original=program,
                               intro=intro, danger=danger)  # fmt: skip

    def pause_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        nxt = month_after(month_of())
        return self._reason_action(
            request, pk, service=services.creator_program_stipend_pause, title="Pause the stipend",
            submit="Pause from next month", done="Stipend paused from next month.",
            intro=f"No stipend from {nxt:%Y-%m} until resumed; this month is paid as agreed.",
        )  # fmt: skip

    def resume_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        nxt = month_after(month_of())
        return self._reason_action(
            request, pk, service=services.creator_program_stipend_resume,
            title="Resume the stipend", submit="Resume from next month",
            done="Stipend resumes next month.", intro=f"The stipend is paid again from {nxt:%Y-%m}.",
        )  # fmt: skip

    def end_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        this = month_of()
        return self._reason_action(
            request, pk, service=services.creator_program_stipend_end, title="End the stipend",
            submit="End after this month", done="Stipend ended.", danger=True,
            intro=f"{this:%Y-%m} is the last month paid (a stipend that has not begun is called "
            "off). Send Money and the program stay.",
        )  # fmt: skip


def _stipend_text(program: CreatorProgram, month: date) -> str:
    due = selectors.program_stipend_for_month(program, month)
    return str(Money(*due)) if due else "no stipend"
