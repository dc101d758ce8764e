from __future__ import annotations

from datetime import date

import pytest

from payouts import services
from payouts.models import CreatorApplication, StipendPayment
from payouts.provider.standin import STANDIN

from .conftest import follow, fund, make_creator, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    staff = make_user(is_staff=True, is_superuser=True)
    client.force_login(staff)
    return client


def test_the_review_list_shows_audience_figures(staff_client) -> None:
    user = make_user()
    follow(make_user(), user)
    services.creator_apply(user=user, pitch="nightly show")
    page = staff_client.get("/admin/payouts/creatorapplication/")
    assert page.status_code == 200
    assert b"Followers" in page.content or b"followers" in page.content


def test_staff_approve_from_the_list_with_the_review_note(staff_client) -> None:
    user = make_user()
    app = services.creator_apply(user=user)
    CreatorApplication.objects.filter(pk=app.pk).update(review_note="welcome")
    response = staff_client.post("/admin/payouts/creatorapplication/", {
        "action": "approve_with_stipend", "_selected_action": [app.pk]})  # fmt: skip
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.status == "approved"
    assert user.creator_program.stipend_amount == 500_000


def test_a_months_run_shows_progress_and_staff_rerun_a_failed_row(staff_client) -> None:
    creator = make_creator(stipend=True)
    run = services.stipend_run_month(month=date(2026, 2, 1))
    page = staff_client.get("/admin/payouts/stipendrun/")
    assert b"0/1 paid" in page.content
    assert b"1 failed" in page.content
    detail = staff_client.get(f"/admin/payouts/stipendrun/{run.pk}/change/")
    assert detail.status_code == 200
    fund(10**7)
    payment = StipendPayment.objects.get(creator=creator)
    staff_client.post("/admin/payouts/stipendpayment/", {
        "action": "retry_selected", "_selected_action": [payment.pk], "apply": "1",
        "reason": "platform balance topped up"})  # fmt: skip
    payment.refresh_from_db()
    assert payment.status == "paid"
    assert b"1/1 paid" in staff_client.get("/admin/payouts/stipendrun/").content


@pytest.mark.parametrize(
    "path",
    ["journal", "ledgeraccount", "creatorprogram", "connectedaccount", "stipendpayment", "tip",
     "discrepancy", "handledevent", "auditentry"],
)  # fmt: skip
def test_every_money_admin_page_renders(staff_client, path: str) -> None:
    make_creator(stipend=True)
    assert staff_client.get(f"/admin/payouts/{path}/").status_code == 200


# --- paid clubs ----------------------------------------------------------------------------


def test_staff_see_subscriptions_with_status_and_period_end(staff_client) -> None:
    from .test_memberships import paid_club, subscribed

    _, sub = subscribed(paid_club())
    page = staff_client.get("/admin/payouts/clubsubscription/")
    assert page.status_code == 200
    assert str(sub.uuid).encode() in page.content
    assert b"active" in page.content.lower()
    detail = staff_client.get(f"/admin/payouts/clubsubscription/{sub.pk}/change/")
    assert detail.status_code == 200
    assert sub.stripe_subscription_id.encode() in detail.content


def test_staff_cancel_a_subscription_at_period_end_from_the_list(staff_client) -> None:
    from payouts.models import ClubSubscription

    from .test_memberships import paid_club, subscribed

    _, sub = subscribed(paid_club())
    response = staff_client.post("/admin/payouts/clubsubscription/", {
        "action": "cancel_at_period_end_action", "_selected_action": [sub.pk]})  # fmt: skip
    assert response.status_code == 302
    assert ClubSubscription.objects.get(pk=sub.pk).cancel_at_period_end
    assert STANDIN.get("subscriptions", sub.stripe_subscription_id)["cancel_at_period_end"]


def test_staff_refund_a_membership_invoice(staff_client) -> None:
    from payouts import ledger
    from payouts.ledger import Kind
    from payouts.models import MembershipInvoice

    from .test_memberships import paid_club, subscribed

    club = paid_club()
    subscribed(club)
    invoice = MembershipInvoice.objects.get()
    response = staff_client.post("/admin/payouts/membershipinvoice/", {
        "action": "refund", "_selected_action": [invoice.pk], "apply": "1",
        "reason": "member asked"})  # fmt: skip
    assert response.status_code == 302
    assert ledger.balance_of(Kind.REFUNDS, "USD") == invoice.amount
    assert ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", club.created_by) == 0
    assert STANDIN.available["usd"] == ledger.balance_of(Kind.PLATFORM_BALANCE, "USD")


def test_creator_payouts_are_listed_with_their_status(staff_client) -> None:
    from .test_memberships import paid_club, subscribed

    club = paid_club()
    subscribed(club)
    account = club.created_by.connected_account.stripe_account_id
    event = STANDIN.connected_payout(account, 900, status="failed")
    services.connected_payout_apply(data=event["data"]["object"], account_id=account)
    page = staff_client.get("/admin/payouts/connectedpayout/")
    assert page.status_code == 200
    assert event["data"]["object"]["id"].encode() in page.content
    assert b"Failed" in page.content
