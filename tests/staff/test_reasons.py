"""#20.4: every moderation action in the back office asks why before it does anything, and the
reason is recorded with who did it: on the object's page (its history) and in the staff audit
list. Each row below is one action, run as a real admin request by the role that does it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from accounts.models import Report, User
from accounts.roles import TRUST_AND_SAFETY, role_grant, roles_sync
from clubs import services as club_services
from clubs.models import (
    Club,
    ClubAuditEntry,
    ClubMembership,
    ClubMembershipRequest,
    ClubNomination,
    ClubReport,
    PremiumMembership,
)
from rooms import events as room_events
from rooms import services as room_services
from rooms.models import Room, RoomEventLog
from tests.clubs.factories import ClubFactory, MembershipFactory, PremiumFactory
from tests.factories import ReportFactory, UserFactory
from tests.rooms.factories import RoomFactory

pytestmark = pytest.mark.django_db
AUDIT = "/admin/staff-audit/"


@pytest.fixture(autouse=True)
def _roles() -> None:
    roles_sync()


def _staff(role: str | None) -> tuple[Client, User]:
    """A Trust & safety member, or (None) a superuser for what no role may do."""
    user = UserFactory(is_staff=True, is_superuser=role is None)
    if role:
        role_grant(user=user, role=role)
    client = Client()
    client.force_login(user)
    return client, user


@dataclass
class Case:
    name: str
    role: str | None
    admin: str  # app/model of the list the action runs from
    action: str
    make: Callable[[], Any]  # the row the action runs on
    audit: str  # the action's name in the staff audit list
    history: Callable[[Any], str]  # the page whose history shows the reason
    done: Callable[[Any], bool]  # whether the action happened

    def __str__(self) -> str:
        return self.name


def _club_page(obj: Any) -> str:
    club_id = obj.pk if isinstance(obj, Club) else obj.club_id
    return f"/admin/clubs/club/{club_id}/change/"


def _nomination() -> ClubNomination:
    club = ClubFactory()
    nominator = MembershipFactory(club=club).user
    return ClubNomination.objects.create(club=club, nominee=UserFactory(), nominated_by=nominator)


def _request() -> ClubMembershipRequest:
    club = ClubFactory(join_policy=Club.JoinPolicy.REQUEST)
    return ClubMembershipRequest.objects.create(club=club, user=UserFactory())


def _club_report() -> ClubReport:
    return ClubReport.objects.create(club=ClubFactory(), reporter=UserFactory(), reason="spam")


def _fresh(obj: Any) -> Any:
    return type(obj).objects.filter(pk=obj.pk).first()


TNS = TRUST_AND_SAFETY
CASES = [
    Case("resolve a report", TNS, "accounts/report", "resolve", ReportFactory,
         "report_resolved", lambda r: f"/admin/accounts/report/{r.pk}/change/",
         lambda r: _fresh(r).status == Report.Status.RESOLVED),
    Case("end a live room", TNS, "rooms/room", "end_rooms", RoomFactory,
         "room_ended_by_staff", lambda r: f"/admin/rooms/room/{r.pk}/change/",
         lambda r: _fresh(r).status == Room.Status.ENDED),
    Case("give a club its badge", TNS, "clubs/club", "verify", ClubFactory,
         "club_verified", _club_page, lambda c: _fresh(c).is_verified),
    Case("take a club's badge away", TNS, "clubs/club", "unverify",
         lambda: ClubFactory(is_verified=True), "club_unverified", _club_page,
         lambda c: not _fresh(c).is_verified),
    Case("make a member a leader", TNS, "clubs/clubmembership", "make_leader",
         MembershipFactory, "role_changed",
         lambda m: f"/admin/clubs/clubmembership/{m.pk}/change/",
         lambda m: _fresh(m).role == ClubMembership.Role.LEADER),
    Case("remove someone from a club", TNS, "clubs/clubmembership", "remove",
         MembershipFactory, "member_removed", _club_page, lambda m: _fresh(m) is None),
    Case("approve a nomination", TNS, "clubs/clubnomination", "approve", _nomination,
         "nomination_approved", lambda n: f"/admin/clubs/clubnomination/{n.pk}/change/",
         lambda n: _fresh(n).status == "approved"),
    Case("reject a nomination", TNS, "clubs/clubnomination", "reject", _nomination,
         "nomination_rejected", lambda n: f"/admin/clubs/clubnomination/{n.pk}/change/",
         lambda n: _fresh(n).status == "rejected"),
    Case("approve a membership request", TNS, "clubs/clubmembershiprequest", "approve",
         _request, "request_approved",
         lambda r: f"/admin/clubs/clubmembershiprequest/{r.pk}/change/",
         lambda r: _fresh(r).status == "approved"),
    Case("reject a membership request", TNS, "clubs/clubmembershiprequest", "reject",
         _request, "request_rejected",
         lambda r: f"/admin/clubs/clubmembershiprequest/{r.pk}/change/",
         lambda r: _fresh(r).status == "rejected"),
    Case("action a club report", TNS, "clubs/clubreport", "mark_actioned", _club_report,
         "report_actioned", lambda r: f"/admin/clubs/clubreport/{r.pk}/change/",
         lambda r: _fresh(r).status == ClubReport.Status.ACTIONED),
    Case("dismiss a club report", TNS, "clubs/clubreport", "dismiss", _club_report,
         "report_dismissed", lambda r: f"/admin/clubs/clubreport/{r.pk}/change/",
         lambda r: _fresh(r).status == ClubReport.Status.DISMISSED),
    Case("revoke a premium grant", None, "clubs/premiummembership", "revoke", PremiumFactory,
         "premium_revoked", lambda p: f"/admin/clubs/premiummembership/{p.pk}/change/",
         lambda p: _fresh(p).status == PremiumMembership.Status.CANCELED),
    Case("grant premium again", None, "clubs/premiummembership", "grant",
         lambda: PremiumFactory(status=PremiumMembership.Status.CANCELED), "premium_granted",
         lambda p: f"/admin/clubs/premiummembership/{p.pk}/change/",
         lambda p: _fresh(p).status == PremiumMembership.Status.ACTIVE),
]  # fmt: skip


def _run(client: Client, case: Case, obj: Any, **extra: str) -> Any:
    return client.post(f"/admin/{case.admin}/", {"action": case.action,
                       "_selected_action": [obj.pk], **extra})  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_action_asks_why_first_and_does_nothing_until_told(case: Case) -> None:
    client, _ = _staff(case.role)
    obj = case.make()
    asked = _run(client, case, obj)
    assert asked.status_code == 200
    assert b"data-staff-reason" in asked.content
    assert not case.done(obj)
    blank = _run(client, case, obj, apply="1", reason="   ")
    assert b"This field is required." in blank.content  # the page again, with the error
    assert not case.done(obj)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_reason_is_recorded_on_the_objects_page_and_in_the_staff_audit(case: Case) -> None:
    client, staff = _staff(case.role)
    obj = case.make()
    history_url = case.history(obj)  # before the action: a removal deletes the membership
    why = f"ticket 4711, {case.action} as agreed"
    done = _run(client, case, obj, apply="1", reason=why)
    assert done.status_code == 302
    assert case.done(obj)
    page = client.get(history_url)
    assert page.status_code == 200
    assert b"data-staff-history" in page.content
    assert why.encode() in page.content
    rows = client.get(f"{AUDIT}?actor={staff.pk}&action={case.audit}").context["rows"]
    assert [(row.actor_name, row.action, row.reason) for row, _ in rows] == [
        (staff.username, case.audit, why)
    ]


def test_a_club_reports_review_links_to_the_report_in_the_staff_audit() -> None:
    client, _ = _staff(TNS)
    report = _club_report()
    client.post("/admin/clubs/clubreport/", {"action": "dismiss", "apply": "1",
                "_selected_action": [report.pk], "reason": "satire, not spam"})  # fmt: skip
    page = client.get(f"{AUDIT}?action=report_dismissed")
    assert f"/admin/clubs/clubreport/{report.pk}/change/".encode() in page.content
    entry = ClubAuditEntry.objects.get(action="report_dismissed")
    assert entry.data == {"report_id": report.pk, "reason": "satire, not spam"}


def test_a_members_own_club_actions_carry_no_reason() -> None:
    membership = MembershipFactory()
    club_services.club_leave(club=membership.club, user=membership.user)
    assert "reason" not in ClubAuditEntry.objects.get(action="member_left").data


def test_the_room_is_told_it_ended_but_not_the_staff_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    room = RoomFactory()
    broadcast: list[dict[str, Any]] = []
    monkeypatch.setattr(room_events, "room_event_send", lambda **event: broadcast.append(event))
    room_services.room_end_by_staff(staff=UserFactory(is_staff=True), room_id=room.pk,
                                    reason="doxxing on stage")  # fmt: skip
    logged = RoomEventLog.objects.get(room=room, type="room.ended")
    assert logged.data["staff_reason"] == "doxxing on stage"  # the moderation journal keeps it
    [ended] = [event for event in broadcast if event["type"] == "room.ended"]
    assert ended["data"] == {"reason": "ended_by_staff", "by": logged.data["by"]}
