"""Applicants are told the outcome of the review (the application page promises it)."""

from __future__ import annotations

from datetime import date

import pytest
from rest_framework.test import APIClient

from accounts.models import Notification
from payouts import services

from .conftest import make_user

pytestmark = pytest.mark.django_db
FEB = date(2026, 2, 1)


def test_an_applicant_is_notified_of_approval_with_the_terms(
    django_capture_on_commit_callbacks,
) -> None:
    applicant, staff = make_user(), make_user(is_staff=True)
    application = services.creator_apply(user=applicant, pitch="nightly show")
    with django_capture_on_commit_callbacks(execute=True):
        services.creator_application_approve(
            application=application, reviewer=staff, note="internal: great rooms",
            stipend_start_month=FEB, stipend_end_month=date(2026, 4, 1),
        )  # fmt: skip
        services.creator_application_approve(application=application, reviewer=staff)
    [notice] = Notification.objects.filter(recipient=applicant)
    assert notice.kind == "money"
    assert notice.data == {
        "event": "creator_approved",
        "send_money": True,
        "stipend_amount": 500_000,
        "stipend_currency": "USD",
        "stipend_start_month": "2026-02",
        "stipend_end_month": "2026-04",
    }
    assert "great rooms" not in str(notice.data)  # the review note is staff's


def test_an_applicant_is_notified_of_rejection_with_the_reason(
    django_capture_on_commit_callbacks,
) -> None:
    applicant, staff = make_user(), make_user(is_staff=True)
    application = services.creator_apply(user=applicant)
    reason = "Host a few more rooms first."
    with django_capture_on_commit_callbacks(execute=True):
        services.creator_application_reject(
            application=application, reviewer=staff, reason=reason, note="too few rooms yet"
        )
        services.creator_application_reject(application=application, reviewer=staff, reason="x")
    # What the applicant's notifications page reads.
    client = APIClient()
    client.force_login(applicant)
    [notice] = client.get("/api/v1/notifications/").json()["results"]
    assert notice["kind"] == "money"
    assert notice["data"] == {"event": "creator_rejected", "reason": reason}
    assert "too few rooms" not in str(notice["data"])  # the note is staff's
    assert notice["read"] is False
