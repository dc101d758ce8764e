"""The staff audit list: every staff action the apps recorded, merged, newest first, filtered
by staff member, action and date. Each app's selectors say what its staff did (payouts'
AuditEntry, clubs' ClubAuditEntry, accounts' AccountEvent, report resolutions, invitation
grants, and the admin's own LogEntry); this page only merges and links."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse

from accounts import selectors as account_selectors
from clubhouse.audit import StaffAction, StaffActionFilter
from clubs import selectors as club_selectors
from payouts import selectors as payout_selectors
from rooms import selectors as room_selectors

LIMIT = 200


def _action_choices() -> list[tuple[str, str]]:
    names = {
        *account_selectors.STAFF_ACTION_NAMES,
        *club_selectors.staff_action_names(),
        *payout_selectors.staff_action_names(),
        *room_selectors.STAFF_ACTION_NAMES,
    }
    return [("", "Any action"), *((name, name) for name in sorted(names))]


class StaffAuditFilterForm(forms.Form):
    actor = forms.ModelChoiceField(
        queryset=account_selectors.staff_members(), required=False, label="Staff member",
        empty_label="Anyone",
    )  # fmt: skip
    action = forms.ChoiceField(required=False, label="Action")
    since = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = _action_choices()  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError("The start date is after the end date.")
        return data


def _admin_url(row: StaffAction) -> str:
    if not (row.app_label and row.model and row.object_id):
        return ""
    try:
        return reverse(f"admin:{row.app_label}_{row.model}_change", args=[row.object_id])
    except NoReverseMatch:
        return ""


def staff_actions_merged(wanted: StaffActionFilter) -> list[StaffAction]:
    found = [
        *account_selectors.staff_actions(wanted),
        *club_selectors.staff_actions(wanted),
        *payout_selectors.staff_actions(wanted),
        *room_selectors.staff_actions(wanted),
    ]
    return sorted(found, key=lambda a: a.when, reverse=True)[: wanted.limit]


def staff_audit_view(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("accounts.view_staff_audit"):
        raise PermissionDenied
    form = StaffAuditFilterForm(request.GET or None)
    rows: list[StaffAction] = []
    if not form.is_bound or form.is_valid():
        data = form.cleaned_data if form.is_bound else {}
        actor = data.get("actor")
        wanted = StaffActionFilter(
            actor_id=actor.pk if actor else None,
            action=data.get("action") or "",
            since=data.get("since"),
            until=data.get("until"),
            limit=LIMIT,
        )
        rows = staff_actions_merged(wanted)
    context = {
        **admin.site.each_context(request),
        "title": "Staff audit",
        "form": form,
        "rows": [(row, _admin_url(row)) for row in rows],
        "limit": LIMIT,
    }
    return TemplateResponse(request, "admin/staff_audit.html", context)
