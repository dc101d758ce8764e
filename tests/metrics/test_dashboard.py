"""The Grafana dashboard in the repo queries only metrics that are exported, and shows them all."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from channels.layers import InMemoryChannelLayer
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families

from media_relay.metrics import relay_metrics_serve
from media_relay.placement import MemoryRegistry
from media_relay.worker import RelayWorker

from .test_relay_metrics import http_get

DASHBOARD = Path(settings.BASE_DIR) / "docs" / "grafana" / "clubhouse.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported_names(text: str) -> set[str]:
    """Every series name an exposition declares (even one with no sample yet), as PromQL sees
    it: counters with `_total`, histograms as their buckets, sum and count."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return {name for name in names if name.startswith("clubhouse_")}


def queried_names(dashboard: dict[str, Any]) -> set[str]:
    names: set[str] = set()

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                names.update(re.findall(r"\bclubhouse_[a-z0-9_]+", target["expr"]))
            walk(panel.get("panels", []))

    walk(dashboard["panels"])
    return names


async def _relay_port_text(token: str) -> str:
    worker = RelayWorker(InMemoryChannelLayer(), worker_id="dash", registry=MemoryRegistry())
    server = await relay_metrics_serve(worker, "127.0.0.1", 0)
    try:
        status, body = await http_get(server.sockets[0].getsockname()[:2], "/metrics", token)
        assert status == 200
        return body
    finally:
        server.close()


@pytest.fixture
def exported(client: Any, metrics_token: str) -> set[str]:
    web = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {metrics_token}")
    assert web.status_code == 200
    return exported_names(web.content.decode()) | exported_names(
        asyncio.run(_relay_port_text(metrics_token))
    )


@pytest.mark.django_db
def test_every_metric_the_dashboard_queries_is_exported(exported: set[str]) -> None:
    queried = queried_names(json.loads(DASHBOARD.read_text()))
    assert queried, "the dashboard queries no clubhouse_ metric"
    assert queried - exported == set()


@pytest.mark.django_db
def test_every_exported_metric_has_a_panel(exported: set[str]) -> None:
    queried = queried_names(json.loads(DASHBOARD.read_text()))
    families = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in exported}
    shown = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in queried}
    assert families - shown == set()


def test_every_panel_reads_the_dashboards_prometheus_data_source() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert {"name": "datasource", "type": "datasource"}.items() <= dashboard["templating"]["list"][
        0
    ].items()
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
