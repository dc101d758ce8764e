"""The staff back office: pages load, and every action goes through a service."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.forms import modelform_factory
from django.test import Client
from PIL import Image

from clubs.admin import ClubAdminForm
from clubs.models import (
    Club,
    ClubAuditEntry,
    ClubMembership,
    ClubNomination,
    ClubReport,
    PremiumMembership,
)
from tests.clubs.conftest import World
from tests.clubs.factories import ClubFactory, PremiumFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def _action(
    client: Client, model: str, action: str, pks: list[int], reason: str = "per the rules"
) -> Any:
    """Run a list action with its reason (every club moderation action asks for one)."""
    return client.post(
        f"/admin/clubs/{model}/",
        {"action": action, "_selected_action": [str(pk) for pk in pks], "apply": "1",
         "reason": reason},
        follow=True,
    )  # fmt: skip


@pytest.mark.parametrize(
    "model",
    [
        "club",
        "clubmembership",
        "clubnomination",
        "clubmembershiprequest",
        "premiummembership",
        "clubreport",
        "clubfollow",
        "clubauditentry",
    ],
)
def test_admin_lists_load(staff_client: Client, world: World, model: str) -> None:
    assert staff_client.get(f"/admin/clubs/{model}/").status_code == 200


def test_admin_club_page_and_filters_load(staff_client: Client, world: World) -> None:
    assert staff_client.get(f"/admin/clubs/club/{world.club.pk}/change/").status_code == 200
    assert staff_client.get("/admin/clubs/club/?is_verified__exact=0").status_code == 200


def test_verify_action_gives_the_badge(staff_client: Client) -> None:
    club = ClubFactory()
    _action(staff_client, "club", "verify", [club.pk])
    club.refresh_from_db()
    assert club.is_verified
    assert ClubAuditEntry.objects.filter(club=club, action="club_verified").exists()


def test_staff_approve_nominations_from_admin(staff_client: Client, world: World) -> None:
    nomination = ClubNomination.objects.create(
        club=world.club, nominee=UserFactory(), nominated_by=world.member
    )
    _action(staff_client, "clubnomination", "approve", [nomination.pk])
    nomination.refresh_from_db()
    assert nomination.status == "approved"
    assert ClubMembership.objects.filter(club=world.club, user=nomination.nominee).exists()


def test_staff_set_roles_and_the_last_admin_rule_still_holds(
    staff_client: Client, world: World
) -> None:
    member = ClubMembership.objects.get(club=world.club, user=world.member)
    _action(staff_client, "clubmembership", "make_leader", [member.pk])
    member.refresh_from_db()
    assert member.role == "leader"
    admin = ClubMembership.objects.get(club=world.club, user=world.admin)
    response = _action(staff_client, "clubmembership", "remove", [admin.pk])
    assert "club_last_admin" in response.content.decode()
    assert ClubMembership.objects.filter(pk=admin.pk).exists()


def test_adding_a_premium_membership_is_a_staff_grant(staff_client: Client) -> None:
    club, user = ClubFactory(is_exclusive=True), UserFactory()
    response = staff_client.post(
        "/admin/clubs/premiummembership/add/",
        {
            "club": club.pk,
            "user": user.pk,
            "current_period_end_0": "",
            "current_period_end_1": "",
            "reason": "a speaker's guest pass",
        },
        follow=True,
    )
    assert response.status_code == 200
    premium = PremiumMembership.objects.get(club=club, user=user)
    assert premium.source == "staff_grant"
    assert premium.status == "active"
    assert ClubAuditEntry.objects.filter(action="premium_granted", target=user).exists()


def test_revoke_action_cancels_a_staff_grant(staff_client: Client) -> None:
    premium = PremiumFactory()
    _action(staff_client, "premiummembership", "revoke", [premium.pk])
    premium.refresh_from_db()
    assert premium.status == "canceled"


def test_report_review_actions(staff_client: Client, world: World) -> None:
    report = ClubReport.objects.create(club=world.club, reporter=world.stranger, reason="spam")
    _action(staff_client, "clubreport", "dismiss", [report.pk])
    report.refresh_from_db()
    assert report.status == "dismissed"
    assert report.reviewed_by is not None
    response = _action(staff_client, "clubreport", "mark_actioned", [report.pk])
    assert "club_report_closed" in response.content.decode()


def test_a_photo_staff_upload_in_the_admin_is_cleaned_like_a_club_admins_own() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "teal").save(buffer, "PNG")
    form = modelform_factory(Club, form=ClubAdminForm, fields=["photo"])()
    form.cleaned_data = {"photo": SimpleUploadedFile("a.html", buffer.getvalue())}
    cleaned = form.clean_photo()
    assert cleaned.name.endswith(".png")
    assert "a.html" not in cleaned.name
