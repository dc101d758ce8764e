"""The waitlist: what a waitlisted person can reach, naming members, and the three let-in paths
(a member answering a vouch, a member by username or e-mail, staff in bulk)."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts import services
from accounts.models import Notification, User, WaitlistVouch
from tests.factories import BlockFactory, UserFactory, WaitlistedUserFactory

pytestmark = pytest.mark.django_db


# --- what the waitlist sees ------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/u/someone/", "/nowhere/"])
def test_pages_redirect_a_waitlisted_person_to_the_waitlist_screen(
    client: Client, path: str
) -> None:
    client.force_login(WaitlistedUserFactory())
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == "/waitlist/"


@pytest.mark.parametrize(
    "path", ["/waitlist/", "/accounts/logout/", "/accounts/password/change/", "/accounts/email/"]
)
def test_the_waitlist_screen_and_account_pages_stay_open(client: Client, path: str) -> None:
    client.force_login(WaitlistedUserFactory())
    assert client.get(path).status_code == 200


def test_a_waitlisted_person_can_log_out(client: Client) -> None:
    client.force_login(WaitlistedUserFactory())
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 200


def test_a_waitlisted_person_can_log_in_and_is_sent_to_the_waitlist(client: Client) -> None:
    person = WaitlistedUserFactory()
    response = client.post("/accounts/login/", {"login": person.email, "password": "pw-Secret-123"})
    assert response.status_code == 302
    assert response["Location"] == "/waitlist/"


def test_members_are_not_redirected(client: Client) -> None:
    client.force_login(UserFactory())
    assert client.get("/").status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/users/{member}/"),
        ("post", "/api/v1/users/{member}/follow/"),
        ("get", "/api/v1/users/{member}/followers/"),
        ("get", "/api/v1/invitations/"),
        ("post", "/api/v1/waitlist/let-in/"),
        ("get", "/api/v1/me/mutuals/"),
    ],
)
def test_member_only_api_answers_403_waitlisted(as_user, method: str, path: str) -> None:
    member = UserFactory()
    response = getattr(as_user(WaitlistedUserFactory()), method)(
        path.format(member=member.username), {}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "waitlisted"


def test_a_waitlisted_person_can_still_read_their_own_profile(as_user) -> None:
    response = as_user(WaitlistedUserFactory()).get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["status"] == "waitlisted"


# --- naming members ----------------------------------------------------------------------------
def test_naming_a_member_notifies_them_once() -> None:
    person, member = WaitlistedUserFactory(), UserFactory()
    services.waitlist_vouch_request(requester=person, member=member)
    services.waitlist_vouch_request(requester=person, member=member)
    notes = Notification.objects.filter(recipient=member, kind=Notification.Kind.WAITLIST_VOUCH)
    assert notes.count() == 1
    assert notes.get().actor == person
    assert notes.get().data["username"] == person.username


def test_naming_someone_who_is_not_a_member_is_404(as_user) -> None:
    other = WaitlistedUserFactory()
    response = as_user(WaitlistedUserFactory()).post(
        "/api/v1/waitlist/vouches/", {"username": other.username}, format="json"
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "user_not_found"


def test_naming_a_member_who_blocked_you_is_404_and_silent() -> None:
    person, member = WaitlistedUserFactory(), UserFactory()
    BlockFactory(blocker=member, blocked=person)
    with pytest.raises(services.NotFound):
        services.waitlist_vouch_request(requester=person, member=member)
    assert not Notification.objects.filter(recipient=member).exists()


def test_api_vouches_list_for_members_shows_who_named_them(as_user) -> None:
    member = UserFactory()
    person = WaitlistedUserFactory()
    response = as_user(person).post(
        "/api/v1/waitlist/vouches/", {"username": member.username}, format="json"
    )
    assert response.status_code == 201
    listed = as_user(member).get("/api/v1/waitlist/vouches/").json()
    assert [v["requester"]["username"] for v in listed["results"]] == [person.username]
    mine = as_user(person).get("/api/v1/waitlist/vouches/").json()
    assert [v["member"]["username"] for v in mine["results"]] == [member.username]


def test_the_waitlist_page_lets_a_person_name_a_member(client: Client) -> None:
    member = UserFactory()
    person = WaitlistedUserFactory()
    client.force_login(person)
    response = client.post("/waitlist/", {"username": member.username})
    assert response.status_code == 302
    assert WaitlistVouch.objects.filter(requester=person, member=member).exists()


# --- path 1: a member answers a vouch in one action -------------------------------------------
def test_a_member_lets_in_someone_who_named_them_spending_one_invitation(client: Client) -> None:
    member = UserFactory(invitation_quota=2)
    person = WaitlistedUserFactory()
    services.waitlist_vouch_request(requester=person, member=member)
    client.force_login(member)
    page = client.get("/waitlist/")
    assert person.username.encode() in page.content
    response = client.post("/waitlist/let-in/", {"username_or_email": person.username})
    assert response.status_code == 302
    person.refresh_from_db()
    member.refresh_from_db()
    assert person.status == User.Status.MEMBER
    assert person.invited_by == member
    assert member.invitation_quota == 1
    assert not WaitlistVouch.objects.filter(requester=person).exists()
    assert Notification.objects.filter(recipient=person, kind=Notification.Kind.LET_IN).exists()


# --- path 2: a member by username or e-mail ----------------------------------------------------
@pytest.mark.parametrize("by", ["username", "email"])
def test_api_let_in_by_username_or_email(as_user, by: str) -> None:
    member = UserFactory(invitation_quota=1)
    person = WaitlistedUserFactory()
    response = as_user(member).post(
        "/api/v1/waitlist/let-in/", {by: getattr(person, by).upper()}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json() == {"let_in": True, "invitation_quota": 0}  # no profile data
    person.refresh_from_db()
    assert person.status == User.Status.MEMBER
    assert person.invited_by == member


def test_letting_in_a_member_is_idempotent_and_spends_nothing(as_user) -> None:
    member = UserFactory(invitation_quota=1)
    person = WaitlistedUserFactory()
    assert services.waitlist_let_in(member=member, target=person) is True
    other = UserFactory(invitation_quota=1)
    response = as_user(other).post(
        "/api/v1/waitlist/let-in/", {"username": person.username}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["let_in"] is False
    assert response.json()["invitation_quota"] == 1
    assert services.waitlist_let_in(member=member, target=person) is False
    person.refresh_from_db()
    assert person.invited_by == member


def test_let_in_without_quota_is_a_clear_409(as_user) -> None:
    person = WaitlistedUserFactory()
    response = as_user(UserFactory(invitation_quota=0)).post(
        "/api/v1/waitlist/let-in/", {"username": person.username}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_invitations_left"
    person.refresh_from_db()
    assert person.status == User.Status.WAITLISTED


def test_let_in_of_an_unknown_person_answers_as_for_a_member(as_user) -> None:
    """Never an oracle: see test_no_email_oracle.py for every case."""
    client = as_user(UserFactory(invitation_quota=1))
    unknown = client.post("/api/v1/waitlist/let-in/", {"email": "nobody@example.com"})
    member = client.post("/api/v1/waitlist/let-in/", {"email": UserFactory().email})
    assert unknown.status_code == member.status_code == 200
    assert unknown.json() == member.json() == {"let_in": False, "invitation_quota": 1}


def test_let_in_needs_exactly_one_of_username_or_email(as_user) -> None:
    response = as_user(UserFactory()).post(
        "/api/v1/waitlist/let-in/", {"username": "a", "email": "a@example.com"}, format="json"
    )
    assert response.status_code == 400
    assert "username" in response.json()["error"]["fields"]


# --- path 3: staff in bulk ----------------------------------------------------------------------
def test_staff_let_in_in_bulk_spends_no_quota() -> None:
    staff = UserFactory(staff=True, invitation_quota=0)
    people = [WaitlistedUserFactory(), WaitlistedUserFactory()]
    member = UserFactory()
    joined = services.waitlist_let_in_by_staff(staff=staff, users=[*people, member])
    assert joined == 2
    for person in people:
        person.refresh_from_db()
        assert person.status == User.Status.MEMBER
        assert person.invited_by is None
    staff.refresh_from_db()
    assert staff.invitation_quota == 0
    assert services.waitlist_let_in_by_staff(staff=staff, users=people) == 0
