"""Pieces every app's admin shares: asking staff why before an action that matters, and the
history panel on an object's page. Imports no app: each admin says where its history is."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from clubhouse.audit import StaffAction


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why you are doing this. It is recorded with your name in the staff audit.",
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why: a reason is required.")
        return str(reason)


def action_reason(
    model_admin: admin.ModelAdmin[Any],
    request: HttpRequest,
    queryset: QuerySet[Any],
    *,
    action: str,
    title: str,
    button: str,
) -> str | TemplateResponse:
    """An admin action that moves money or locks someone out asks why first. Chosen from the
    list, it answers with a page asking for the reason (the selected rows kept); that page's
    POST comes back here with the reason, which is returned. Without one the page is shown
    again with the error."""
    if "apply" in request.POST:
        form = ReasonForm(request.POST)
        if form.is_valid():
            return str(form.cleaned_data["reason"])
    else:
        form = ReasonForm()
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "button": button,
        "form": form,
        "queryset": queryset,
        "action": action,
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
        "opts": model_admin.model._meta,
    }
    return TemplateResponse(request, "admin/staff_reason.html", context)


class StaffHistoryAdmin(admin.ModelAdmin):
    """Shows the object's history (who, what, when, why) under its form: `staff_history`
    gathers it from the apps' selectors."""

    def staff_history(self, obj: Any) -> Iterable[StaffAction]:
        return []

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        obj = self.get_object(request, unquote(object_id))
        history = sorted(self.staff_history(obj), key=lambda a: a.when, reverse=True) if obj else []
        context = {**(extra_context or {}), "staff_history": history}
        return super().change_view(request, object_id, form_url, context)


class ActionsNotEditsAdmin(admin.ModelAdmin):
    """A role holds the model's change permission to run the list's actions (Trust & safety
    ends a room, gives a club its badge, resolves a report), not to rewrite the row: for
    anyone but a superuser the object's page is read-only (no Save), so a title, a report's
    text or a club's rules cannot be changed from the back office by a role. The actions stay
    (Django asks `has_change_permission` without an object for them)."""

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)
