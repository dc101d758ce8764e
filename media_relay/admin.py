"""Staff back office for the relay: a read-only page of every worker's live figures.

The same figures as `/healthz` (`media_relay.health.relay_health`, read from the placement
registry that each worker's heartbeat writes): rooms, peers, packets in/out, drops, CPU and RSS,
and how members' audio connects (per candidate type: connected by it, and failed offering it).
Nothing here is stored or editable; the model behind the entry has no table."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from media_relay.candidates import ICE_CANDIDATE_TYPES, ICE_PATH_TYPES
from media_relay.health import relay_health
from media_relay.models import RelayWorker

_COUNTERS = ("rooms", "peers", "packets_in", "packets_out", "drops", "send_skipped")


def _worker_row(worker: dict[str, Any]) -> dict[str, Any]:
    rss = worker.get("rss_bytes")
    return {
        "worker_id": str(worker.get("worker_id", "?")),
        "alive": bool(worker.get("alive")),
        "heartbeat_age_s": worker.get("heartbeat_age_s"),
        "pid": worker.get("pid"),
        **{key: int(worker.get(key, 0) or 0) for key in _COUNTERS},
        "cpu_percent": worker.get("cpu_percent"),
        "cpu_s": worker.get("cpu_s"),
        "rss_mb": None if rss is None else round(int(rss) / 1e6, 1),
    }


@admin.register(RelayWorker)
class RelayWorkerAdmin(admin.ModelAdmin):
    """One page, no objects: every staff member may look; nobody may add, change or delete."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

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
        error = None
        try:
            health: dict[str, Any] = relay_health()
        except Exception as exc:  # noqa: BLE001 - the page reports an unreachable registry, no 500
            health, error = {"workers": []}, f"{type(exc).__name__}: {exc}"
        workers = [_worker_row(w) for w in health.get("workers", [])]
        alive = [w for w in workers if w["alive"]]
        totals = {key: sum(w[key] for w in alive) for key in _COUNTERS}
        paths = [
            {"kind": kind, "connected": int(health.get(f"ice_connected_{kind}", 0) or 0),
             "failed": int(health.get(f"ice_failed_{kind}", 0) or 0)}
            for kind in dict.fromkeys([*ICE_PATH_TYPES, *ICE_CANDIDATE_TYPES])
        ]  # fmt: skip
        context = {
            **self.admin_site.each_context(request),
            "title": "Relay workers",
            "opts": self.opts,
            "state": health.get("state", "unknown"),
            "error": error,
            "workers": workers,
            "alive_count": len(alive),
            "totals": totals,
            "paths": paths,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/media_relay/relay_workers.html", context)
