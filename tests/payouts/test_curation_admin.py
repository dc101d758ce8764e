"""The creator curation pages of the back office, through real requests by a staff member."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.contrib import admin
from django.test import RequestFactory

from accounts.models import Block, Follow, Report
from clubhouse.money import Money
from clubs.services import club_create
from payouts import services
from payouts.models import (
    AuditEntry,
    CreatorApplication,
    CreatorProgram,
    Journal,
    LedgerAccount,
    StipendPayment,
    StipendRun,
    Ticket,
    TicketPrice,
    Tip,
)
from payouts.services.programs import month_after, month_of
from rooms.services import room_create

from .conftest import make_creator, make_user

pytestmark = pytest.mark.django_db

APPLICATIONS = "/admin/payouts/creatorapplication"
PROGRAMS = "/admin/payouts/creatorprogram"


@pytest.fixture
def staff(db: None) -> Any:
    return make_user(is_staff=True, is_superuser=True, username="curator")


@pytest.fixture
def staff_client(client: Any, staff: Any) -> Any:
    client.force_login(staff)
    return client


def _month(day: date) -> str:
    return f"{day:%Y-%m}"


def _terms(**overrides: Any) -> dict[str, Any]:
    return {"send_money_enabled": "on", "stipend_amount": "750.00", "stipend_currency": "USD",
            "stipend_start_month": _month(month_after(month_of())), "stipend_end_month": "",
            **overrides}  # fmt: skip


def _errors(response: Any) -> str:
    form = response.context["form"]
    return " ".join(str(m) for messages in form.errors.values() for m in messages)


def test_the_application_page_shows_who_the_applicant_is(staff_client: Any) -> None:
    user = make_user(username="jazzcat", display_name="Jazz Cat", bio="Late-night jazz sets")
    fan, other = make_user(), make_user()
    Follow.objects.create(follower=fan, followee=user)
    Block.objects.create(blocker=other, blocked=user)
    Report.objects.create(reporter=other, reported=user, reason="spam")
    club_create(creator=user, name="Blue Note Club")
    room_create(user=user, title="Friday set")
    application = services.creator_apply(user=user, pitch="weekly jazz")
    page = staff_client.get(f"{APPLICATIONS}/{application.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Late-night jazz sets" in html
    assert "Member since" in html
    for figure, text in [("followers", ">1<"), ("rooms-hosted", "1 / 1"),
                         ("reports", "1 (1 open)"), ("blocked-by", "1 member"),
                         ("clubs", "Blue Note Club")]:  # fmt: skip
        cell = html.split(f'data-figure="{figure}"')[1].split("</td>")[0]
        assert text.strip("<>") in cell, figure
    assert f"{APPLICATIONS}/{application.pk}/approve/" in html
    assert f"{APPLICATIONS}/{application.pk}/reject/" in html
    assert "Delete" not in html


def test_the_program_page_shows_the_tips_a_creator_received(staff_client: Any) -> None:
    creator, sender = make_creator(), make_user()
    Follow.objects.create(follower=sender, followee=creator)
    services.tip_send(sender=sender, creator=creator, amount=Money(1000, "USD"),
                      payment_method="pm_card_visa")  # fmt: skip
    page = staff_client.get(f"{PROGRAMS}/{creator.creator_program.pk}/change/").content.decode()
    cell = page.split('data-figure="tips"')[1].split("</td>")[0]
    assert "1 tip, 10.00 USD" in cell


def test_approving_from_the_page_creates_the_program_with_the_terms(
    staff_client: Any, staff: Any
) -> None:
    user = make_user()
    application = services.creator_apply(user=user)
    form = staff_client.get(f"{APPLICATIONS}/{application.pk}/approve/")
    assert form.status_code == 200
    response = staff_client.post(f"{APPLICATIONS}/{application.pk}/approve/",
                                 _terms(stipend_end_month=_month(date(2099, 1, 1))))  # fmt: skip
    assert response.status_code == 302
    program = CreatorProgram.objects.get(user=user)
    assert (program.stipend_amount, program.stipend_currency) == (75_000, "USD")
    assert program.stipend_start_month == month_after(month_of())
    assert program.stipend_end_month == date(2099, 1, 1)
    application.refresh_from_db()
    assert (application.status, application.reviewed_by) == ("approved", staff)
    page = staff_client.get(f"{APPLICATIONS}/{application.pk}/change/").content.decode()
    assert 'data-history-entry="approved"' in page


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"stipend_start_month": "2099-05", "stipend_end_month": "2099-04"},
         "The last month cannot be before the first month."),
        ({"stipend_amount": "0"}, "A stipend is a positive amount."),
        ({"stipend_amount": "-3"}, "A stipend is a positive amount."),
        ({"stipend_amount": "10.005"}, "fewer decimals"),
        ({"stipend_start_month": "2020-01"}, "The first month is this month"),
        ({"stipend_start_month": "January"}, "A month as YYYY-MM"),
    ],
)  # fmt: skip
def test_approval_with_bad_terms_shows_the_error_and_changes_nothing(
    staff_client: Any, overrides: dict[str, str], message: str
) -> None:
    application = services.creator_apply(user=make_user())
    response = staff_client.post(f"{APPLICATIONS}/{application.pk}/approve/", _terms(**overrides))
    assert response.status_code == 200
    assert message in _errors(response)
    application.refresh_from_db()
    assert application.status == "pending"


def test_approving_an_application_already_decided_says_so(staff_client: Any) -> None:
    application = services.creator_apply(user=make_user())
    services.creator_application_reject(application=application, reviewer=make_user(
        is_staff=True, username="other_curator"), reason="not yet")  # fmt: skip
    response = staff_client.post(f"{APPLICATIONS}/{application.pk}/approve/", _terms())
    assert response.status_code == 200
    assert "already rejected by other_curator" in _errors(response)
    assert not CreatorProgram.objects.exists()
    # and the page no longer offers the buttons
    page = staff_client.get(f"{APPLICATIONS}/{application.pk}/change/").content.decode()
    assert "/approve/" not in page


def test_rejecting_from_the_page_needs_a_reason_and_the_applicant_sees_it(
    staff_client: Any, client: Any
) -> None:
    user = make_user()
    application = services.creator_apply(user=user)
    response = staff_client.post(f"{APPLICATIONS}/{application.pk}/reject/", {"reason": "  "})
    assert response.status_code == 200
    assert "This field is required." in _errors(response) or "reason" in _errors(response)
    response = staff_client.post(f"{APPLICATIONS}/{application.pk}/reject/",
                                 {"reason": "Host a few more rooms first.", "note": "thin"})  # fmt: skip
    assert response.status_code == 302
    client.force_login(user)
    status = client.get("/api/v1/payouts/creator-application/").json()
    assert status["application"]["status"] == "rejected"
    assert status["application"]["reason"] == "Host a few more rooms first."
    assert "thin" not in str(status)  # staff's note stays in admin


def test_staff_nominate_a_member_who_never_applied(staff_client: Any, staff: Any) -> None:
    user = make_user(username="quiethost")
    page = staff_client.get(f"{APPLICATIONS}/add/")
    assert page.status_code == 200
    assert b"Nominate a creator" in page.content
    missing = staff_client.post(f"{APPLICATIONS}/add/", {**_terms(), "username": "nobody"})
    assert "No active member is called 'nobody'." in _errors(missing)
    response = staff_client.post(f"{APPLICATIONS}/add/",
                                 {**_terms(), "username": "@quiethost", "note": "great host"})  # fmt: skip
    assert response.status_code == 302
    program = CreatorProgram.objects.get(user=user)
    assert response["Location"] == f"{PROGRAMS}/{program.pk}/change/"
    application = CreatorApplication.objects.get(user=user)
    assert (application.source, application.status, application.nominated_by) == (
        "nominated", "approved", staff)  # fmt: skip
    again = staff_client.post(f"{APPLICATIONS}/add/", {**_terms(), "username": "quiethost"})
    assert "already in the creator program" in _errors(again)


def test_the_program_page_changes_terms_from_next_month_with_a_reason(
    staff_client: Any, staff: Any
) -> None:
    creator = make_creator()
    program = creator.creator_program
    page = staff_client.get(f"{PROGRAMS}/{program.pk}/change/").content.decode()
    assert "data-change-terms" in page
    assert 'name="_save"' not in page  # terms change through the audited pages only
    no_reason = staff_client.post(f"{PROGRAMS}/{program.pk}/terms/", _terms())
    assert "This field is required." in _errors(no_reason)
    response = staff_client.post(f"{PROGRAMS}/{program.pk}/terms/",
                                 {**_terms(), "reason": "rooms every week now"})  # fmt: skip
    assert response.status_code == 302
    program.refresh_from_db()
    assert (program.stipend_amount, program.stipend_start_month) == (
        75_000,
        month_after(month_of()),
    )
    page = staff_client.get(f"{PROGRAMS}/{program.pk}/change/").content.decode()
    assert 'data-history-entry="terms_changed"' in page
    assert "rooms every week now" in page
    assert "curator" in page.split('data-history-entry="terms_changed"')[1]


def test_pause_resume_and_end_from_the_program_page(staff_client: Any) -> None:
    creator = make_creator()
    program = creator.creator_program
    start = month_after(month_of())
    services.creator_program_terms_change(
        program=program, actor=make_user(is_staff=True), reason="stipend", send_money_enabled=True,
        stipend_amount=10_000, stipend_currency="USD", stipend_start_month=start,
        stipend_end_month=None,
    )  # fmt: skip
    assert (
        staff_client.post(f"{PROGRAMS}/{program.pk}/pause/", {"reason": "on leave"}).status_code
        == 302
    )
    program.refresh_from_db()
    assert program.stipend_paused_from == start
    # Resuming a pause that has not begun calls it off.
    assert (
        staff_client.post(f"{PROGRAMS}/{program.pk}/resume/", {"reason": "back"}).status_code == 302
    )
    program.refresh_from_db()
    assert program.stipend_paused_from is None
    refused = staff_client.post(f"{PROGRAMS}/{program.pk}/resume/", {"reason": "again"})
    assert "not paused" in _errors(refused)
    assert staff_client.post(f"{PROGRAMS}/{program.pk}/end/", {"reason": "done"}).status_code == 302
    program.refresh_from_db()
    assert program.stipend_start_month is None  # it had not begun: called off
    page = staff_client.get(f"{PROGRAMS}/{program.pk}/change/").content.decode()
    for action in ("stipend_paused", "stipend_resumed", "stipend_ended"):
        assert f'data-history-entry="{action}"' in page


# --- nothing about money or history is deleted from the admin --------------------------------

NEVER_DELETED = [CreatorApplication, CreatorProgram, StipendRun, StipendPayment, Journal,
                 LedgerAccount, Tip, Ticket, TicketPrice, AuditEntry]  # fmt: skip


@pytest.mark.parametrize("model", NEVER_DELETED, ids=lambda m: m.__name__)
def test_the_admin_never_deletes(model: Any, staff_client: Any, staff: Any) -> None:
    model_admin = admin.site._registry[model]
    request = RequestFactory().get("/")
    request.user = staff
    assert model_admin.has_delete_permission(request) is False
    assert "delete_selected" not in model_admin.get_actions(request)
    base = f"/admin/payouts/{model._meta.model_name}"
    assert staff_client.get(f"{base}/1/delete/").status_code == 403
    listing = staff_client.get(f"{base}/")
    assert listing.status_code == 200
    assert b'value="delete_selected"' not in listing.content


# --- the member's side: the status endpoint ---------------------------------------------------


def test_the_status_endpoint_gives_nothing_then_pending_then_the_program(client: Any) -> None:
    user = make_user()
    client.force_login(user)
    url = "/api/v1/payouts/creator-application/"
    assert client.get(url).json() == {"application": None, "program": None}
    application = services.creator_apply(user=user, pitch="weekly")
    pending = client.get(url).json()
    assert pending["application"]["status"] == "pending"
    assert pending["application"]["reason"] == ""
    assert pending["program"] is None
    services.creator_application_approve(
        application=application, reviewer=make_user(is_staff=True), stipend_amount=30_000,
        stipend_currency="EUR", stipend_start_month=date(2099, 1, 1),
    )  # fmt: skip
    program = client.get(url).json()["program"]
    assert program == {
        "send_money_enabled": True, "stipend_amount": 30_000, "stipend_currency": "EUR",
        "stipend_start_month": "2099-01", "stipend_end_month": None, "stipend_next": None,
        "stipend_paused_from": None, "stipend_resumes_month": None,
    }  # fmt: skip


def test_the_status_endpoint_is_for_members_only(client: Any) -> None:
    response = client.get("/api/v1/payouts/creator-application/")
    assert response.status_code in {401, 403}
    assert "code" in response.json()["error"]
