"""Back-office forms for money (payouts/admin.py): they parse what staff type; services decide."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from django import forms
from django.utils import timezone

from clubhouse.errors import ApplicationError
from clubhouse.money import Money
from payouts import conf, selectors
from payouts.models import LedgerAccount
from payouts.services import CorrectionLine

PAYABLE = LedgerAccount.Kind.CREATOR_PAYABLE


class TopupBookForm(forms.Form):
    topup_id = forms.RegexField(
        label="Stripe top-up id",
        regex=r"^tu_[A-Za-z0-9]+$",
        max_length=255,
        error_messages={"invalid": "A Stripe top-up id starts with tu_ (e.g. tu_1Nv0…)."},
        widget=forms.TextInput(attrs={"size": 40, "placeholder": "tu_…"}),
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why it is booked by hand (e.g. its topup.succeeded event was lost).",
    )

    def clean_topup_id(self) -> str:
        return str(self.cleaned_data["topup_id"]).strip()

    def clean_reason(self) -> str:
        reason = str(self.cleaned_data["reason"]).strip()
        if not reason:
            raise forms.ValidationError("This field is required.")
        return reason


class CorrectionForm(forms.Form):
    # Generated when the form is shown: a second submission of the same form posts nothing new.
    key = forms.UUIDField(widget=forms.HiddenInput)
    currency = forms.RegexField(
        regex=r"^[A-Za-z]{3}$",
        max_length=3,
        error_messages={"invalid": "A three-letter ISO 4217 code (USD, EUR, JPY…)."},
        widget=forms.TextInput(attrs={"size": 4}),
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why: it becomes the journal's description and the discrepancy's resolution.",
    )

    @staticmethod
    def new_key() -> str:
        return str(uuid.uuid4())

    def clean_currency(self) -> str:
        return str(self.cleaned_data["currency"]).upper()

    def clean_reason(self) -> str:
        reason = str(self.cleaned_data["reason"]).strip()
        if not reason:
            raise forms.ValidationError("This field is required.")
        return reason


class CorrectionLineForm(forms.Form):
    kind = forms.ChoiceField(
        label="account", choices=[("", "---------"), *LedgerAccount.Kind.choices]
    )
    creator = forms.CharField(
        label="creator (username)",
        required=False,
        help_text="Only for creator_payable.",
        widget=forms.TextInput(attrs={"size": 16}),
    )
    amount = forms.IntegerField(
        help_text="Minor units, signed: debit +, credit -.",
        widget=forms.NumberInput(attrs={"style": "width: 10em"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind, username = data.get("kind"), str(data.get("creator") or "").strip()
        if data.get("amount") == 0:
            self.add_error("amount", "An entry is never zero.")
        if kind == PAYABLE:
            if not username:
                self.add_error("creator", "A creator_payable line names its creator.")
            elif (user := selectors.user_by_username(username)) is None:
                self.add_error("creator", f"No member is called {username!r}.")
            else:
                data["creator_user"] = user
        elif kind and username:
            self.add_error("creator", "Only creator_payable lines name a creator.")
        return data

    def line(self) -> CorrectionLine:
        data = self.cleaned_data
        return CorrectionLine(
            kind=data["kind"], amount=int(data["amount"]), creator=data.get("creator_user")
        )


class BaseCorrectionLineFormSet(forms.BaseFormSet):
    def filled(self) -> list[CorrectionLineForm]:
        """The lines staff filled in (blank extra rows are ignored)."""
        return [f for f in self.forms if f.has_changed() and f.cleaned_data]

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        lines = self.filled()
        if len(lines) < 2:
            raise forms.ValidationError("A journal needs at least two lines.")
        total = sum(int(f.cleaned_data["amount"]) for f in lines)
        if total != 0:
            raise forms.ValidationError(
                f"The lines sum to {total:+d}, not zero: a journal must balance."
            )

    def lines(self) -> list[CorrectionLine]:
        return [f.line() for f in self.filled()]


CorrectionLineFormSet = forms.formset_factory(
    CorrectionLineForm,
    formset=BaseCorrectionLineFormSet,
    extra=3,
    min_num=2,
    validate_min=True,
)


# --- creator curation (payouts/admin_creators.py) ---------------------------------------------


class MonthField(forms.DateField):
    """A month as staff pick it (the browser's month picker, or YYYY-MM); its first day."""

    widget = forms.DateInput(attrs={"type": "month"}, format="%Y-%m")
    input_formats = ["%Y-%m", "%Y-%m-%d"]
    default_error_messages = {"invalid": "A month as YYYY-MM (e.g. 2027-01)."}

    def to_python(self, value: Any) -> date | None:
        day = super().to_python(value)
        return day.replace(day=1) if day else None


def _currencies() -> list[tuple[str, str]]:
    return [(c, c) for c in conf.tip_currencies()]


class ProgramTermsForm(forms.Form):
    """The program's terms. The amount is typed in the currency's units (5000.00 USD) and
    handed to the services in minor units; the services check the terms again."""

    send_money_enabled = forms.BooleanField(
        label="Send Money on", required=False, initial=True,
        help_text="Members can send this creator money (tips) once their payout account is connected.",
    )  # fmt: skip
    stipend_amount = forms.DecimalField(
        label="Stipend a month", required=False, max_digits=14, decimal_places=3,
        help_text="In the currency's units (e.g. 5000.00). Leave the months empty for no stipend.",
    )  # fmt: skip
    stipend_currency = forms.ChoiceField(label="Currency", choices=_currencies)
    stipend_start_month = MonthField(label="First month", required=False)
    stipend_end_month = MonthField(
        label="Last month", required=False, help_text="Empty: until staff end it."
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("stipend_start_month"), data.get("stipend_end_month")
        amount, currency = data.get("stipend_amount"), data.get("stipend_currency")
        data["stipend_minor"] = 0
        if start is None:
            if end is not None:
                self.add_error("stipend_end_month", "A last month needs a first month.")
            return data
        if amount is None:
            if "stipend_amount" not in self.errors:
                self.add_error("stipend_amount", "Give the stipend's monthly amount.")
        elif amount <= 0:
            self.add_error("stipend_amount", "A stipend is a positive amount.")
        elif currency:
            try:
                data["stipend_minor"] = Money.from_major(amount, currency).amount
            except ValueError:
                self.add_error("stipend_amount", f"{currency} has fewer decimals than that.")
        if end is not None and end < start:
            self.add_error("stipend_end_month", "The last month cannot be before the first month.")
        return data

    def terms(self) -> dict[str, Any]:
        """The services' keyword arguments."""
        data = self.cleaned_data
        return {
            "send_money_enabled": bool(data.get("send_money_enabled")),
            "stipend_amount": int(data["stipend_minor"]),
            "stipend_currency": data["stipend_currency"],
            "stipend_start_month": data.get("stipend_start_month"),
            "stipend_end_month": data.get("stipend_end_month"),
        }

    def add_service_errors(self, exc: ApplicationError) -> None:
        """A service's refusal, beside the fields it names (or above the form)."""
        named = False
        for field, messages in exc.fields.items():
            if field in self.fields:
                for message in messages:
                    self.add_error(field, message)
                named = True
        if not named:
            self.add_error(None, exc.message)


def _this_month() -> date:
    return timezone.now().date().replace(day=1)


class ApproveForm(ProgramTermsForm):
    note = forms.CharField(
        label="Staff note", required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="For staff only; the applicant never sees it.",
    )  # fmt: skip

    def clean_stipend_start_month(self) -> date | None:
        start: date | None = self.cleaned_data.get("stipend_start_month")
        if start is not None and start < _this_month():
            raise forms.ValidationError(
                f"The first month is this month ({_this_month():%Y-%m}) or later."
            )
        return start


class NominateForm(ApproveForm):
    username = forms.CharField(label="Member (username)", max_length=150)
    field_order = ["username"]

    def clean_username(self) -> Any:
        username = str(self.cleaned_data["username"]).strip().lstrip("@")
        user = selectors.user_by_username(username)
        if user is None or not user.is_active:
            raise forms.ValidationError(f"No active member is called {username!r}.")
        return user


class RejectForm(forms.Form):
    reason = forms.CharField(
        label="Reason (the applicant reads it)",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Shown in their notification and on their application's status.",
    )
    note = forms.CharField(
        label="Staff note", required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="For staff only.",
    )  # fmt: skip

    def clean_reason(self) -> str:
        reason = str(self.cleaned_data["reason"]).strip()
        if not reason:
            raise forms.ValidationError("Give the applicant a reason.")
        return reason


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label="Why", widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Kept in the program's history with your name.",
    )  # fmt: skip

    def clean_reason(self) -> str:
        reason = str(self.cleaned_data["reason"]).strip()
        if not reason:
            raise forms.ValidationError("Say why.")
        return reason


class ProgramChangeForm(ProgramTermsForm):
    reason = ReasonForm.base_fields["reason"]
    clean_reason = ReasonForm.clean_reason
