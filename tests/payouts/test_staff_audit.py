"""#20.4: every staff action audited (who, what, when, why), shown on the object it changed and
in one staff audit list that merges every app's entries, filtered by staff member, action
and date."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import AccountEvent, User
from accounts.roles import FINANCE, SUPPORT, TRUST_AND_SAFETY, role_grant, roles_sync
from clubhouse.money import Money
from payouts import services
from payouts.models import AuditEntry, StipendPayment, Tip
from tests.clubs.factories import ClubFactory
from tests.factories import TopicFactory

from .conftest import follow, make_creator, make_user

pytestmark = pytest.mark.django_db
AUDIT = "/admin/staff-audit/"


@pytest.fixture(autouse=True)
def _roles() -> None:
    roles_sync()


def _login(role: str | None = None, **kwargs: object) -> tuple[Client, User]:
    user = make_user(is_staff=True, **kwargs)
    if role:
        role_grant(user=user, role=role)
    client = Client()
    client.force_login(user)
    return client, user


def _failed_stipend() -> StipendPayment:
    creator = make_creator(stipend=True)
    services.stipend_run_month(month=date(2026, 2, 1))  # no balance: it fails
    return StipendPayment.objects.get(creator=creator)


def _rows(client: Client, query: str = "") -> list[tuple[str, str, str]]:
    page = client.get(AUDIT + query)
    assert page.status_code == 200
    return [(row.actor_name, row.action, row.reason) for row, _url in page.context["rows"]]


def test_a_stipend_retry_records_who_and_why_on_the_row_and_in_the_list() -> None:
    payment = _failed_stipend()
    client, finance = _login(FINANCE)
    client.post(f"/admin/payouts/stipendpayment/{payment.pk}/retry/",
                {"reason": "balance topped up this morning"})  # fmt: skip
    entry = AuditEntry.objects.get(action="retry", subject_id=str(payment.pk))
    assert entry.actor == finance
    assert entry.reason == "balance topped up this morning"
    page = client.get(f"/admin/payouts/stipendpayment/{payment.pk}/change/")
    assert b"data-staff-history" in page.content
    assert b"balance topped up this morning" in page.content
    assert (finance.username, "retry", "balance topped up this morning") in _rows(client)


def test_a_retry_without_a_reason_is_refused_and_nothing_is_recorded() -> None:
    payment = _failed_stipend()
    client, _ = _login(FINANCE)
    response = client.post(f"/admin/payouts/stipendpayment/{payment.pk}/retry/", follow=True)
    assert b"say why you retry it" in response.content
    assert not AuditEntry.objects.filter(action="retry").exists()


def test_a_ban_records_the_reason_on_the_persons_page_and_in_the_list() -> None:
    member = make_user()
    client, tns = _login(TRUST_AND_SAFETY)
    form = client.get(f"/admin/accounts/user/{member.pk}/ban/")
    assert b"data-ban-form" in form.content
    empty = client.post(f"/admin/accounts/user/{member.pk}/ban/", {"reason": " "})
    assert empty.status_code == 200  # the form again, with the error
    member.refresh_from_db()
    assert member.is_active
    done = client.post(f"/admin/accounts/user/{member.pk}/ban/", {"reason": "spam in 3 rooms"})
    assert done.status_code == 302
    member.refresh_from_db()
    assert not member.is_active
    event = AccountEvent.objects.get(user=member, kind="banned")
    assert (event.actor, event.data["reason"]) == (tns, "spam in 3 rooms")
    page = client.get(f"/admin/accounts/user/{member.pk}/change/")
    assert b"spam in 3 rooms" in page.content
    assert (tns.username, "banned", "spam in 3 rooms") in _rows(client)


def test_a_tip_refund_asks_why_and_records_it() -> None:
    sender, creator = make_user(), make_creator()
    follow(sender, creator)
    tip = services.tip_send(sender=sender, creator=creator, amount=Money(1000, "USD"),
                            payment_method="pm_card_visa")  # fmt: skip
    client, finance = _login(FINANCE)
    asked = client.post("/admin/payouts/tip/", {"action": "refund", "_selected_action": [tip.pk]})
    assert b"data-staff-reason" in asked.content
    assert not AuditEntry.objects.filter(action="refund_requested").exists()
    client.post("/admin/payouts/tip/", {"action": "refund", "_selected_action": [tip.pk],
                                        "apply": "1", "reason": "sent twice by mistake"})  # fmt: skip
    entry = AuditEntry.objects.get(action="refund_requested", subject_id=str(tip.pk))
    assert (entry.actor, entry.reason) == (finance, "sent twice by mistake")
    assert Tip.objects.get(pk=tip.pk).status == Tip.Status.REFUNDED


def test_the_list_merges_clubs_accounts_payouts_and_the_admins_own_log() -> None:
    superuser = make_user(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(superuser)
    club = ClubFactory()
    client.post("/admin/clubs/club/", {"action": "verify", "_selected_action": [club.pk],
                                       "apply": "1", "reason": "the real orchestra"})  # fmt: skip
    topic = TopicFactory()
    client.post(f"/admin/accounts/topic/{topic.pk}/change/", {"name": "Jazz", "slug": "jazz"})
    payment = _failed_stipend()
    client.post(f"/admin/payouts/stipendpayment/{payment.pk}/retry/", {"reason": "r"})
    page = client.get(AUDIT)
    sources = {row.source for row, _ in page.context["rows"]}
    assert {"clubs", "admin", "payouts"} <= sources
    actions = {row.action for row, _ in page.context["rows"]}
    assert {"club_verified", "admin_change", "retry"} <= actions
    # Each row links to the object it changed.
    assert f"/admin/clubs/club/{club.pk}/change/".encode() in page.content
    assert f"/admin/payouts/stipendpayment/{payment.pk}/change/".encode() in page.content
    # The club's page shows its history too.
    club_page = client.get(f"/admin/clubs/club/{club.pk}/change/")
    assert b"club_verified" in club_page.content


def test_the_list_filters_by_staff_member_action_and_date() -> None:
    payment = _failed_stipend()
    one, first = _login(FINANCE)
    two, second = _login(FINANCE)
    one.post(f"/admin/payouts/stipendpayment/{payment.pk}/retry/", {"reason": "first"})
    two.post(f"/admin/payouts/stipendpayment/{payment.pk}/retry/", {"reason": "second"})
    make_user_banned = make_user()
    tns, _ = _login(TRUST_AND_SAFETY)
    tns.post(f"/admin/accounts/user/{make_user_banned.pk}/ban/", {"reason": "abuse"})

    reader, _ = _login(SUPPORT)
    assert {r[2] for r in _rows(reader, f"?actor={first.pk}")} == {"first"}
    assert {r[2] for r in _rows(reader, f"?actor={second.pk}")} == {"second"}
    assert {r[1] for r in _rows(reader, "?action=banned")} == {"banned"}
    today = timezone.localdate()
    assert len(_rows(reader, f"?since={today}&until={today}")) >= 3
    tomorrow = today + timedelta(days=1)
    assert _rows(reader, f"?since={tomorrow}") == []
    wrong = reader.get(f"{AUDIT}?since={tomorrow}&until={today}")
    assert b"The start date is after the end date." in wrong.content


def test_a_room_ended_by_trust_and_safety_is_in_the_list_and_on_the_rooms_page() -> None:
    from tests.rooms.factories import RoomFactory

    room = RoomFactory()
    client, tns = _login(TRUST_AND_SAFETY)
    client.post("/admin/rooms/room/", {"action": "end_rooms", "_selected_action": [room.pk],
                                       "apply": "1", "reason": "slurs on stage"})  # fmt: skip
    assert (tns.username, "room_ended_by_staff", "slurs on stage") in _rows(
        client, f"?actor={tns.pk}"
    )
    assert _rows(client, "?action=room_ended_by_staff")[0][0] == tns.username
    page = client.get(f"/admin/rooms/room/{room.pk}/change/")
    assert b"room_ended_by_staff" in page.content
    assert b"slurs on stage" in page.content
