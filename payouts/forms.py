"""Back-office forms for money (payouts/admin.py): they parse what staff type; services decide."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms

from payouts import selectors
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
