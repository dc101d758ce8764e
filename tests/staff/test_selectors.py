"""The selectors behind the staff home: what counts as waiting for a person, per app."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Report
from accounts.selectors import reports_waiting
from clubs.models import ClubReport
from clubs.selectors import club_reports_waiting
from media_relay import selectors as relay_selectors
from payouts import selectors, services
from payouts.models import ChargeRefund, Discrepancy, Ticket
from payouts.provider.standin import STANDIN
from tests.clubs.factories import ClubFactory
from tests.factories import ReportFactory, UserFactory
from tests.payouts.conftest import fund, make_creator, post_event

from .world import creator_with_stipend, this_month

pytestmark = pytest.mark.django_db


def test_reports_wait_while_open() -> None:
    ReportFactory(), ReportFactory()
    ReportFactory(status=Report.Status.RESOLVED)
    waiting = reports_waiting()
    assert waiting.count == 2
    assert waiting.filters == {"status__exact": "open"}


def test_a_ban_resolves_the_reports_it_answers() -> None:
    report = ReportFactory()
    account_services.user_ban(user=report.reported, staff=UserFactory(is_staff=True))
    assert reports_waiting().count == 0


def test_club_reports_wait_until_actioned_or_dismissed() -> None:
    club = ClubFactory()
    for status in ("open", "actioned", "dismissed"):
        ClubReport.objects.create(club=club, reporter=UserFactory(), reason="spam", status=status)
    assert club_reports_waiting().count == 1


def test_applications_wait_until_a_curator_decides() -> None:
    staff = UserFactory(is_staff=True)
    waiting = services.creator_apply(user=UserFactory())
    services.creator_nominate(staff=staff, user=UserFactory())  # staff nominations wait too
    decided = services.creator_apply(user=UserFactory())
    services.creator_application_reject(application=decided, reviewer=staff, reason="Not yet.")
    assert selectors.creator_applications_waiting().count == 2
    services.creator_application_approve(application=waiting, reviewer=staff)
    assert selectors.creator_applications_waiting().count == 1


def test_discrepancies_wait_until_resolved() -> None:
    for n, resolved in enumerate((False, False, True)):
        Discrepancy.objects.create(kind="amount_mismatch", object_type="transfer",
                                   external_id=f"tr_{n}", resolved=resolved)  # fmt: skip
    assert selectors.discrepancies_waiting().count == 2


def test_a_month_without_a_run_is_not_started() -> None:
    summary = selectors.stipend_run_summary(this_month())
    assert summary["started"] is False
    assert summary["failed"].count == summary["paid"].count == 0
    assert summary["failures"] == []


def test_a_months_run_counts_rows_by_state_and_names_each_failure() -> None:
    month = this_month()
    fund()
    creator_with_stipend(month, username="paid_one")
    refused = creator_with_stipend(month, username="refused_one", refused=True)
    services.stipend_run_month(month=month)
    summary = selectors.stipend_run_summary(month)
    assert summary["started"] is True
    assert (summary["paid"].count, summary["failed"].count, summary["total"].count) == (1, 1, 2)
    assert summary["processing"].count == summary["pending"].count == 0
    [failure] = summary["failures"]
    payment = refused.stipend_payments.get()
    assert failure["username"] == "refused_one"
    assert failure["name"] == "Refused One"
    assert failure["reason"] == payment.error != ""
    assert summary["failed"].filters == {
        "month": month.isoformat(),
        "status__in": "failed,failed_insufficient_funds",
    }


def test_an_unfunded_run_fails_every_row_and_lists_them_capped() -> None:
    month = this_month()
    for n in range(3):
        creator_with_stipend(month, username=f"broke_{n}")
    services.stipend_run_month(month=month)  # no platform balance: insufficient funds
    summary = selectors.stipend_run_summary(month, failures_shown=2)
    assert summary["failed"].count == 3
    assert [f["username"] for f in summary["failures"]] == ["broke_0", "broke_1"]
    assert summary["failures_more"] == 1
    assert selectors.stipend_payments_waiting().count == 3


def _refund(charge: str, status: str, n: int, *, age: timedelta = timedelta(0)) -> ChargeRefund:
    row = ChargeRefund.objects.create(stripe_refund_id=f"re_{n}", stripe_charge_id=charge,
                                      charge_kind="tip", amount=100, currency="USD",
                                      status=status)  # fmt: skip
    ChargeRefund.objects.filter(pk=row.pk).update(created=timezone.now() - age)
    return row


def test_a_failed_refund_waits_until_retried() -> None:
    failed = _refund("ch_1", "failed", 1)
    canceled = _refund("ch_2", "canceled", 2)
    assert set(selectors.charge_refunds_needing_attention()) == {failed, canceled}
    _refund("ch_1", "pending", 3)  # the retry: a new refund of the same charge
    assert set(selectors.charge_refunds_needing_attention()) == {canceled}


def test_a_pending_refund_waits_only_once_it_is_older_than_the_limit(settings: Any) -> None:
    settings.PAYOUTS_REFUND_STUCK_AFTER = 3600
    _refund("ch_1", "pending", 1, age=timedelta(minutes=5))
    old = _refund("ch_2", "pending", 2, age=timedelta(hours=2))
    _refund("ch_3", "succeeded", 3, age=timedelta(days=3))
    assert list(selectors.charge_refunds_needing_attention()) == [old]
    assert selectors.refunds_waiting()["charge_refunds"].count == 1


def test_tickets_wait_when_their_refund_failed_or_stuck(settings: Any) -> None:
    settings.PAYOUTS_TICKET_REFUND_RETRY_AFTER = 60
    seller = UserFactory()

    def ticket(status: str, age: timedelta) -> Ticket:
        row = Ticket.objects.create(buyer=UserFactory(), creator=seller, target_key="room:1",
                                    amount=1000, application_fee=100, currency="USD",
                                    destination_account_id="acct_x", status=status)  # fmt: skip
        Ticket.objects.filter(pk=row.pk).update(updated=timezone.now() - age)
        return row

    failed = ticket("refund_failed", timedelta(0))
    stuck = ticket("refund_pending", timedelta(minutes=10))
    ticket("refund_pending", timedelta(seconds=30))  # the sweep has not had its turn yet
    ticket("refunded", timedelta(days=1))
    assert set(selectors.tickets_refund_needing_attention()) == {failed, stuck}


@pytest.fixture
def webhook_endpoint(db: None) -> Any:
    from payouts.setup import standin_webhook_endpoint

    return standin_webhook_endpoint()


def test_a_webhook_waits_until_a_redelivery_of_its_event_succeeds(webhook_endpoint: Any) -> None:
    client = Client(raise_request_exception=False)
    creator = make_creator(active=False)
    account = services.connected_account_ensure(user=creator)
    event = STANDIN.account_activate(account.stripe_account_id)
    broken = copy.deepcopy(event)
    broken["data"]["object"] = ["not", "an", "account"]  # our handler cannot apply this
    assert post_event(client, webhook_endpoint, broken).status_code == 500

    waiting = selectors.webhooks_waiting()
    assert waiting["deliveries"].count == 1
    [(trigger_id, _)] = selectors.webhook_deliveries_unprocessed()
    assert waiting["deliveries"].filters == {"id__in": str(trigger_id)}
    assert waiting["oldest"] is not None

    assert post_event(client, webhook_endpoint, event).status_code == 200  # Stripe retries
    assert selectors.webhooks_waiting()["deliveries"].count == 0


def test_an_unreachable_relay_registry_is_reported_not_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def down() -> dict[str, Any]:
        raise ConnectionError("redis is down")

    monkeypatch.setattr(relay_selectors, "relay_health", down)
    load = relay_selectors.relay_workers_load()
    assert load["state"] == "unreachable"
    assert "redis is down" in load["error"]
    assert load["alive_count"] == 0
    assert load["workers"] == []
