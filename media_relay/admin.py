"""Staff back office for the relay: a read-only page of every worker's live figures.

The same figures as `/healthz` (`media_relay.selectors.relay_workers_load`, read from the
placement registry that each worker's heartbeat writes): rooms, peers, packets in/out, drops, CPU and
RSS, and how members' audio connects (per candidate type: connected by it, failed offering it).
Nothing here is stored or editable; the model behind the entry has no table."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from media_relay.models import RelayWorker
from media_relay.selectors import relay_workers_load


@admin.register(RelayWorker)
class RelayWorkerAdmin(admin.ModelAdmin):
    """One page, no objects: whoever holds `media_relay.view_relayworker` (superusers, the
    on-call engineers) may look; nobody may add, change or delete."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        return [path("", self.admin_site.admin_view(self.changelist_view), name=name)]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        load = relay_workers_load()
        context = {
            **self.admin_site.each_context(request),
            "title": "Relay workers",
            "opts": self.opts,
            **load,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/media_relay/relay_workers.html", context)
