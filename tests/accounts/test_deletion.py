"""Deleting an account (issue #12, Accounts): from the API and the settings page, with the
password; the person's name, e-mail, profile, graph and sessions go; the row stays anonymised;
their e-mail can sign up again. Money records are in tests/payouts/test_account_deletion.py,
sockets in tests/rooms/test_deletion_realtime.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services
from accounts.models import AccountEvent, Follow, Invitation, Notification, User
from clubs.models import ClubAuditEntry, ClubMembership
from clubs.services import club_create
from rooms.models import RoomVisit, ScheduledEvent
from tests.factories import PASSWORD, FollowFactory, UserFactory
from tests.rooms.factories import EventFactory, RoomFactory

pytestmark = pytest.mark.django_db

APP = "/_allauth/app/v1"


def _delete_by_api(client: APIClient, **body: str) -> object:
    return client.post("/api/v1/me/delete/", body, format="json")


def test_a_member_deletes_their_account_with_their_password_and_it_is_anonymised() -> None:
    person = UserFactory(bio="I like jazz", display_name="Kim K", first_name="Kim")
    original = (person.username, person.email)
    api = APIClient()
    api.force_login(person)

    wrong = _delete_by_api(api, password="not-it")
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == "password_incorrect"
    assert User.objects.get(pk=person.pk).deleted_at is None

    response = _delete_by_api(api, password=PASSWORD)

    assert response.status_code == 204
    row = User.objects.get(pk=person.pk)
    assert row.username == f"deleted-{person.pk}"
    assert original[0] not in (row.username, row.email)
    assert original[1] != row.email
    assert row.email.endswith("@deleted.invalid")
    assert (row.display_name, row.bio, row.first_name, row.links) == ("", "", "", [])
    assert not row.is_active
    assert not row.has_usable_password()
    assert row.deleted_at is not None
    assert not User.objects.filter(username=original[0]).exists()
    assert not User.objects.filter(email=original[1]).exists()
    assert AccountEvent.objects.filter(user=row, kind=AccountEvent.Kind.DELETED).count() == 1
    # the browser session that asked is over
    assert api.get("/api/v1/me/").status_code in (401, 403)


def test_a_deleted_member_cannot_log_in_and_their_token_stops_working() -> None:
    person = UserFactory()
    login = APIClient().post(
        f"{APP}/auth/login", {"email": person.email, "password": PASSWORD}, format="json"
    )
    token = login.json()["meta"]["session_token"]
    app = APIClient(HTTP_X_SESSION_TOKEN=token)
    assert app.get("/api/v1/me/").status_code == 200

    services.account_delete(user=person, actor=person)

    assert app.get("/api/v1/me/").status_code == 401
    again = APIClient().post(
        f"{APP}/auth/login", {"email": person.email, "password": PASSWORD}, format="json"
    )
    assert again.status_code == 400
    browser = Client()
    assert not browser.login(username=person.username, password=PASSWORD)


def test_their_email_can_sign_up_again() -> None:
    person = UserFactory(email="kim@example.com")
    services.account_delete(user=person, actor=person)

    response = APIClient().post(
        f"{APP}/auth/signup",
        {"email": "kim@example.com", "username": person.username, "password": PASSWORD},
        format="json",
    )

    assert response.status_code == 200, response.json()
    newcomer = User.objects.get(email="kim@example.com")
    assert newcomer.pk != person.pk
    assert newcomer.username == person.username


def test_deletion_removes_the_social_graph_and_pending_invitations() -> None:
    person, friend, fan = UserFactory(), UserFactory(), UserFactory()
    FollowFactory(follower=person, followee=friend)
    FollowFactory(follower=fan, followee=person)
    services.user_follow(follower=person, followee=fan)  # a notification for the fan
    pending = Invitation.objects.create(
        inviter=person,
        email="cousin@example.com",
        token_hash="h1",
        expires_at=timezone.now() + timedelta(days=3),
    )
    room = RoomFactory()
    RoomVisit.objects.create(room=room, user=person)

    services.account_delete(user=person, actor=person)

    assert not Follow.objects.filter(follower_id=person.pk).exists()
    assert not Follow.objects.filter(followee_id=person.pk).exists()
    assert not Notification.objects.filter(actor_id=person.pk).exists()
    assert not Invitation.objects.filter(pk=pending.pk).exists()
    assert not RoomVisit.objects.filter(user_id=person.pk).exists()


def test_the_last_admin_of_a_club_hands_it_to_its_longest_standing_member() -> None:
    founder, first, second = UserFactory(), UserFactory(), UserFactory()
    club = club_create(creator=founder, name="Night Owls")
    ClubMembership.objects.create(club=club, user=first)
    ClubMembership.objects.create(club=club, user=second)

    services.account_delete(user=founder, actor=founder)

    assert not ClubMembership.objects.filter(user=founder).exists()
    assert ClubMembership.objects.get(club=club, user=first).role == "admin"
    assert ClubMembership.objects.get(club=club, user=second).role == "member"
    assert ClubAuditEntry.objects.filter(club=club, action="admin_handed_over").exists()


def test_deleting_twice_changes_nothing() -> None:
    person = UserFactory()
    services.account_delete(user=person, actor=person)
    services.account_delete(user=person, actor=person)
    assert AccountEvent.objects.filter(user=person, kind=AccountEvent.Kind.DELETED).count() == 1


def test_the_settings_page_deletes_the_account_after_the_password(client: Client) -> None:
    person = UserFactory()
    client.force_login(person)
    page = client.get("/settings/")
    assert page.status_code == 200
    assert b"Delete your account" in page.content
    assert b"/settings/export/" in page.content

    refused = client.post("/settings/delete/", {"password": "nope"})
    assert refused.status_code == 400
    assert b"That is not your password." in refused.content

    done = client.post("/settings/delete/", {"password": PASSWORD}, follow=True)
    assert done.status_code == 200
    assert b"Your account is deleted" in done.content
    assert User.objects.get(pk=person.pk).deleted_at is not None
    assert client.get("/settings/").status_code == 302  # logged out


def test_an_account_without_a_password_confirms_with_its_username() -> None:
    person = UserFactory()
    person.set_unusable_password()
    person.save()
    api = APIClient()
    api.force_login(person)
    assert _delete_by_api(api, confirm="someone-else").json()["error"]["code"] == (
        "confirmation_required"
    )
    assert _delete_by_api(api, confirm=person.username).status_code == 204


def test_a_username_of_a_deleted_account_cannot_be_taken_by_hand() -> None:
    response = APIClient().post(
        f"{APP}/auth/signup",
        {"email": "x@example.com", "username": "deleted-12345", "password": PASSWORD},
        format="json",
    )
    assert response.status_code == 400


def test_the_privacy_page_says_what_is_kept_and_is_linked_from_every_page(client: Client) -> None:
    page = client.get("/privacy/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Audio is never recorded" in text
    assert "<strong>90 days</strong>" in text  # ROOM_VISIT_RETENTION_DAYS
    assert "/settings/" in text  # how to export and delete
    assert 'href="/privacy/"' in client.get("/").content.decode()
    client.force_login(UserFactory())
    assert 'href="/privacy/"' in client.get("/settings/").content.decode()


def test_an_upcoming_event_they_alone_host_is_cancelled_and_a_shared_one_goes_on() -> None:
    person, cohost = UserFactory(), UserFactory()
    alone = EventFactory(created_by=person)
    shared = EventFactory(created_by=person, hosts=[person, cohost])

    services.account_delete(user=person, actor=person)

    assert not ScheduledEvent.objects.filter(pk=alone.pk).exists()
    assert list(ScheduledEvent.objects.get(pk=shared.pk).hosts.all()) == [cohost]
