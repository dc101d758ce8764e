from __future__ import annotations

from datetime import date

import pytest

from clubhouse.errors import Conflict, PermissionDenied
from payouts import selectors, services
from payouts.models import AuditEntry, ConnectedAccount, CreatorApplication, CreatorProgram
from payouts.provider.standin import STANDIN
from payouts.services.creators import AlreadyApplied, AlreadyCreator, NotACreator

from .conftest import follow, make_creator, make_user

pytestmark = pytest.mark.django_db


def test_a_member_applies_once_while_pending() -> None:
    user = make_user()
    services.creator_apply(user=user, pitch="hi")
    with pytest.raises(AlreadyApplied):
        services.creator_apply(user=user)


def test_staff_nominate_and_non_staff_cannot() -> None:
    staff, user = make_user(is_staff=True), make_user()
    app = services.creator_nominate(staff=staff, user=user, note="great host")
    assert app.source == CreatorApplication.Source.NOMINATED
    assert app.nominated_by == staff
    with pytest.raises(PermissionDenied):
        services.creator_nominate(staff=make_user(), user=make_user())


def test_approval_creates_the_program_with_default_stipend_terms_and_an_audit() -> None:
    staff, user = make_user(is_staff=True), make_user()
    app = services.creator_apply(user=user)
    program = services.creator_application_approve(
        application=app, reviewer=staff, note="yes", stipend_start_month=date(2026, 2, 14),
        stipend_end_month=date(2026, 4, 1),
    )  # fmt: skip
    assert (program.stipend_amount, program.stipend_currency) == (500_000, "USD")
    assert program.stipend_start_month == date(2026, 2, 1)
    assert program.send_money_enabled
    assert AuditEntry.objects.filter(
        action="approved", subject_id=str(app.pk), actor=staff
    ).exists()
    # approving again is a no-op; rejecting an approved application is refused
    assert services.creator_application_approve(application=app, reviewer=staff).pk == program.pk
    with pytest.raises(Conflict):
        services.creator_application_reject(application=app, reviewer=staff, reason="no")
    with pytest.raises(AlreadyCreator):
        services.creator_apply(user=user)


def test_rejection_keeps_the_note_and_creates_no_program() -> None:
    staff, user = make_user(is_staff=True), make_user()
    app = services.creator_apply(user=user)
    services.creator_application_reject(
        application=app, reviewer=staff, reason="Host a few more rooms.", note="not yet"
    )
    app.refresh_from_db()
    assert app.status == "rejected"
    assert app.review_note == "not yet"
    assert app.decision_reason == "Host a few more rooms."
    assert not CreatorProgram.objects.filter(user=user).exists()
    services.creator_apply(user=user)  # may apply again later


def test_audience_figures_count_followers_and_rooms_figures_are_zero_until_rooms_exist() -> None:
    user = make_user()
    for _ in range(3):
        follow(make_user(), user)
    assert selectors.creator_audience(user) == {
        "followers": 3, "rooms_hosted_30d": 0, "listeners_reached_30d": 0,
    }  # fmt: skip


def test_onboarding_needs_the_program_and_gives_an_account_link_once_per_account() -> None:
    with pytest.raises(NotACreator):
        services.connected_account_onboarding_link(user=make_user())
    creator = make_creator(active=False)
    url = services.connected_account_onboarding_link(user=creator)
    assert url.startswith("https://")
    services.connected_account_onboarding_link(user=creator)
    assert ConnectedAccount.objects.filter(user=creator).count() == 1
    assert len(STANDIN.all("accounts")) == 1
    assert not ConnectedAccount.objects.get(user=creator).transfers_active


def test_account_updated_turns_transfers_on_and_an_older_event_does_not_turn_them_off() -> None:
    creator = make_creator(active=False)
    account = services.connected_account_ensure(user=creator)
    inactive = dict(STANDIN.get("accounts", account.stripe_account_id))
    STANDIN.account_activate(account.stripe_account_id)
    active = STANDIN.get("accounts", account.stripe_account_id)
    services.connected_account_sync(data=active, event_created=200)
    services.connected_account_sync(data=inactive, event_created=100)  # late, older
    account.refresh_from_db()
    assert account.transfers_active


def test_the_demo_loads_twice_without_changing_anything_the_second_time() -> None:
    from accounts import demo as accounts_demo
    from payouts import demo
    from payouts.models import ClubSubscription, Journal, Ticket, Tip

    def counts() -> tuple[int, ...]:
        return (Tip.objects.count(), Journal.objects.count(), CreatorProgram.objects.count(),
                Ticket.objects.filter(status="paid").count(),
                ClubSubscription.objects.filter(status="active").count())  # fmt: skip

    list(accounts_demo.load())
    first = list(demo.load())
    after_first = counts()
    second = list(demo.load())
    assert first == second
    assert "stand-in" in first[0]
    assert after_first == counts()
    # One tip; journals for the tip, the top-up, the ticket and the club membership invoice;
    # two creators; one paid ticket; one active club subscription.
    assert after_first == (1, 4, 2, 1, 1)
