"""The invitation lifecycle: create, accept, expire, reuse, forge, revoke."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts import services
from accounts.models import Invitation, Notification, User
from accounts.selectors import invitation_token_hash
from tests.factories import InvitationFactory, UserFactory, WaitlistedUserFactory

pytestmark = pytest.mark.django_db


def _token_from_mail() -> str:
    body = mail.outbox[-1].body
    link = next(line for line in body.splitlines() if "/invite/" in line)
    return link.strip().rstrip("/").rsplit("/", 1)[1]


def test_creating_an_invitation_spends_one_and_stores_only_a_hash(
    django_capture_on_commit_callbacks,
) -> None:
    inviter = UserFactory(invitation_quota=2)
    with django_capture_on_commit_callbacks(execute=True):
        invitation, token = services.invitation_create(inviter=inviter, email="Kim@Example.com")
    inviter.refresh_from_db()
    assert inviter.invitation_quota == 1
    assert invitation.status == Invitation.Status.PENDING
    assert invitation.email == "kim@example.com"
    assert invitation.token_hash == invitation_token_hash(token)
    assert token not in invitation.token_hash
    assert invitation.expires_at > timezone.now() + timedelta(days=6)


def test_the_invitation_mail_leaves_on_commit_with_a_working_link(
    django_capture_on_commit_callbacks,
) -> None:
    inviter = UserFactory(display_name="Ada")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _, token = services.invitation_create(inviter=inviter, email="kim@example.com")
    assert mail.outbox == []  # nothing leaves before the transaction commits
    for callback in callbacks:
        callback()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["kim@example.com"]
    assert "Ada invited you" in mail.outbox[0].subject
    assert _token_from_mail() == token


def test_inviting_by_phone_only_is_allowed_and_sends_no_mail(
    django_capture_on_commit_callbacks,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        invitation, _ = services.invitation_create(inviter=UserFactory(), phone="+1 555 0100")
    assert invitation.phone == "+1 555 0100"
    assert mail.outbox == []


def test_inviting_without_quota_is_refused_with_no_invitations_left() -> None:
    inviter = UserFactory(invitation_quota=0)
    with pytest.raises(services.NoInvitationsLeft) as exc:
        services.invitation_create(inviter=inviter, email="kim@example.com")
    assert exc.value.code == "no_invitations_left"
    assert not Invitation.objects.exists()


def test_inviting_the_same_person_twice_while_pending_is_refused() -> None:
    inviter = UserFactory(invitation_quota=5)
    services.invitation_create(inviter=inviter, email="kim@example.com")
    with pytest.raises(services.Conflict) as exc:
        services.invitation_create(inviter=inviter, email="KIM@example.com")
    assert exc.value.code == "already_invited"
    inviter.refresh_from_db()
    assert inviter.invitation_quota == 4


def test_inviting_a_members_address_is_an_invitation_like_any_other_but_mails_nobody(
    django_capture_on_commit_callbacks,
) -> None:
    """Never an oracle for "is this address a member's" (test_no_email_oracle.py)."""
    UserFactory(email="kim@example.com")
    inviter = UserFactory(invitation_quota=2)
    with django_capture_on_commit_callbacks(execute=True):
        invitation, _ = services.invitation_create(inviter=inviter, email="kim@example.com")
    assert invitation.status == Invitation.Status.PENDING
    inviter.refresh_from_db()
    assert inviter.invitation_quota == 1  # revoking gives it back, as for any invitation
    assert mail.outbox == []  # a member cannot use the link


def test_waitlisted_people_cannot_invite() -> None:
    with pytest.raises(services.PermissionDenied) as exc:
        services.invitation_create(inviter=WaitlistedUserFactory(), email="kim@example.com")
    assert exc.value.code == "waitlisted"


def test_accepting_makes_a_member_nominated_by_the_inviter_and_notifies_them() -> None:
    invitation = InvitationFactory(token="tok-accept")
    person = WaitlistedUserFactory()
    services.invitation_accept(token="tok-accept", user=person)
    person.refresh_from_db()
    invitation.refresh_from_db()
    assert person.status == User.Status.MEMBER
    assert person.invited_by == invitation.inviter
    assert person.joined_at is not None
    assert invitation.status == Invitation.Status.ACCEPTED
    assert invitation.accepted_by == person
    note = Notification.objects.get(recipient=invitation.inviter)
    assert note.kind == Notification.Kind.INVITATION_ACCEPTED
    assert note.actor == person


def test_a_used_invitation_cannot_be_used_again() -> None:
    InvitationFactory(token="tok-once")
    services.invitation_accept(token="tok-once", user=WaitlistedUserFactory())
    other = WaitlistedUserFactory()
    with pytest.raises(services.InvitationUsed) as exc:
        services.invitation_accept(token="tok-once", user=other)
    assert exc.value.code == "invitation_used"
    other.refresh_from_db()
    assert other.status == User.Status.WAITLISTED


def test_an_expired_invitation_is_refused() -> None:
    InvitationFactory(token="tok-old", expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(services.InvitationExpired) as exc:
        services.invitation_accept(token="tok-old", user=WaitlistedUserFactory())
    assert exc.value.code == "invitation_expired"


@pytest.mark.parametrize("token", ["forged-token", "", "x" * 500])
def test_a_forged_token_is_refused_as_invalid(token: str) -> None:
    InvitationFactory(token="tok-real")
    with pytest.raises(services.InvitationInvalid) as exc:
        services.invitation_accept(token=token, user=WaitlistedUserFactory())
    assert exc.value.code == "invitation_invalid"


def test_revoking_a_pending_invitation_refunds_the_quota_and_kills_the_link() -> None:
    inviter = UserFactory(invitation_quota=1)
    invitation, token = services.invitation_create(inviter=inviter, email="kim@example.com")
    services.invitation_revoke(invitation=invitation, by=inviter)
    services.invitation_revoke(invitation=invitation, by=inviter)  # idempotent: refunds once
    inviter.refresh_from_db()
    assert inviter.invitation_quota == 1
    with pytest.raises(services.InvitationRevoked) as exc:
        services.invitation_accept(token=token, user=WaitlistedUserFactory())
    assert exc.value.code == "invitation_revoked"


def test_an_expired_invitation_can_still_be_revoked_for_a_refund() -> None:
    inviter = UserFactory(invitation_quota=0)
    invitation = InvitationFactory(inviter=inviter, expires_at=timezone.now() - timedelta(days=1))
    services.invitation_revoke(invitation=invitation, by=inviter)
    inviter.refresh_from_db()
    assert inviter.invitation_quota == 1


def test_an_accepted_invitation_cannot_be_revoked() -> None:
    invitation = InvitationFactory(token="tok-acc")
    services.invitation_accept(token="tok-acc", user=WaitlistedUserFactory())
    with pytest.raises(services.InvitationUsed):
        services.invitation_revoke(invitation=invitation, by=invitation.inviter)


def test_only_the_inviter_can_revoke() -> None:
    invitation = InvitationFactory()
    with pytest.raises(services.NotFound):
        services.invitation_revoke(invitation=invitation, by=UserFactory())


def test_a_member_cannot_redeem_an_invitation_and_it_stays_usable() -> None:
    invitation = InvitationFactory(token="tok-keep")
    with pytest.raises(services.Conflict) as exc:
        services.invitation_accept(token="tok-keep", user=UserFactory())
    assert exc.value.code == "already_member"
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.PENDING


# --- API --------------------------------------------------------------------------------------
def test_api_creates_lists_and_revokes_invitations(as_user) -> None:
    inviter = UserFactory(invitation_quota=3)
    client = as_user(inviter)
    created = client.post("/api/v1/invitations/", {"email": "kim@example.com"}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["status"] == "pending"
    assert "/invite/" in body["link"]
    listed = client.get("/api/v1/invitations/").json()
    assert listed["count"] == 1
    assert "link" not in listed["results"][0]  # the token is shown once
    revoked = client.post(f"/api/v1/invitations/{body['id']}/revoke/")
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked"
    inviter.refresh_from_db()
    assert inviter.invitation_quota == 3


def test_api_invitation_without_quota_answers_409(as_user) -> None:
    response = as_user(UserFactory(invitation_quota=0)).post(
        "/api/v1/invitations/", {"email": "kim@example.com"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_invitations_left"


def test_api_revoking_someone_elses_invitation_is_404(as_user) -> None:
    invitation = InvitationFactory()
    response = as_user(UserFactory()).post(f"/api/v1/invitations/{invitation.pk}/revoke/")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("setup", "code", "status"),
    [
        ({}, "invitation_invalid", 404),
        ({"expires_at": timezone.now() - timedelta(days=1)}, "invitation_expired", 410),
        ({"status": Invitation.Status.REVOKED}, "invitation_revoked", 410),
        ({"status": Invitation.Status.ACCEPTED}, "invitation_used", 409),
    ],
)
def test_api_redeem_gives_a_distinct_code_for_each_bad_token(
    as_user, setup: dict, code: str, status: int
) -> None:
    token = "tok-bad" if setup else "tok-never-issued"
    if setup:
        InvitationFactory(token=token, **setup)
    response = as_user(WaitlistedUserFactory()).post(
        "/api/v1/invitations/redeem/", {"token": token}, format="json"
    )
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_api_redeem_makes_the_waitlisted_caller_a_member(as_user) -> None:
    invitation = InvitationFactory(token="tok-app")
    person = WaitlistedUserFactory()
    response = as_user(person).post(
        "/api/v1/invitations/redeem/", {"token": "tok-app"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "member"
    assert response.json()["nominated_by"]["username"] == invitation.inviter.username


# --- browser ----------------------------------------------------------------------------------
def _signup(client: Client, username: str) -> None:
    response = client.post(
        "/accounts/signup/",
        {
            "email": f"{username}@example.com",
            "username": username,
            "password1": "pw-Secret-123",
            "password2": "pw-Secret-123",
        },
    )
    assert response.status_code == 302, response.content


def test_signing_up_through_an_invite_link_makes_a_member_once_the_address_is_confirmed(
    client: Client,
) -> None:
    invitation = InvitationFactory(token="tok-browser")
    landing = client.get("/invite/tok-browser/")
    assert landing.status_code == 200
    assert invitation.inviter.name.encode() in landing.content
    _signup(client, "kim")
    kim = User.objects.get(username="kim")
    assert kim.status == User.Status.WAITLISTED  # the address is not confirmed yet
    confirm_link = re.search(r"/accounts/confirm-email/[^/\s]+/", mail.outbox[-1].body)
    assert confirm_link is not None
    assert client.post(confirm_link.group(0)).status_code == 302
    kim.refresh_from_db()
    assert kim.status == User.Status.MEMBER
    assert kim.invited_by == invitation.inviter
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.ACCEPTED
    assert client.get("/").status_code == 200  # a member is not sent to the waitlist


def test_signing_up_without_an_invitation_lands_on_the_waitlist(client: Client) -> None:
    _signup(client, "lee")
    assert User.objects.get(username="lee").status == User.Status.WAITLISTED
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/waitlist/"


@pytest.mark.parametrize(
    ("setup", "code", "status"),
    [
        (None, "invitation_invalid", 404),
        ({"expires_at": timezone.now() - timedelta(days=1)}, "invitation_expired", 410),
        ({"status": Invitation.Status.REVOKED}, "invitation_revoked", 410),
        ({"status": Invitation.Status.ACCEPTED}, "invitation_used", 409),
    ],
)
def test_invite_page_explains_a_bad_link_and_signup_then_waitlists(
    client: Client, setup: dict | None, code: str, status: int
) -> None:
    if setup is not None:
        InvitationFactory(token="tok-page", **setup)
    response = client.get("/invite/tok-page/")
    assert response.status_code == status
    assert f'data-code="{code}"'.encode() in response.content
    _signup(client, "max")
    assert User.objects.get(username="max").status == User.Status.WAITLISTED


def test_a_logged_in_waitlisted_person_accepts_from_the_invite_page(client: Client) -> None:
    invitation = InvitationFactory(token="tok-click")
    person = WaitlistedUserFactory()
    client.force_login(person)
    assert client.get("/invite/tok-click/").status_code == 200
    response = client.post("/invite/tok-click/")
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.status == User.Status.MEMBER
    assert person.invited_by == invitation.inviter


def test_no_mail_leaves_for_an_invitation_revoked_before_sending(
    django_capture_on_commit_callbacks,
) -> None:
    inviter = UserFactory()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        invitation, _ = services.invitation_create(inviter=inviter, email="kim@example.com")
    services.invitation_revoke(invitation=invitation, by=inviter)
    for callback in callbacks:
        callback()
    assert mail.outbox == []


def test_api_preview_is_public_and_shows_the_inviter() -> None:
    from rest_framework.test import APIClient

    invitation = InvitationFactory(token="tok-peek")
    response = APIClient().post(
        "/api/v1/invitations/preview/", {"token": "tok-peek"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["inviter"]["username"] == invitation.inviter.username
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.PENDING  # looking does not use it


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        (None, "invitation_invalid"),
        ({"expires_at": timezone.now() - timedelta(days=1)}, "invitation_expired"),
        ({"status": Invitation.Status.REVOKED}, "invitation_revoked"),
        ({"status": Invitation.Status.ACCEPTED}, "invitation_used"),
    ],
)
def test_api_preview_gives_the_same_codes_as_redeem(setup: dict | None, code: str) -> None:
    from rest_framework.test import APIClient

    if setup is not None:
        InvitationFactory(token="tok-peek", **setup)
    response = APIClient().post(
        "/api/v1/invitations/preview/", {"token": "tok-peek"}, format="json"
    )
    assert response.json()["error"]["code"] == code
