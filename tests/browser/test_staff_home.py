"""The staff home in a browser: a staff member logs in to the back office (password, then the
authenticator's code, as the admin requires) and reads what needs a person today; every card's
count is the database's, and its link opens the list of exactly those rows."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from djstripe.models import WebhookEventTrigger
from playwright.sync_api import expect

from accounts.models import Report
from clubs.models import ClubReport
from payouts.models import CreatorApplication, Discrepancy, StipendPayment
from payouts.provider.standin import STANDIN
from tests.factories import PASSWORD, UserFactory, totp_code
from tests.staff.world import everything_waiting, this_month


@pytest.fixture(autouse=True)
def _fresh_standin() -> Iterator[None]:
    STANDIN.reset()
    yield
    STANDIN.reset()


def _log_in_to_the_admin(page: Any, staff: Any) -> None:
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.locator("input[name=login]").fill(staff.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.locator("input[name=code]").fill(totp_code())
    page.locator("input[name=code]").press("Enter")
    expect(page).to_have_title(re.compile("Staff home"))
    # allauth's own code page declares no icon, so the browser asked for /favicon.ico (a 404)
    # there; what the staff home does is checked from here on.
    page.console.errors.clear()


def _figure(page: Any, card: str, label: str) -> Any:
    return page.locator(f'[data-card="{card}"] [data-figure="{label}"] .staff-count')


def test_staff_log_in_and_the_homes_counts_are_the_databases(
    new_page: Any, screenshots: Any
) -> None:
    world = everything_waiting()
    staff = UserFactory(staff=True)
    page = new_page()
    _log_in_to_the_admin(page, staff)

    month = this_month()
    from_the_database = {
        ("applications", "pending review"): CreatorApplication.objects.filter(
            status="pending"
        ).count(),
        ("stipends", "paid"): StipendPayment.objects.filter(month=month, status="paid").count(),
        ("stipends", "failed"): StipendPayment.objects.filter(
            month=month, status__in=["failed", "failed_insufficient_funds"]
        ).count(),
        ("reports", "waiting"): Report.objects.filter(status="open").count(),
        ("club-reports", "waiting"): ClubReport.objects.filter(status="open").count(),
        ("discrepancies", "open"): Discrepancy.objects.filter(resolved=False).count(),
        ("webhooks", "not handled"): WebhookEventTrigger.objects.filter(
            valid=True, processed=False
        ).count(),
    }
    for (card, label), count in from_the_database.items():
        assert count == world.expected[card][label], (card, label)
        expect(_figure(page, card, label)).to_have_text(str(count))
    for label, count in world.expected["refunds"].items():
        expect(_figure(page, "refunds", label)).to_have_text(str(count))

    # The refused stipend is named, with Stripe's reason.
    payment = StipendPayment.objects.get(creator=world.refused_creator)
    failure = page.locator('[data-card="stipends"] [data-failure="refused_creator"]')
    expect(failure).to_contain_text("Refused Creator")
    expect(failure).to_contain_text(payment.error)
    expect(page.locator('[data-card="relay"]')).to_be_visible()
    screenshots(page, "staff-home")

    # Raw data is there for a superuser, closed until opened.
    raw = page.locator('details[data-staff-group="raw-data"]').first
    expect(raw.get_by_role("link", name="Coupons")).to_be_hidden()
    raw.locator("summary").click()
    expect(raw.get_by_role("link", name="Coupons")).to_be_visible()

    # A card's link opens the list of exactly what it counted.
    _figure(page, "applications", "pending review").click()
    expect(page).to_have_url(
        re.compile(r"/admin/payouts/creatorapplication/\?status__exact=pending")
    )
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    page.console.assert_clean()


def test_a_staff_member_who_is_not_a_superuser_sees_no_raw_data(new_page: Any) -> None:
    everything_waiting()
    curator = UserFactory(is_staff=True)
    curator.user_permissions.add(
        Permission.objects.get(codename="view_creatorapplication"),
        Permission.objects.get(codename="view_webhookeventtrigger"),
    )
    page = new_page()
    _log_in_to_the_admin(page, curator)
    expect(_figure(page, "applications", "pending review")).to_have_text("2")
    expect(page.locator('[data-card="reports"]')).to_have_count(0)
    expect(page.locator('[data-staff-group="raw-data"]')).to_have_count(0)
    expect(page.get_by_text("Raw data")).to_have_count(0)
    page.console.assert_clean()
