"""Room reports (issue #17): a member reports a room with a reason from a fixed list and an
optional note, once per room; staff review them in the admin beside user and club reports."""

from __future__ import annotations

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from clubhouse.errors import ApplicationError
from clubhouse.throttling import parse_rate
from rooms import services
from rooms.models import Room, RoomReport
from tests.factories import UserFactory
from tests.rooms.conftest import Stage
from tests.rooms.factories import MemberFactory, RoomFactory, WaitlistedFactory

pytestmark = pytest.mark.django_db


def as_user(user) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.force_authenticate(user)
    return client


def report(client: APIClient, room_id: int, **body: object):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/rooms/{room_id}/report/", body, format="json")


# --- services -----------------------------------------------------------------------------
def test_a_listener_reports_the_room_with_a_reason_and_a_note(stage: Stage) -> None:
    made = services.room_report_create(
        user=stage.listener, room_id=stage.room.pk, reason="harassment", text="  Shouting.  "
    )
    assert (made.room_id, made.reporter, made.reason, made.text, made.status) == (
        stage.room.pk,
        stage.listener,
        "harassment",
        "Shouting.",
        RoomReport.Status.OPEN,
    )


def test_a_member_reports_a_room_only_once(stage: Stage) -> None:
    services.room_report_create(user=stage.listener, room_id=stage.room.pk, reason="spam")
    with pytest.raises(ApplicationError) as caught:
        services.room_report_create(user=stage.listener, room_id=stage.room.pk, reason="other")
    assert caught.value.code == "room_already_reported"
    assert RoomReport.objects.count() == 1


def test_someone_who_was_in_a_room_reports_it_after_it_ended() -> None:
    room = RoomFactory()
    visitor = MemberFactory()
    services.room_join(user=visitor, room_id=room.pk)
    services.room_leave(user=visitor, room_id=room.pk)
    services.room_end(user=room.created_by, room_id=room.pk)
    made = services.room_report_create(user=visitor, room_id=room.pk, reason="hate")
    assert made.room_id == room.pk


def test_a_room_you_cannot_see_cannot_be_reported() -> None:
    closed = RoomFactory(type=Room.Type.CLOSED)
    with pytest.raises(ApplicationError) as caught:
        services.room_report_create(user=MemberFactory(), room_id=closed.pk, reason="spam")
    assert caught.value.code == "closed_room_invite_only"
    with pytest.raises(ApplicationError) as caught:
        services.room_report_create(user=MemberFactory(), room_id=987654, reason="spam")
    assert caught.value.code == "room_not_found"


def test_a_waitlisted_person_cannot_report(stage: Stage) -> None:
    with pytest.raises(ApplicationError) as caught:
        services.room_report_create(user=WaitlistedFactory(), room_id=stage.room.pk, reason="spam")
    assert caught.value.code == "waitlisted"


def test_staff_action_or_dismiss_a_report_once(stage: Stage) -> None:
    made = services.room_report_create(user=stage.listener, room_id=stage.room.pk, reason="spam")
    staff = UserFactory(is_staff=True)
    done = services.room_report_review(report=made, reviewer=staff, status="dismissed")
    assert (done.status, done.reviewed_by) == ("dismissed", staff)
    assert (
        services.room_report_review(report=made, reviewer=staff, status="dismissed").pk == made.pk
    )
    with pytest.raises(ApplicationError) as caught:
        services.room_report_review(report=made, reviewer=staff, status="actioned")
    assert caught.value.code == "room_report_closed"
    with pytest.raises(ApplicationError) as caught:
        services.room_report_review(report=made, reviewer=stage.moderator, status="actioned")
    assert caught.value.code == "staff_required"


# --- REST ---------------------------------------------------------------------------------
def test_report_over_rest(stage: Stage) -> None:
    response = report(as_user(stage.listener), stage.room.pk, reason="spam", text="Ads")
    assert response.status_code == 201
    body = response.json()
    assert {k: body[k] for k in ("room", "reason", "text", "status")} == {
        "room": stage.room.pk,
        "reason": "spam",
        "text": "Ads",
        "status": "open",
    }
    assert RoomReport.objects.get(pk=body["id"]).reporter == stage.listener


def test_the_note_is_optional(stage: Stage) -> None:
    assert report(as_user(stage.listener), stage.room.pk, reason="other").status_code == 201


@pytest.mark.parametrize("body", [{"reason": "boring"}, {}, {"reason": 3}])
def test_a_reason_outside_the_list_is_refused(stage: Stage, body: dict[str, object]) -> None:
    response = report(as_user(stage.listener), stage.room.pk, **body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "reason" in error["fields"]


def test_a_note_too_long_is_refused(stage: Stage) -> None:
    response = report(as_user(stage.listener), stage.room.pk, reason="spam", text="x" * 2001)
    assert response.status_code == 400
    assert "text" in response.json()["error"]["fields"]


def test_reporting_twice_is_a_conflict_in_the_envelope(stage: Stage) -> None:
    client = as_user(stage.listener)
    report(client, stage.room.pk, reason="spam")
    again = report(client, stage.room.pk, reason="spam")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "room_already_reported"


def test_reporting_no_room_is_not_found(stage: Stage) -> None:
    response = report(as_user(stage.listener), 987654, reason="spam")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "room_not_found"


def test_anonymous_reports_are_refused(stage: Stage) -> None:
    response = report(APIClient(), stage.room.pk, reason="spam")
    assert response.status_code == 401


def test_room_reports_share_the_report_rate_limit() -> None:
    limit = min(w.limit for w in parse_rate(settings.THROTTLE_RATES["report"]))
    reporter = MemberFactory()
    client = as_user(reporter)
    for _ in range(limit):
        assert report(client, RoomFactory().pk, reason="spam").status_code == 201
    refused = report(client, RoomFactory().pk, reason="spam")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert "reports" in refused.json()["error"]["message"]


def test_the_report_operation_is_in_the_openapi_schema(client) -> None:  # type: ignore[no-untyped-def]
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/api/v1/rooms/{room_id}/report/"]["post"]
    assert operation["operationId"] == "rooms_report"
    for code in ("201", "400", "401", "403", "404", "409", "429"):
        assert code in operation["responses"], code
    reasons = schema["components"]["schemas"]["RoomReportReasonEnum"]["enum"]
    assert reasons == list(RoomReport.Reason.values)


# --- admin --------------------------------------------------------------------------------
def test_staff_see_room_reports_in_admin_and_dismiss_them(stage: Stage, client) -> None:  # type: ignore[no-untyped-def]
    made = services.room_report_create(
        user=stage.listener, room_id=stage.room.pk, reason="harassment", text="Shouting"
    )
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    listing = client.get("/admin/rooms/roomreport/")
    assert listing.status_code == 200
    assert stage.room.title in listing.content.decode()
    assert "Harassment" in listing.content.decode()
    index = client.get("/admin/").content.decode()
    for section in (
        "/admin/rooms/roomreport/",
        "/admin/clubs/clubreport/",
        "/admin/accounts/report/",
    ):
        assert section in index
    asked = client.post(
        "/admin/rooms/roomreport/", {"action": "dismiss", "_selected_action": [made.pk]}
    )
    assert b"reason" in asked.content.lower()
    made.refresh_from_db()
    assert made.status == "open"  # nothing closed without a reason
    response = client.post(
        "/admin/rooms/roomreport/",
        {"action": "dismiss", "_selected_action": [made.pk], "apply": "1",
         "reason": "Heated, not abusive."},
        follow=True,
    )  # fmt: skip
    assert response.status_code == 200
    made.refresh_from_db()
    assert (made.status, made.reviewed_by, made.resolution) == (
        "dismissed", staff, "Heated, not abusive."
    )  # fmt: skip
    # the staff audit list and the report's own page say who closed it and why
    audit = client.get("/admin/staff-audit/", {"action": "room_report_dismissed"})
    assert b"Heated, not abusive." in audit.content
    page = client.get(f"/admin/rooms/roomreport/{made.pk}/change/")
    assert b"Heated, not abusive." in page.content


def test_staff_end_a_reported_room_from_admin(stage: Stage, client) -> None:  # type: ignore[no-untyped-def]
    made = services.room_report_create(user=stage.listener, room_id=stage.room.pk, reason="hate")
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    asked = client.post(
        "/admin/rooms/roomreport/",
        {"action": "end_reported_rooms", "_selected_action": [made.pk]},
    )
    assert b"reason" in asked.content.lower()  # first the reason, nothing ended yet
    assert Room.objects.get(pk=stage.room.pk).status != "ended"
    client.post(
        "/admin/rooms/roomreport/",
        {
            "action": "end_reported_rooms",
            "_selected_action": [made.pk],
            "apply": "1",
            "reason": "Hate speech on stage, reported twice.",
        },
        follow=True,
    )
    made.refresh_from_db()
    assert made.status == "actioned"
    room = Room.objects.get(pk=stage.room.pk)
    assert (room.status, room.end_reason) == ("ended", "ended_by_staff")


def test_trust_and_safety_review_room_reports_and_support_cannot(stage: Stage, client) -> None:  # type: ignore[no-untyped-def]
    from accounts.roles import SUPPORT, TRUST_AND_SAFETY, role_grant, roles_sync

    roles_sync()
    made = services.room_report_create(user=stage.listener, room_id=stage.room.pk, reason="spam")
    support = UserFactory(is_staff=True)  # staff come with two-factor set up
    role_grant(user=support, role=SUPPORT)
    client.force_login(support)
    assert client.get("/admin/rooms/roomreport/").status_code == 403
    safety = UserFactory(is_staff=True)
    role_grant(user=safety, role=TRUST_AND_SAFETY)
    client.force_login(safety)
    page = client.get("/admin/rooms/roomreport/")
    assert page.status_code == 200
    assert b'value="dismiss"' in page.content
    assert b"Reports of rooms" in client.get("/admin/").content  # the staff home's card
    client.post(
        "/admin/rooms/roomreport/",
        {"action": "dismiss", "_selected_action": [made.pk], "apply": "1", "reason": "Spam bot."},
    )
    made.refresh_from_db()
    assert (made.status, made.reviewed_by) == ("dismissed", safety)
