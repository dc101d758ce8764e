"""Reading /metrics as Prometheus does: with the bearer token, parsed by prometheus_client."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families


@pytest.fixture
def metrics_token(settings: Any) -> str:
    settings.METRICS_TOKEN = secrets.token_urlsafe(24)
    return str(settings.METRICS_TOKEN)


def parse(text: str) -> dict[str, list[Any]]:
    """Samples by metric family name (counters under their name without `_total`)."""
    families: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        families.setdefault(family.name, []).extend(family.samples)
    return families


def sample_value(families: dict[str, list[Any]], name: str, **labels: str) -> float:
    """The value of the one sample `name` with these labels (0 when there is none)."""
    for samples in families.values():
        for sample in samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def scrape(client: Any, token: str) -> dict[str, list[Any]]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return parse(response.content.decode())
