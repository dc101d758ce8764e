"""Staff back office: every accounts model is listed with search and filters; actions call
services (let in, grant invitations, revoke, resolve reports, ban)."""

from __future__ import annotations

import io

import pytest
from django import forms
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from accounts.admin import AvatarCleaningUserChangeForm
from accounts.models import Invitation, InvitationQuotaAward, Report, User
from tests.factories import (
    BlockFactory,
    FollowFactory,
    InvitationFactory,
    NotificationFactory,
    ReportFactory,
    TopicFactory,
    UserFactory,
    WaitlistedUserFactory,
    WaitlistVouchFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client: Client) -> Client:
    client.force_login(UserFactory(staff=True))
    return client


@pytest.mark.parametrize(
    "model",
    [
        "user",
        "report",
        "invitation",
        "invitationquotaaward",
        "waitlistvouch",
        "notification",
        "topic",
        "follow",
        "block",
        "accountevent",
    ],
)
def test_every_model_has_a_searchable_filterable_changelist(
    staff_client: Client, model: str
) -> None:
    TopicFactory()
    FollowFactory()
    BlockFactory()
    NotificationFactory()
    InvitationFactory()
    WaitlistVouchFactory()
    ReportFactory()
    url = f"/admin/accounts/{model}/"
    response = staff_client.get(url)
    assert response.status_code == 200
    assert b'id="changelist-filter"' in response.content
    assert staff_client.get(url, {"q": "user"}).status_code == 200


def _action(client: Client, model: str, action: str, ids: list[int], **extra: str):  # type: ignore[no-untyped-def]
    return client.post(
        f"/admin/accounts/{model}/",
        {"action": action, ACTION_CHECKBOX_NAME: [str(i) for i in ids], **extra},
    )


def test_let_in_from_waitlist_action_asks_why_then_lets_in(staff_client: Client) -> None:
    people = [WaitlistedUserFactory(), WaitlistedUserFactory()]
    ids = [p.pk for p in people]
    asked = _action(staff_client, "user", "let_in_from_waitlist", ids)
    assert asked.status_code == 200
    assert b"data-staff-reason" in asked.content
    assert User.objects.filter(pk__in=ids, status="member").count() == 0
    response = _action(staff_client, "user", "let_in_from_waitlist", ids, apply="1",
                       reason="Speakers at Tuesday's launch event.")  # fmt: skip
    assert response.status_code == 302
    assert User.objects.filter(pk__in=ids, status="member").count() == 2
    audit = staff_client.get("/admin/staff-audit/").content
    assert b"Speakers at Tuesday&#x27;s launch event." in audit


def test_grant_invitations_action_asks_for_an_amount_and_why_then_grants(
    staff_client: Client,
) -> None:
    user = UserFactory(invitation_quota=1)
    form = _action(staff_client, "user", "grant_invitations", [user.pk])
    assert form.status_code == 200
    assert b'name="amount"' in form.content
    assert b'name="reason"' in form.content
    nothing = _action(staff_client, "user", "grant_invitations", [user.pk], amount="3", apply="1")
    assert nothing.status_code == 200  # no reason: the form again, nothing granted
    assert not InvitationQuotaAward.objects.filter(user=user).exists()
    done = _action(staff_client, "user", "grant_invitations", [user.pk], amount="3", apply="1",
                   reason="Hosts the weekly founders' room.")  # fmt: skip
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.invitation_quota == 4
    award = InvitationQuotaAward.objects.get(user=user)
    assert (award.amount, award.note) == (3, "Hosts the weekly founders' room.")
    audit = staff_client.get("/admin/staff-audit/").content
    assert b"Hosts the weekly founders&#x27; room." in audit


def test_ban_action_asks_why_then_disables_the_account(staff_client: Client) -> None:
    user = UserFactory()
    asked = _action(staff_client, "user", "ban_users", [user.pk])
    assert asked.status_code == 200
    assert b"data-staff-reason" in asked.content
    user.refresh_from_db()
    assert user.is_active is True  # not before the reason is given
    without = _action(staff_client, "user", "ban_users", [user.pk], apply="1", reason="  ")
    assert b"This field is required" in without.content or b"reason is required" in without.content
    _action(staff_client, "user", "ban_users", [user.pk], apply="1", reason="spam bot")
    user.refresh_from_db()
    assert user.is_active is False
    assert user.account_events.get(kind="banned").data["reason"] == "spam bot"


def test_report_actions_resolve_and_ban(staff_client: Client) -> None:
    dismissed = ReportFactory()
    asked = _action(staff_client, "report", "resolve", [dismissed.pk])
    assert b"data-staff-reason" in asked.content
    dismissed.refresh_from_db()
    assert dismissed.status == Report.Status.OPEN  # not before the reason is given
    _action(staff_client, "report", "resolve", [dismissed.pk], apply="1",
            reason="a joke between friends")  # fmt: skip
    dismissed.refresh_from_db()
    assert dismissed.status == Report.Status.RESOLVED
    assert dismissed.resolution == "a joke between friends"
    serious = ReportFactory(reason=Report.Reason.HARASSMENT)
    _action(staff_client, "report", "ban_reported", [serious.pk], apply="1", reason="threats")
    serious.refresh_from_db()
    serious.reported.refresh_from_db()
    assert serious.status == Report.Status.RESOLVED
    assert serious.reported.is_active is False


def test_invitation_revoke_action_refunds(staff_client: Client) -> None:
    invitation = InvitationFactory(inviter=UserFactory(invitation_quota=0))
    _action(staff_client, "invitation", "revoke", [invitation.pk])
    invitation.refresh_from_db()
    invitation.inviter.refresh_from_db()
    assert invitation.status == Invitation.Status.REVOKED
    assert invitation.inviter.invitation_quota == 1


def test_quota_and_status_are_not_edited_by_hand(staff_client: Client) -> None:
    user = UserFactory()
    page = staff_client.get(f"/admin/accounts/user/{user.pk}/change/")
    assert page.status_code == 200
    assert b'name="invitation_quota"' not in page.content
    assert b'name="status"' not in page.content


def test_a_picture_staff_upload_in_the_admin_is_cleaned_like_a_members_own() -> None:
    """Re-encoded under a random name with its real extension, as accounts.validators says."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "teal").save(buffer, "PNG")
    upload = SimpleUploadedFile("a.html", buffer.getvalue(), content_type="text/html")
    form = AvatarCleaningUserChangeForm(instance=UserFactory())
    form.cleaned_data = {"avatar": upload}
    cleaned = form.clean_avatar()
    assert cleaned.name.endswith(".png")
    assert "a.html" not in cleaned.name
    form.cleaned_data = {"avatar": SimpleUploadedFile("b.png", b"<html>not a picture</html>")}
    with pytest.raises(forms.ValidationError, match="valid image"):
        form.clean_avatar()
