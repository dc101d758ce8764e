"""The admin site: the staff home as its index, and the grouped menu on every page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse

from clubhouse.admin.cards import staff_home_cards
from clubhouse.admin.menu import menu_groups


class StaffAdminSite(admin.AdminSite):
    site_title = "Clubhouse staff"
    site_header = "Clubhouse staff"
    index_title = "Staff home"
    index_template = "admin/staff_home.html"

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[Any]:
        # One app's page (/admin/<app>/) keeps Django's list of that app's models; the index and
        # every page's sidebar get the groups.
        if app_label is not None:
            return super().get_app_list(request, app_label)
        models = [
            model for app in self._build_app_dict(request).values() for model in app["models"]
        ]
        return menu_groups(models, superuser=bool(request.user.is_superuser))

    def index(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> TemplateResponse:
        cards = staff_home_cards(self, request)
        return super().index(request, {"cards": cards, **(extra_context or {})})
