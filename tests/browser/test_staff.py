"""#20: staff roles in the back office, in Chromium, as each role's staff member meets it:
finance retries a failed stipend from its page (with a reason, shown in its history); trust &
safety bans a reported member from the reports list; support looks people up but is never
shown the ban button or a payment method."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from playwright.sync_api import expect

from accounts.models import AccountEvent, Report
from accounts.roles import FINANCE, SUPPORT, TRUST_AND_SAFETY, role_grant, roles_sync
from accounts.services import user_ban
from payouts import services
from payouts.models import AuditEntry, StipendPayment
from tests.factories import ReportFactory, UserFactory


def staff_in(role: str, username: str) -> Any:
    roles_sync()  # what the migration did; each browser test starts from an emptied database
    member = UserFactory(username=username, is_staff=True)  # with TOTP, as staff need
    role_grant(user=member, role=role)
    return member


def _failed_stipend(standin: Any) -> StipendPayment:
    creator = UserFactory(username="stella", display_name="Stella Stipend")
    reviewer = UserFactory(staff=True)
    application = services.creator_apply(user=creator, pitch="weekly science hour")
    services.creator_application_approve(application=application, reviewer=reviewer,
        stipend_start_month=date(2026, 2, 1), stipend_end_month=date(2026, 2, 1))  # fmt: skip
    account = services.connected_account_ensure(user=creator)
    standin.account_activate(account.stripe_account_id)
    services.connected_account_sync(data=standin.get("accounts", account.stripe_account_id))
    services.stipend_run_month(month=date(2026, 2, 1))  # the platform has no balance yet
    payment = StipendPayment.objects.get(creator=creator)
    assert payment.status == StipendPayment.Status.FAILED_INSUFFICIENT_FUNDS
    return payment


def test_finance_retries_a_failed_stipend_with_a_reason(
    new_page: Any, standin_shared: Any, screenshots: Any
) -> None:
    payment = _failed_stipend(standin_shared)
    services.topup_book(topup=standin_shared.top_up(10**8, "usd"), reason="monthly funding")
    finance = staff_in(FINANCE, "finn")
    page = new_page(finance)
    page.goto("/admin/payouts/stipendpayment/?attention=yes")
    expect(page.get_by_text("1 stipend payment(s) failed or stuck")).to_be_visible()
    page.get_by_role("link", name=re.compile("stella")).first.click()
    page.get_by_label("Reason for the retry").fill("Platform balance topped up on the 3rd")
    page.get_by_role("button", name="Retry this stipend").click()
    expect(page.locator(".messagelist")).to_contain_text("paid")
    history = page.locator("[data-staff-history]")
    expect(history).to_contain_text("Platform balance topped up on the 3rd")
    expect(history).to_contain_text("finn")
    screenshots(page, "staff-finance-retry")
    payment.refresh_from_db()
    assert payment.status == StipendPayment.Status.PAID
    entry = AuditEntry.objects.get(action="retry", subject_id=str(payment.pk))
    assert (entry.actor, entry.reason) == (finance, "Platform balance topped up on the 3rd")
    page.console.assert_clean()


def test_trust_and_safety_bans_a_reported_member(new_page: Any, screenshots: Any) -> None:
    reported = UserFactory(username="spammy", display_name="Spam Bot")
    report = ReportFactory(reported=reported, text="links in every room")
    safety = staff_in(TRUST_AND_SAFETY, "sam")
    page = new_page(safety)
    page.goto("/admin/accounts/report/")
    page.locator(f"input[name='_selected_action'][value='{report.pk}']").check()
    page.locator("select[name='action']").select_option("ban_reported")
    page.get_by_role("button", name="Go").click()
    page.get_by_label("Reason").fill("Spam links in three rooms today")
    page.get_by_role("button", name="Ban").click()
    expect(page.locator(".messagelist")).to_contain_text("Banned 1 people.")
    page.goto(f"/admin/accounts/user/{reported.pk}/change/")
    expect(page.locator("[data-staff-history]")).to_contain_text("Spam links in three rooms today")
    screenshots(page, "staff-safety-banned")
    reported.refresh_from_db()
    assert reported.is_active is False
    event = AccountEvent.objects.get(user=reported, kind="banned")
    assert (event.actor, event.data["reason"]) == (safety, "Spam links in three rooms today")
    page.console.assert_clean()


def test_support_sees_no_ban_button_and_no_payment_method(new_page: Any, screenshots: Any) -> None:
    member = UserFactory(username="lookup", display_name="Looked Up")
    ReportFactory(reported=member)
    banned = UserFactory(username="gone")
    user_ban(user=banned, staff=staff_in(TRUST_AND_SAFETY, "sam"), reason="Threats in DMs")
    support = staff_in(SUPPORT, "sue")
    page = new_page(support)
    page.goto("/admin/")
    expect(page.get_by_role("link", name="Users")).to_be_visible()
    expect(page.get_by_role("link", name="Payment methods")).to_have_count(0)
    expect(page.get_by_role("link", name="Reports")).to_have_count(0)
    page.goto("/admin/accounts/user/")
    options = page.locator("select[name='action'] option").all_text_contents()
    assert not [text for text in options if "Ban" in text]
    page.goto(f"/admin/accounts/user/{member.pk}/change/")
    expect(page.get_by_text("Looked Up").first).to_be_visible()
    expect(page.get_by_role("link", name="Ban…")).to_have_count(0)
    response = page.goto("/admin/djstripe/paymentmethod/")
    assert response is not None
    assert response.status == 403
    response = page.goto(f"/admin/accounts/user/{member.pk}/ban/")
    assert response is not None
    assert response.status == 403
    member.refresh_from_db()
    assert member.is_active
    # "Why was I banned?": the staff audit answers, filtered to bans.
    page.goto("/admin/")
    page.get_by_role("link", name="Staff audit").click()
    page.get_by_label("Action").select_option("banned")
    page.get_by_role("button", name="Filter").click()
    row = page.locator("[data-audit-row]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("sam")
    expect(row).to_contain_text("Threats in DMs")
    expect(row.get_by_role("link", name="@gone")).to_be_visible()
    screenshots(page, "staff-audit-support")


def test_trust_and_safety_resolves_a_report_with_a_reason_seen_in_the_staff_audit(
    new_page: Any, screenshots: Any
) -> None:
    reported = UserFactory(username="joker", display_name="Joke Teller")
    report = ReportFactory(reported=reported, text="rude joke in the comedy room")
    safety = staff_in(TRUST_AND_SAFETY, "sam")
    page = new_page(safety)
    page.goto("/admin/accounts/report/")
    page.locator(f"input[name='_selected_action'][value='{report.pk}']").check()
    page.locator("select[name='action']").select_option("resolve")
    page.get_by_role("button", name="Go").click()
    # Nothing happens without a reason: the browser will not send the form without one.
    page.get_by_role("button", name="Resolve").click()
    assert page.get_by_label("Reason").evaluate("el => el.validity.valueMissing") is True
    report.refresh_from_db()
    assert report.status == Report.Status.OPEN
    page.get_by_label("Reason").fill("A comedy room; the joke was within its rules")
    page.get_by_role("button", name="Resolve").click()
    expect(page.locator(".messagelist")).to_contain_text("Resolved 1 reports.")
    page.goto("/admin/")
    page.get_by_role("link", name="Staff audit").click()
    page.get_by_label("Action").select_option("report_resolved")
    page.get_by_role("button", name="Filter").click()
    row = page.locator("[data-audit-row]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("sam")
    expect(row).to_contain_text("A comedy room; the joke was within its rules")
    screenshots(page, "staff-audit-report-resolved")
    row.get_by_role("link").first.click()
    expect(page.locator("[data-staff-history]")).to_contain_text(
        "A comedy room; the joke was within its rules"
    )
    report.refresh_from_db()
    assert report.status == Report.Status.RESOLVED
    assert (report.resolved_by, report.resolution) == (
        safety,
        "A comedy room; the joke was within its rules",
    )
    page.console.assert_clean()
