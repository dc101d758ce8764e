"""Creator curation as a workflow (issue #20, point 2): approving with terms, rejecting with a
reason the applicant reads, appointing a creator who never applied, and staff's changes to a
program (new terms, pause, resume, end) that take effect next month, audited."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from clubhouse.errors import Conflict, InvalidInput
from payouts import selectors, services
from payouts.models import AuditEntry, CreatorApplication, CreatorProgram, StipendPayment
from payouts.provider.standin import STANDIN
from rooms.services import room_create

from .conftest import fund, make_user

pytestmark = pytest.mark.django_db

TODAY = date(2027, 3, 15)  # "this month" for the services below: March 2027
MARCH, APRIL, MAY = date(2027, 3, 1), date(2027, 4, 1), date(2027, 5, 1)


def _connected(user: Any) -> Any:
    account = services.connected_account_ensure(user=user)
    STANDIN.account_activate(account.stripe_account_id)
    services.connected_account_sync(data=STANDIN.get("accounts", account.stripe_account_id))
    return user


def _creator(**terms: Any) -> tuple[Any, CreatorProgram, Any]:
    """A creator with a stipend of 1,000.00 USD a month from January 2027, open-ended."""
    user, staff = make_user(), make_user(is_staff=True)
    application = services.creator_apply(user=user, pitch="nightly")
    terms = {"stipend_amount": 100_000, "stipend_currency": "USD",
             "stipend_start_month": date(2027, 1, 1), **terms}  # fmt: skip
    program = services.creator_application_approve(application=application, reviewer=staff,
                                                   **terms)  # fmt: skip
    return _connected(user), program, staff


def _paid(user: Any, month: date) -> int | None:
    services.stipend_run_month(month=month)
    row = StipendPayment.objects.filter(creator=user, month=month).first()
    return row.amount if row is not None and row.status == "paid" else None


# --- terms ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"stipend_amount": 0, "stipend_start_month": MARCH}, "stipend_amount"),
        ({"stipend_amount": -5, "stipend_start_month": MARCH}, "stipend_amount"),
        ({"stipend_start_month": APRIL, "stipend_end_month": MARCH}, "stipend_end_month"),
        ({"stipend_end_month": MARCH}, "stipend_end_month"),
        ({"stipend_currency": "dollars", "stipend_start_month": MARCH}, "stipend_currency"),
    ],
)
def test_approval_refuses_terms_that_are_not_valid_and_changes_nothing(
    terms: dict[str, Any], field: str
) -> None:
    user, staff = make_user(), make_user(is_staff=True)
    application = services.creator_apply(user=user)
    with pytest.raises(InvalidInput) as error:
        services.creator_application_approve(application=application, reviewer=staff, **terms)
    assert error.value.code == "stipend_terms_invalid"
    assert field in error.value.fields
    application.refresh_from_db()
    assert application.status == "pending"
    assert not CreatorProgram.objects.filter(user=user).exists()


def test_a_stipend_without_a_last_month_runs_until_ended() -> None:
    fund()
    user, program, _ = _creator()
    assert program.stipend_end_month is None
    assert _paid(user, date(2027, 1, 1)) == 100_000
    assert _paid(user, date(2028, 6, 1)) == 100_000


def test_rejecting_needs_a_reason_the_applicant_sees_on_their_status() -> None:
    user, staff = make_user(), make_user(is_staff=True)
    application = services.creator_apply(user=user)
    with pytest.raises(InvalidInput) as error:
        services.creator_application_reject(application=application, reviewer=staff, reason=" ")
    assert error.value.code == "rejection_reason_required"
    services.creator_application_reject(
        application=application, reviewer=staff, reason="Host a few rooms first.", note="thin"
    )
    latest = selectors.creator_application_latest(user)
    assert latest is not None
    assert (latest.status, latest.decision_reason) == ("rejected", "Host a few rooms first.")
    with pytest.raises(Conflict):  # decided: approving a rejected application is refused
        services.creator_application_approve(application=application, reviewer=staff)


def test_staff_appoint_a_member_who_never_applied_with_terms() -> None:
    staff, user = make_user(is_staff=True), make_user()
    program = services.creator_appoint(
        staff=staff, user=user, note="great host", send_money_enabled=False,
        stipend_amount=20_000, stipend_currency="eur", stipend_start_month=APRIL,
    )  # fmt: skip
    assert (program.stipend_amount, program.stipend_currency) == (20_000, "EUR")
    assert not program.send_money_enabled
    application = CreatorApplication.objects.get(user=user)
    assert (application.source, application.status) == ("nominated", "approved")
    assert application.nominated_by == staff


def test_appointing_with_bad_terms_leaves_no_nomination_behind() -> None:
    staff, user = make_user(is_staff=True), make_user()
    with pytest.raises(InvalidInput):
        services.creator_appoint(staff=staff, user=user, stipend_amount=0,
                                 stipend_start_month=APRIL)  # fmt: skip
    assert not CreatorApplication.objects.filter(user=user).exists()


# --- changes take effect next month -----------------------------------------------------------


def test_new_terms_apply_from_next_month_and_this_months_run_pays_the_old_amount() -> None:
    fund()
    user, program, staff = _creator()
    services.creator_program_terms_change(
        program=program, actor=staff, reason="bigger audience", send_money_enabled=True,
        stipend_amount=150_000, stipend_currency="USD", stipend_start_month=date(2027, 1, 1),
        stipend_end_month=None, today=TODAY,
    )  # fmt: skip
    assert _paid(user, MARCH) == 100_000  # the month under way: as agreed
    assert _paid(user, APRIL) == 150_000
    entry = AuditEntry.objects.get(subject_type="CreatorProgram", action="terms_changed")
    assert entry.actor == staff
    assert "bigger audience" in entry.note
    assert "1000.00 USD" in entry.note
    assert "1500.00 USD" in entry.note


def test_the_creator_is_told_their_terms_changed_but_not_staffs_reason(
    django_capture_on_commit_callbacks: Any,
) -> None:
    from accounts.models import Notification

    user, program, staff = _creator()
    with django_capture_on_commit_callbacks(execute=True):
        services.creator_program_stipend_pause(program=program, actor=staff,
                                               reason="internal: budget", today=TODAY)  # fmt: skip
    notice = Notification.objects.filter(recipient=user).order_by("-pk").first()
    assert notice is not None
    assert notice.data == {"event": "creator_terms_changed", "change": "stipend_paused"}


def test_a_change_refuses_to_move_a_running_stipends_first_month_or_end_it_in_the_past() -> None:
    _user, program, staff = _creator()
    common = {"program": program, "actor": staff, "reason": "x", "send_money_enabled": True,
              "stipend_amount": 100_000, "stipend_currency": "USD", "today": TODAY}  # fmt: skip
    with pytest.raises(InvalidInput) as error:
        services.creator_program_terms_change(
            **common, stipend_start_month=APRIL, stipend_end_month=None
        )
    assert "stipend_start_month" in error.value.fields
    with pytest.raises(InvalidInput) as error:
        services.creator_program_terms_change(
            **common, stipend_start_month=date(2027, 1, 1), stipend_end_month=date(2027, 2, 1)
        )
    assert "stipend_end_month" in error.value.fields
    with pytest.raises(InvalidInput) as error:
        services.creator_program_terms_change(**{**common, "reason": ""},
                                              stipend_start_month=date(2027, 1, 1),
                                              stipend_end_month=None)  # fmt: skip
    assert error.value.code == "reason_required"
    assert not AuditEntry.objects.filter(action="terms_changed").exists()


def test_a_pause_stops_the_stipend_from_next_month_until_resumed() -> None:
    fund()
    user, program, staff = _creator()
    services.creator_program_stipend_pause(program=program, actor=staff, reason="on leave",
                                           today=TODAY)  # fmt: skip
    assert _paid(user, MARCH) == 100_000
    assert _paid(user, APRIL) is None
    # Resumed in April: May is paid again, April stays unpaid.
    services.creator_program_stipend_resume(program=program, actor=staff, reason="back",
                                            today=date(2027, 4, 10))  # fmt: skip
    assert _paid(user, APRIL) is None
    assert _paid(user, MAY) == 100_000
    actions = list(AuditEntry.objects.filter(subject_type="CreatorProgram")
                   .order_by("pk").values_list("action", "actor", "note"))  # fmt: skip
    assert [(a, actor) for a, actor, _ in actions] == [
        ("stipend_paused", staff.pk),
        ("stipend_resumed", staff.pk),
    ]
    assert actions[0][2].startswith("on leave")


def test_resuming_a_stipend_that_is_not_paused_is_refused() -> None:
    _user, program, staff = _creator()
    with pytest.raises(Conflict) as error:
        services.creator_program_stipend_resume(program=program, actor=staff, reason="x",
                                                today=TODAY)  # fmt: skip
    assert error.value.code == "creator_stipend_not_paused"


def test_ending_pays_this_month_and_nothing_after() -> None:
    fund()
    user, program, staff = _creator()
    services.creator_program_stipend_end(program=program, actor=staff, reason="show ended",
                                         today=TODAY)  # fmt: skip
    program.refresh_from_db()
    assert program.stipend_end_month == MARCH
    assert _paid(user, MARCH) == 100_000
    assert _paid(user, APRIL) is None
    with pytest.raises(Conflict) as error:
        services.creator_program_stipend_end(program=program, actor=staff, reason="again",
                                             today=TODAY)  # fmt: skip
    assert error.value.code == "creator_stipend_already_ended"


def test_ending_a_stipend_that_has_not_begun_calls_it_off() -> None:
    fund()
    user, program, staff = _creator(stipend_start_month=MAY)
    services.creator_program_stipend_end(program=program, actor=staff, reason="changed plans",
                                         today=TODAY)  # fmt: skip
    assert _paid(user, MAY) is None
    program.refresh_from_db()
    assert program.stipend_start_month is None
    assert program.send_money_enabled


# --- who the applicant is -----------------------------------------------------------------------


def test_the_applicant_profile_has_each_apps_figures() -> None:
    from accounts.models import Block, Follow, Report
    from clubs.services import club_create

    user = make_user(bio="I host jazz nights")
    listener, fan = make_user(), make_user()
    Follow.objects.create(follower=fan, followee=user)
    Block.objects.create(blocker=listener, blocked=user)
    Report.objects.create(reporter=fan, reported=user, reason="spam")
    club = club_create(creator=user, name="Jazz Cellar")
    room = room_create(user=user, title="Late set")
    from rooms.models import RoomVisit

    RoomVisit.objects.create(room=room, user=fan)
    profile = selectors.creator_applicant_profile(user)
    assert profile["followers"] == 1
    assert profile["rooms_hosted"] == {30: 1, 90: 1}
    assert profile["listeners_reached"] == {30: 1, 90: 1}
    assert profile["reports"] == {"total": 1, "open": 1}
    assert profile["blocked_by"] == 1
    assert [c.pk for c in profile["clubs_led"]] == [club.pk]
