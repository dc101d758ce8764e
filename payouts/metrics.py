"""Money on /metrics, computed when it is read through payouts' selectors (registered at
ready(); docs/operations.md "Metrics")."""

from __future__ import annotations

from collections.abc import Iterator

from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from payouts import selectors
from payouts.models import StipendPayment


class MoneyCollector:
    def collect(self) -> Iterator[GaugeMetricFamily]:
        progress = GaugeMetricFamily(
            "clubhouse_stipend_run_payments",
            "The latest stipend run's rows by status (its month in `month`).",
            labels=["month", "status"],
        )
        latest = selectors.stipend_run_latest_progress()
        if latest is not None:
            month, counts = latest
            for status in StipendPayment.Status.values:
                progress.add_metric([f"{month:%Y-%m}", status], counts.get(status, 0))
        yield progress
        yield GaugeMetricFamily(
            "clubhouse_stipend_payments_failed",
            "Stipend rows of any month that failed and wait for staff.",
            value=selectors.stipend_payments_failed_count(),
        )
        discrepancies = GaugeMetricFamily(
            "clubhouse_payouts_discrepancies_open",
            "Reconciliation discrepancies staff have not resolved, by kind.",
            labels=["kind"],
        )
        for kind, count in selectors.discrepancies_open_by_kind().items():
            discrepancies.add_metric([kind], count)
        yield discrepancies
        unprocessed = selectors.webhook_events_unprocessed()
        yield GaugeMetricFamily(
            "clubhouse_payouts_webhook_events_unprocessed",
            "Stored Stripe webhook deliveries whose handling failed and is not yet redone.",
            value=len(unprocessed),
        )
        lag = (timezone.now() - unprocessed[0]).total_seconds() if unprocessed else 0.0
        yield GaugeMetricFamily(
            "clubhouse_payouts_webhook_lag_seconds",
            "Age of the oldest unprocessed stored Stripe webhook delivery (0 when none).",
            value=max(0.0, lag),
        )


MONEY_COLLECTOR = MoneyCollector()
