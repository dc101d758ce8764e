"""#20.3: least privilege beyond which pages open. A role that holds a change permission only to
run actions (Trust & safety on rooms, clubs and reports; curators on programs) cannot rewrite
the row from its page; Support reads beta feedback without triaging or answering it; and the
history panel is on every page where staff change things."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from accounts import services as account_services
from accounts.models import FeatureFeedback, FeatureFlag, Report, User
from accounts.roles import CREATOR_CURATORS, SUPPORT, TRUST_AND_SAFETY, role_grant, roles_sync
from clubs.models import Club, ClubMembershipRequest, ClubNomination, ClubReport
from payouts.models import CreatorProgram
from rooms.models import Room, RoomInvite, RoomRemoval
from tests.clubs.factories import ClubFactory, MembershipFactory, PremiumFactory
from tests.factories import (
    BlockFactory,
    FollowFactory,
    InvitationFactory,
    NotificationFactory,
    ReportFactory,
    TopicFactory,
    UserFactory,
    WaitlistVouchFactory,
)
from tests.payouts.conftest import make_creator
from tests.rooms.factories import EventFactory, RoomFactory, participant

pytestmark = pytest.mark.django_db
AUDIT = "/admin/staff-audit/"


@pytest.fixture(autouse=True)
def _roles() -> None:
    roles_sync()


def _client(role: str | None) -> tuple[Client, User]:
    user = UserFactory(is_staff=True, is_superuser=role is None)
    if role:
        role_grant(user=user, role=role)
    client = Client()
    client.force_login(user)
    return client, user


# --- actions, not edits -------------------------------------------------------------------

EDITS: list[tuple[str, Callable[[], Any], str, dict[str, Any], Callable[[Any], Any]]] = [
    ("room", RoomFactory, "/admin/rooms/room/{}/change/", {"title": "Renamed by staff"},
     lambda r: Room.objects.get(pk=r.pk).title),
    ("club", ClubFactory, "/admin/clubs/club/{}/change/", {"name": "Renamed by staff"},
     lambda c: Club.objects.get(pk=c.pk).name),
    ("report", ReportFactory, "/admin/accounts/report/{}/change/", {"text": "rewritten"},
     lambda r: Report.objects.get(pk=r.pk).text),
]  # fmt: skip


@pytest.mark.parametrize(("what", "make", "url", "edit", "read"), EDITS, ids=[e[0] for e in EDITS])
def test_trust_and_safety_sees_the_page_read_only_and_cannot_post_a_change(
    what: str, make: Callable[[], Any], url: str, edit: dict[str, Any], read: Callable[[Any], Any]
) -> None:
    obj = make()
    before = read(obj)
    client, _ = _client(TRUST_AND_SAFETY)
    page = client.get(url.format(obj.pk))
    assert page.status_code == 200
    field = next(iter(edit))
    assert f'name="{field}"'.encode() not in page.content  # shown, not editable
    assert b'name="_save"' not in page.content
    assert client.post(url.format(obj.pk), edit).status_code == 403
    assert read(obj) == before


@pytest.mark.parametrize(("what", "make", "url", "edit", "read"), EDITS, ids=[e[0] for e in EDITS])
def test_a_superuser_still_edits_the_row(
    what: str, make: Callable[[], Any], url: str, edit: dict[str, Any], read: Callable[[Any], Any]
) -> None:
    client, _ = _client(None)
    page = client.get(url.format(make().pk))
    assert f'name="{next(iter(edit))}"'.encode() in page.content


def test_a_curator_changes_a_programs_terms_only_through_its_audited_pages() -> None:
    program = CreatorProgram.objects.get(user=make_creator(stipend=True))
    client, _ = _client(CREATOR_CURATORS)
    url = f"/admin/payouts/creatorprogram/{program.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    assert b'name="stipend_amount"' not in page.content
    client.post(url, {"stipend_amount": "1", "send_money_enabled": ""})
    after = CreatorProgram.objects.get(pk=program.pk)
    assert (after.stipend_amount, after.send_money_enabled) == (
        program.stipend_amount,
        program.send_money_enabled,
    )
    assert client.get(f"/admin/payouts/creatorprogram/{program.pk}/terms/").status_code == 200


# --- the Send Money beta: curators run it, Support reads the feedback ----------------------


def _feedback() -> FeatureFeedback:
    flag = FeatureFlag.objects.create(key="roles-beta", name="Roles beta")
    return account_services.feature_feedback_create(key=flag.key, user=UserFactory(), rating=2,
                                                    text="the button is hidden")  # fmt: skip


def test_support_reads_feedback_without_marking_it_read_or_answering() -> None:
    feedback = _feedback()
    client, _ = _client(SUPPORT)
    page = client.get(f"/admin/accounts/featurefeedback/{feedback.pk}/change/")
    assert page.status_code == 200
    assert b"the button is hidden" in page.content
    assert b"data-feedback-reply" not in page.content
    assert FeatureFeedback.objects.get(pk=feedback.pk).status == FeatureFeedback.Status.NEW
    answer = client.post(f"/admin/accounts/featurefeedback/{feedback.pk}/reply/",
                         {"channel": "notification", "message": "thanks"})  # fmt: skip
    assert answer.status_code == 403
    assert FeatureFeedback.objects.get(pk=feedback.pk).status == FeatureFeedback.Status.NEW


def test_a_curator_answers_feedback_and_it_is_in_its_history_and_the_staff_audit() -> None:
    feedback = _feedback()
    client, curator = _client(CREATOR_CURATORS)
    page = client.get(f"/admin/accounts/featurefeedback/{feedback.pk}/change/")
    assert b"data-feedback-reply" in page.content
    client.post(f"/admin/accounts/featurefeedback/{feedback.pk}/reply/",
                {"channel": "notification", "message": "moved it up, thanks"})  # fmt: skip
    assert FeatureFeedback.objects.get(pk=feedback.pk).status == FeatureFeedback.Status.ANSWERED
    page = client.get(f"/admin/accounts/featurefeedback/{feedback.pk}/change/")
    history = page.content.split(b"data-staff-history")[1]
    assert b"feedback_answered" in history
    assert b"moved it up, thanks" in history
    rows = client.get(f"{AUDIT}?action=feedback_answered").context["rows"]
    assert [(row.actor_name, row.object_id) for row, _ in rows] == [
        (curator.username, str(feedback.pk))
    ]


def test_a_curator_adds_people_to_a_cohort_and_it_is_one_action_in_the_history() -> None:
    flag = FeatureFlag.objects.create(key="cohort-beta", name="Cohort beta", enabled=True)
    ada, bob = UserFactory(username="ada"), UserFactory(username="bob")
    client, curator = _client(CREATOR_CURATORS)
    done = client.post(f"/admin/accounts/featureflag/{flag.pk}/cohort/add/",
                       {"usernames": f"{ada.username}\n{bob.username}"})  # fmt: skip
    assert done.status_code == 302
    page = client.get(f"/admin/accounts/featureflag/{flag.pk}/change/")
    history = page.content.split(b"data-staff-history")[1]
    assert b"cohort_added" in history
    assert b"+2: @ada, @bob; CSV upload (typed)" in history
    rows = client.get(f"{AUDIT}?action=cohort_added").context["rows"]
    assert [(row.actor_name, row.model, row.object_id) for row, _ in rows] == [
        (curator.username, "featureflag", str(flag.pk))
    ]


# --- the history panel where staff change things -------------------------------------------


def _room_participant() -> Any:
    room = RoomFactory()
    return participant(room, UserFactory())


HISTORY_PAGES: list[tuple[str, Callable[[], Any]]] = [
    ("accounts/invitation", InvitationFactory),
    ("accounts/topic", TopicFactory),
    ("accounts/follow", FollowFactory),
    ("accounts/block", BlockFactory),
    ("accounts/notification", NotificationFactory),
    ("accounts/waitlistvouch", WaitlistVouchFactory),
    ("accounts/featureflag", lambda: FeatureFlag.objects.create(key="h", name="H")),
    ("accounts/featurefeedback", _feedback),
    ("clubs/clubmembership", MembershipFactory),
    ("clubs/clubnomination", lambda: ClubNomination.objects.create(
        club=ClubFactory(), nominee=UserFactory(), nominated_by=UserFactory())),
    ("clubs/clubmembershiprequest", lambda: ClubMembershipRequest.objects.create(
        club=ClubFactory(), user=UserFactory())),
    ("clubs/clubreport", lambda: ClubReport.objects.create(
        club=ClubFactory(), reporter=UserFactory(), reason="spam")),
    ("clubs/premiummembership", PremiumFactory),
    ("rooms/roomparticipant", _room_participant),
    ("rooms/roomremoval", lambda: RoomRemoval.objects.create(room=RoomFactory(),
                                                             user=UserFactory())),
    ("rooms/roominvite", lambda: RoomInvite.objects.create(room=RoomFactory(),
                                                           user=UserFactory())),
    ("rooms/scheduledevent", EventFactory),
]  # fmt: skip


@pytest.mark.parametrize(("model", "make"), HISTORY_PAGES, ids=[m for m, _ in HISTORY_PAGES])
def test_the_page_shows_its_history(model: str, make: Callable[[], Any]) -> None:
    client, _ = _client(None)
    page = client.get(f"/admin/{model}/{make().pk}/change/")
    assert page.status_code == 200
    assert b"data-staff-history" in page.content


def test_a_staff_revoke_of_an_invitation_says_who_on_its_page() -> None:
    invitation = InvitationFactory()
    client, staff = _client(None)
    client.post("/admin/accounts/invitation/", {"action": "revoke",
                "_selected_action": [invitation.pk]})  # fmt: skip
    page = client.get(f"/admin/accounts/invitation/{invitation.pk}/change/")
    history = page.content.split(b"data-staff-history")[1]
    assert staff.username.encode() in history
    assert b"Revoked (the inviter&#x27;s quota refunded)" in history
