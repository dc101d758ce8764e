"""Rooms' figures on /metrics, computed when it is read (registered at ready())."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily

from rooms.selectors import rooms_live_count


class RoomsCollector:
    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "clubhouse_rooms_live", "Rooms open now (status live).", value=rooms_live_count()
        )


ROOMS_COLLECTOR = RoomsCollector()
