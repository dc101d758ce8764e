"""The data export (issue #12, Accounts): everything kept about the member, from the API and the
settings page's download button, and nothing private about anyone else."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Invitation
from clubs.models import ClubMembership
from rooms.models import RoomVisit
from tests.clubs.factories import ClubFactory
from tests.factories import FollowFactory, InvitationFactory, NotificationFactory, UserFactory
from tests.rooms.factories import RoomFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> dict:
    me = UserFactory(bio="Night owl", email="me@example.com")
    friend = UserFactory(email="friend-private@example.com")
    fan = UserFactory(email="fan-private@example.com")
    invitee = UserFactory(email="invitee-private@example.com")
    FollowFactory(follower=me, followee=friend)
    FollowFactory(follower=fan, followee=me)
    FollowFactory(follower=fan, followee=friend)  # someone else's follow: not mine to export
    accepted = InvitationFactory(inviter=me, email=invitee.email)
    Invitation.objects.filter(pk=accepted.pk).update(
        status=Invitation.Status.ACCEPTED, accepted_by=invitee, accepted_at=timezone.now()
    )
    InvitationFactory(inviter=me, email="cousin@example.com")  # pending: I typed it
    NotificationFactory(recipient=me, actor=fan)
    NotificationFactory(recipient=friend, actor=fan)  # someone else's
    club = ClubFactory(name="Night Owls")
    ClubMembership.objects.create(club=club, user=me)
    hosted = RoomFactory(created_by=me, title="My show")
    visited = RoomFactory(created_by=friend, title="Friend's show")
    RoomVisit.objects.create(room=visited, user=me)
    RoomVisit.objects.create(room=hosted, user=fan)
    return {"me": me, "friend": friend, "fan": fan, "invitee": invitee, "club": club}


def test_the_api_export_has_the_members_data(world: dict) -> None:
    api = APIClient()
    api.force_login(world["me"])

    response = api.get("/api/v1/me/export/")

    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    data = response.json()
    assert data["profile"]["email"] == "me@example.com"
    assert data["profile"]["bio"] == "Night owl"
    assert [f["user"]["username"] for f in data["following"]] == [world["friend"].username]
    assert [f["user"]["username"] for f in data["followers"]] == [world["fan"].username]
    assert {i["status"] for i in data["invitations_sent"]} == {"accepted", "pending"}
    assert [n["actor"]["username"] for n in data["notifications"]] == [world["fan"].username]
    assert [m["club"] for m in data["clubs"]["memberships"]] == [world["club"].slug]
    assert [r["title"] for r in data["rooms"]["hosted"]] == ["My show"]
    assert [r["title"] for r in data["rooms"]["visited"]] == ["Friend's show"]
    assert set(data["money"]) >= {"tips_sent", "tips_received", "tickets_bought",
                                  "club_subscriptions", "payouts", "stipends"}  # fmt: skip


def test_the_export_has_no_one_elses_private_data(world: dict) -> None:
    api = APIClient()
    api.force_login(world["me"])
    text = json.dumps(api.get("/api/v1/me/export/").json())

    for other in ("friend-private@example.com", "fan-private@example.com",
                  "invitee-private@example.com"):  # fmt: skip
        assert other not in text
    # the accepted invitation names the member it admitted, not their address
    assert world["invitee"].username in text
    assert "cousin@example.com" in text  # a pending invitation shows what I typed


def test_the_settings_page_downloads_the_same_export(world: dict, client: Client) -> None:
    client.force_login(world["me"])
    response = client.get("/settings/export/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "attachment" in response["Content-Disposition"]
    data = json.loads(response.content)
    assert data["profile"]["username"] == world["me"].username
    assert "fan-private@example.com" not in response.content.decode()


def test_the_export_needs_a_login() -> None:
    assert APIClient().get("/api/v1/me/export/").status_code == 401
    assert Client().get("/settings/export/").status_code == 302
