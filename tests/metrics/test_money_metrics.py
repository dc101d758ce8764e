"""Money on /metrics: a stipend run's progress and failures, open discrepancies and webhook lag,
each made through the services that make them in production."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from django.test import Client

from payouts import services
from payouts.models import StipendPayment
from payouts.provider import get_provider
from payouts.provider.standin import STANDIN
from payouts.reconciliation import reconcile
from tests.payouts.conftest import fund, make_creator, make_user, post_event

from .conftest import sample_value, scrape

pytestmark = pytest.mark.django_db
FEB = date(2026, 2, 1)


@pytest.fixture(autouse=True)
def _fresh_standin() -> Iterator[None]:
    """The Stripe stand-in is one per process: each test starts from an empty one."""
    STANDIN.reset()
    yield
    STANDIN.reset()


def _lose_transfers_capability(creator: Any) -> None:
    """Stripe restricts the account: transfers to it are refused (tests/payouts'
    test_stipend_failures.py does the same)."""
    account_id = creator.connected_account.stripe_account_id
    with STANDIN._lock:
        STANDIN.get("accounts", account_id)["capabilities"]["transfers"] = "inactive"


def test_a_stipend_run_shows_its_rows_by_status_and_a_refused_row_as_failed(
    client: Any, metrics_token: str
) -> None:
    before = scrape(client, metrics_token)
    assert sample_value(before, "clubhouse_stipend_payments_failed") == 0
    fund()
    paid, refused = make_creator(stipend=True), make_creator(stipend=True)
    _lose_transfers_capability(refused)

    services.stipend_run_month(month=FEB)

    after = scrape(client, metrics_token)
    rows = {
        status: sample_value(
            after, "clubhouse_stipend_run_payments", month="2026-02", status=status
        )
        for status in StipendPayment.Status.values
    }
    assert rows["paid"] == StipendPayment.objects.filter(creator=paid, status="paid").count() == 1
    assert rows["failed"] == 1
    assert sum(rows.values()) == 2
    assert sample_value(after, "clubhouse_stipend_payments_failed") == 1


def test_an_open_discrepancy_is_counted_by_kind(client: Any, metrics_token: str) -> None:
    kind = {"kind": "missing_in_ledger"}
    before = sample_value(
        scrape(client, metrics_token), "clubhouse_payouts_discrepancies_open", **kind
    )
    fund()
    creator = make_creator()
    get_provider().transfer_create(
        amount=100, currency="usd", destination=creator.connected_account.stripe_account_id,
        transfer_group="manual", metadata={}, idempotency_key="metrics-manual",
    )  # fmt: skip
    reconcile()  # a transfer at Stripe the ledger does not know
    after = sample_value(
        scrape(client, metrics_token), "clubhouse_payouts_discrepancies_open", **kind
    )
    assert after == before + 1


def test_a_webhook_whose_handling_failed_shows_as_lag_until_a_redelivery_succeeds(
    metrics_token: str, webhook_endpoint: Any
) -> None:
    client = Client(raise_request_exception=False)
    families = scrape(client, metrics_token)
    assert sample_value(families, "clubhouse_payouts_webhook_events_unprocessed") == 0
    assert sample_value(families, "clubhouse_payouts_webhook_lag_seconds") == 0

    creator = make_creator(active=False)
    account = services.connected_account_ensure(user=creator)
    event = STANDIN.account_activate(account.stripe_account_id)
    broken = copy.deepcopy(event)
    broken["data"]["object"] = ["not", "an", "account"]  # our handler cannot apply this
    assert post_event(client, webhook_endpoint, broken).status_code == 500

    stuck = scrape(client, metrics_token)
    assert sample_value(stuck, "clubhouse_payouts_webhook_events_unprocessed") == 1
    assert sample_value(stuck, "clubhouse_payouts_webhook_lag_seconds") > 0

    assert post_event(client, webhook_endpoint, event).status_code == 200  # Stripe retries
    done = scrape(client, metrics_token)
    assert sample_value(done, "clubhouse_payouts_webhook_events_unprocessed") == 0
    assert sample_value(done, "clubhouse_payouts_webhook_lag_seconds") == 0


@pytest.fixture
def webhook_endpoint(db: None) -> Any:
    from payouts.setup import standin_webhook_endpoint

    return standin_webhook_endpoint()


def test_money_gauges_need_no_staff_login(client: Any, metrics_token: str) -> None:
    make_user()  # anyone may exist; the token alone opens /metrics
    families = scrape(client, metrics_token)
    assert "clubhouse_payouts_webhook_lag_seconds" in families
