"""A confirmed e-mail address comes before inviting, letting in, tipping and becoming a member:
someone who signed up with a friend's address before the friend did gains nothing by it."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import unquote

import pytest
from django.core import mail
from django.test import Client
from rest_framework.test import APIClient

from accounts import services
from accounts.models import User
from clubhouse.money import Money
from payouts.services import tip_send
from tests.factories import (
    InvitationFactory,
    UserFactory,
    WaitlistedUserFactory,
    WaitlistVouchFactory,
)

pytestmark = pytest.mark.django_db

AsUser = Callable[[User], APIClient]


def _error_code(response) -> str:  # type: ignore[no-untyped-def]
    return response.json()["error"]["code"]


# --- the member who acts ------------------------------------------------------------------
def test_an_unconfirmed_member_cannot_invite_and_keeps_their_invitations(as_user: AsUser) -> None:
    member = UserFactory(email_verified=False, invitation_quota=3)
    response = as_user(member).post(
        "/api/v1/invitations/", {"email": "friend@example.com"}, format="json"
    )
    assert response.status_code == 403
    assert _error_code(response) == "email_unverified"
    member.refresh_from_db()
    assert member.invitation_quota == 3
    assert not member.invitations_sent.exists()


def test_an_unconfirmed_member_cannot_let_anyone_in(as_user: AsUser) -> None:
    member = UserFactory(email_verified=False, invitation_quota=3)
    waiting = WaitlistedUserFactory()
    response = as_user(member).post(
        "/api/v1/waitlist/let-in/", {"username": waiting.username}, format="json"
    )
    assert response.status_code == 403
    assert _error_code(response) == "email_unverified"
    waiting.refresh_from_db()
    assert waiting.status == User.Status.WAITLISTED


def test_an_unconfirmed_member_cannot_send_a_tip(as_user: AsUser) -> None:
    sender = UserFactory(email_verified=False)
    creator = UserFactory()
    response = as_user(sender).post(
        "/api/v1/payouts/tips/",
        {"creator": creator.username, "amount": 500, "currency": "usd"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="tip-unverified-1",
    )
    assert response.status_code == 403
    assert _error_code(response) == "email_unverified"
    assert as_user(sender).get("/api/v1/payouts/tips/").json()["results"] == []


def test_me_says_whether_the_address_is_confirmed(as_user: AsUser) -> None:
    assert as_user(UserFactory()).get("/api/v1/me/").json()["email_verified"] is True
    unconfirmed = as_user(UserFactory(email_verified=False)).get("/api/v1/me/").json()
    assert unconfirmed["email_verified"] is False


# --- the person let in --------------------------------------------------------------------
def test_letting_in_by_the_address_of_an_unconfirmed_account_lets_nobody_in(
    as_user: AsUser,
) -> None:
    member = UserFactory(invitation_quota=3)
    squatter = WaitlistedUserFactory(email="friend@example.com", email_verified=False)
    response = as_user(member).post(
        "/api/v1/waitlist/let-in/", {"email": "friend@example.com"}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == {"let_in": False, "invitation_quota": 3}
    squatter.refresh_from_db()
    assert squatter.status == User.Status.WAITLISTED


def test_answering_a_vouch_of_an_unconfirmed_account_says_why_and_spends_nothing() -> None:
    member = UserFactory(invitation_quota=3)
    waiting = WaitlistedUserFactory(email_verified=False)
    with pytest.raises(services.ApplicationError) as refused:
        services.waitlist_let_in(member=member, target=waiting)
    assert refused.value.code == "invitee_email_unverified"
    member.refresh_from_db()
    waiting.refresh_from_db()
    assert (member.invitation_quota, waiting.status) == (3, User.Status.WAITLISTED)


def test_an_unconfirmed_waitlisted_person_cannot_name_a_member(as_user: AsUser) -> None:
    member = UserFactory()
    waiting = WaitlistedUserFactory(email_verified=False)
    response = as_user(waiting).post(
        "/api/v1/waitlist/vouches/", {"username": member.username}, format="json"
    )
    assert response.status_code == 403
    assert _error_code(response) == "email_unverified"
    assert not member.notifications.exists()


def test_staff_let_in_skips_unconfirmed_addresses() -> None:
    staff = UserFactory(staff=True)
    confirmed = WaitlistedUserFactory()
    unconfirmed = WaitlistedUserFactory(email_verified=False)
    assert services.waitlist_let_in_by_staff(staff=staff, users=[confirmed, unconfirmed]) == 1
    unconfirmed.refresh_from_db()
    assert unconfirmed.status == User.Status.WAITLISTED


def test_an_unconfirmed_person_cannot_redeem_an_invitation_and_it_stays_usable(
    as_user: AsUser,
) -> None:
    InvitationFactory(token="tok-unconfirmed")
    person = WaitlistedUserFactory(email_verified=False)
    response = as_user(person).post(
        "/api/v1/invitations/redeem/", {"token": "tok-unconfirmed"}, format="json"
    )
    assert response.status_code == 403
    assert _error_code(response) == "email_unverified"
    person.refresh_from_db()
    assert person.status == User.Status.WAITLISTED
    confirmed = WaitlistedUserFactory()
    redeemed = as_user(confirmed).post(
        "/api/v1/invitations/redeem/", {"token": "tok-unconfirmed"}, format="json"
    )
    assert redeemed.status_code == 200


def test_an_app_signup_with_an_invitation_joins_once_the_address_is_confirmed() -> None:
    InvitationFactory(token="tok-app")
    app_url = "/_allauth/app/v1"
    signup = APIClient().post(
        f"{app_url}/auth/signup",
        {"email": "kim@example.com", "username": "kim", "password": "pw-Secret-123"},
        format="json",
    )
    token = signup.json()["meta"]["session_token"]
    app = APIClient(HTTP_X_SESSION_TOKEN=token)
    refused = app.post("/api/v1/invitations/redeem/", {"token": "tok-app"}, format="json")
    assert refused.status_code == 403
    assert _error_code(refused) == "email_unverified"
    key = re.search(r"/accounts/confirm-email/([^/\s]+)/", mail.outbox[-1].body)
    assert key is not None
    verified = app.post(
        f"{app_url}/auth/email/verify", {"key": unquote(key.group(1))}, format="json"
    )
    assert verified.status_code == 200, verified.json()
    redeemed = app.post("/api/v1/invitations/redeem/", {"token": "tok-app"}, format="json")
    assert redeemed.status_code == 200, redeemed.json()
    assert User.objects.get(username="kim").status == User.Status.MEMBER


# --- the web client -----------------------------------------------------------------------
def test_pages_show_an_unconfirmed_person_a_banner_that_resends_the_mail(client: Client) -> None:
    person = UserFactory(email_verified=False)
    client.force_login(person)
    page = client.get("/invitations/").content.decode()
    assert "data-email-unverified" in page
    assert 'action="/accounts/email/"' in page
    mail.outbox.clear()
    resent = client.post("/accounts/email/", {"email": person.email, "action_send": ""})
    assert resent.status_code == 302
    assert [message.to for message in mail.outbox] == [[person.email]]
    confirmed = UserFactory()
    client.force_login(confirmed)
    assert "data-email-unverified" not in client.get("/invitations/").content.decode()


def test_a_vouch_from_a_confirmed_waitlisted_person_can_be_answered() -> None:
    vouch = WaitlistVouchFactory()
    assert services.waitlist_let_in(member=vouch.member, target=vouch.requester) is True


def test_accepting_on_the_invite_page_before_confirming_waits_for_the_confirmation(
    client: Client,
) -> None:
    invitation = InvitationFactory(token="tok-page-unconfirmed")
    person = WaitlistedUserFactory(email_verified=False)
    client.force_login(person)
    refused = client.post("/invite/tok-page-unconfirmed/")
    assert refused.status_code == 403
    assert b'data-code="email_unverified"' in refused.content
    person.refresh_from_db()
    assert person.status == User.Status.WAITLISTED
    mail.outbox.clear()
    client.post("/accounts/email/", {"email": person.email, "action_send": ""})
    link = re.search(r"/accounts/confirm-email/[^/\s]+/", mail.outbox[-1].body)
    assert link is not None
    assert client.post(link.group(0)).status_code == 302
    person.refresh_from_db()
    assert person.status == User.Status.MEMBER
    assert person.invited_by == invitation.inviter


def test_the_tip_service_itself_refuses_an_unconfirmed_sender() -> None:
    """Not only the API: any caller of tip_send (a task, an admin action, a future view)."""
    sender, creator = UserFactory(email_verified=False), UserFactory()
    with pytest.raises(services.ApplicationError) as refused:
        tip_send(sender=sender, creator=creator, amount=Money(500, "USD"))
    assert refused.value.code == "email_unverified"
