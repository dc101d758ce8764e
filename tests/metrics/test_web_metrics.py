"""The web tier's /metrics: who may read it, and requests counted by view and status."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import sample_value, scrape

pytestmark = pytest.mark.django_db


def test_without_a_token_configured_metrics_is_not_found(client: Any, settings: Any) -> None:
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_metrics_without_the_bearer_token_is_refused(client: Any, metrics_token: str) -> None:
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {metrics_token}x")
    assert wrong.status_code == 401
    assert wrong["WWW-Authenticate"].startswith("Bearer")
    basic = client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {metrics_token}")
    assert basic.status_code == 401
    assert b"clubhouse_" not in wrong.content


def test_metrics_with_the_bearer_token_answers_in_prometheus_text(
    client: Any, metrics_token: str
) -> None:
    families = scrape(client, metrics_token)
    assert "clubhouse_http_requests" in families
    assert "clubhouse_websockets_open" in families


def test_a_request_is_counted_under_its_view_name_and_status(
    client: Any, metrics_token: str
) -> None:
    before = scrape(client, metrics_token)
    key = {"view": "livez", "method": "GET", "status": "200"}
    assert client.get("/livez").status_code == 200
    after = scrape(client, metrics_token)
    counted = sample_value(after, "clubhouse_http_requests_total", **key)
    assert counted == sample_value(before, "clubhouse_http_requests_total", **key) + 1


def test_a_path_with_an_id_is_counted_under_the_view_never_the_path(
    client: Any, metrics_token: str
) -> None:
    client.get("/api/v1/rooms/987654321/")
    families = scrape(client, metrics_token)
    labels = [s.labels for s in families["clubhouse_http_requests"]]
    assert not any("987654321" in value for one in labels for value in one.values())
    assert any(one["view"].startswith("api:room") for one in labels), labels


def test_a_path_no_view_has_is_counted_as_unresolved_with_its_404(
    client: Any, metrics_token: str
) -> None:
    key = {"view": "unresolved", "method": "GET", "status": "404"}
    before = sample_value(scrape(client, metrics_token), "clubhouse_http_requests_total", **key)
    assert client.get("/no-such-page-here/").status_code == 404
    after = sample_value(scrape(client, metrics_token), "clubhouse_http_requests_total", **key)
    assert after == before + 1


class _Broken:
    def collect(self) -> Any:
        raise RuntimeError("the database went away")


def test_a_failing_collector_shows_as_down_and_the_rest_is_still_answered(
    client: Any, metrics_token: str
) -> None:
    from clubhouse import metrics

    broken = _Broken()
    metrics.scrape_collector_register(broken)
    try:
        families = scrape(client, metrics_token)
    finally:
        metrics._scrape_collectors.remove(broken)
    assert sample_value(families, "clubhouse_metrics_collector_up", collector="_Broken") == 0
    assert sample_value(families, "clubhouse_metrics_collector_up", collector="MoneyCollector") == 1
    assert "clubhouse_rooms_live" in families
    assert "clubhouse_http_requests" in families
