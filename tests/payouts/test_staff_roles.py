"""#20.3: staff roles, least privilege. Each role (a group made by accounts' data migration
from accounts.roles.ROLES) can do its own work in the admin and nothing else: every row below
is a real admin request by a staff member of that role, and what they get back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from accounts.models import Report, User
from accounts.roles import (
    CREATOR_CURATORS,
    FINANCE,
    ROLES,
    SUPPORT,
    TRUST_AND_SAFETY,
    role_grant,
    roles_sync,
)
from payouts import services
from payouts.models import AuditEntry, CreatorApplication, Discrepancy, StipendPayment
from tests.factories import ReportFactory

from .conftest import make_creator, make_user

pytestmark = pytest.mark.django_db
CUR, FIN, TNS, SUP = CREATOR_CURATORS, FINANCE, TRUST_AND_SAFETY, SUPPORT
EVERYONE = (CUR, FIN, TNS, SUP)


@pytest.fixture(autouse=True)
def _roles() -> None:
    roles_sync()  # what accounts/migrations/0008_staff_roles.py does (tests run no migration)


def staff_in(role: str) -> User:
    user = make_user(is_staff=True)
    role_grant(user=user, role=role)
    return user


def client_for(role: str) -> Client:
    client = Client()
    client.force_login(staff_in(role))
    return client


def _failed_stipend() -> StipendPayment:
    creator = make_creator(stipend=True)
    services.stipend_run_month(month=date(2026, 2, 1))  # no balance: failed_insufficient_funds
    payment = StipendPayment.objects.get(creator=creator)
    assert payment.status == StipendPayment.Status.FAILED_INSUFFICIENT_FUNDS
    return payment


def _discrepancy() -> Discrepancy:
    return Discrepancy.objects.create(kind=Discrepancy.Kind.AMOUNT_MISMATCH, object_type="charge",
        external_id="ch_1", ledger_amount=1061, provider_amount=561, ledger_currency="USD",
        provider_currency="USD")  # fmt: skip


def test_the_migration_table_makes_four_groups_with_exactly_their_permissions() -> None:
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLES)
    for name, perms in ROLES.items():
        group = Group.objects.get(name=name)
        held = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        assert held == set(perms)
    roles_sync()  # again: nothing doubles
    assert Group.objects.get(name=FIN).permissions.count() == len(ROLES[FIN])


def test_no_role_holds_a_delete_permission_or_a_payment_method() -> None:
    for perms in ROLES.values():
        assert not [p for p in perms if ".delete_" in p]
        assert not [p for p in perms if p.startswith("djstripe.")]


# --- pages: who may open what ------------------------------------------------------------

PAGES: list[tuple[str, set[str]]] = [
    ("/admin/accounts/user/", {CUR, FIN, TNS, SUP}),  # look-up of members: everyone
    ("/admin/rooms/room/", {CUR, TNS, SUP}),
    ("/admin/payouts/ticket/", {FIN, SUP}),
    ("/admin/payouts/creatorapplication/", {CUR}),
    ("/admin/payouts/creatorprogram/", {CUR, FIN}),
    ("/admin/payouts/stipendpayment/", {FIN}),
    ("/admin/payouts/chargerefund/", {FIN}),
    ("/admin/payouts/discrepancy/", {FIN}),
    ("/admin/payouts/journal/", {FIN}),
    ("/admin/accounts/report/", {TNS}),
    ("/admin/clubs/clubreport/", {TNS}),
    ("/admin/clubs/club/", {CUR, TNS, SUP}),
    ("/admin/accounts/featureflag/", {CUR}),  # the Send Money beta
    ("/admin/accounts/featurefeedback/", {CUR, SUP}),
    ("/admin/clubs/clubmembership/", {TNS, SUP}),
    ("/admin/clubs/clubnomination/", {TNS}),
    ("/admin/media_relay/relayworker/", set()),  # operations: superusers (the on-call)
    ("/admin/djstripe/paymentmethod/", set()),  # payment methods: superusers only
    ("/admin/djstripe/customer/", set()),
    ("/admin/staff-audit/", {CUR, FIN, TNS, SUP}),
]


@pytest.mark.parametrize("role", EVERYONE)
@pytest.mark.parametrize(("url", "allowed"), PAGES, ids=[url for url, _ in PAGES])
def test_each_role_opens_only_its_pages(role: str, url: str, allowed: set[str]) -> None:
    response = client_for(role).get(url)
    assert response.status_code == (200 if role in allowed else 403), (role, url)


def test_staff_with_no_role_sees_nothing_and_cannot_open_the_audit() -> None:
    client = Client()
    client.force_login(make_user(is_staff=True))
    assert client.get("/admin/accounts/user/").status_code == 403
    assert client.get("/admin/staff-audit/").status_code == 403


# --- actions offered on the lists -------------------------------------------------------

ACTIONS: list[tuple[str, str, set[str]]] = [
    ("/admin/accounts/user/", "ban_users", {TNS}),
    ("/admin/accounts/user/", "let_in_from_waitlist", set()),  # change_user: superusers
    ("/admin/payouts/stipendpayment/", "retry_selected", {FIN}),
    ("/admin/payouts/creatorapplication/", "approve_with_stipend", {CUR}),
    ("/admin/payouts/ticket/", "refund", {FIN}),
    ("/admin/rooms/room/", "end_rooms", {TNS}),
    ("/admin/clubs/club/", "verify", {TNS}),
    ("/admin/accounts/report/", "resolve", {TNS}),
    ("/admin/clubs/clubreport/", "dismiss", {TNS}),
    ("/admin/clubs/clubmembership/", "remove", {TNS}),
    ("/admin/clubs/clubnomination/", "approve", {TNS}),
    ("/admin/accounts/featurefeedback/", "mark_read", {CUR}),  # Support reads only
]


def _offered(client: Client, url: str) -> set[str]:
    page = client.get(url)
    if page.status_code != 200:
        return set()
    form = page.context.get("action_form")
    return {value for value, _ in form.fields["action"].choices} if form else set()


@pytest.mark.parametrize("role", EVERYONE)
@pytest.mark.parametrize(("url", "action", "allowed"), ACTIONS, ids=[a for _, a, _ in ACTIONS])
def test_each_role_is_offered_only_its_actions(
    role: str, url: str, action: str, allowed: set[str]
) -> None:
    assert (action in _offered(client_for(role), url)) == (role in allowed), (role, action)


def test_a_forged_ban_by_support_bans_nobody() -> None:
    member = make_user()
    response = client_for(SUP).post("/admin/accounts/user/", {"action": "ban_users",
        "_selected_action": [member.pk], "apply": "1", "reason": "forged"})  # fmt: skip
    assert response.status_code in {302, 200}
    member.refresh_from_db()
    assert member.is_active is True


def test_a_forged_approve_by_finance_approves_nobody() -> None:
    application = services.creator_apply(user=make_user())
    response = client_for(FIN).post("/admin/payouts/creatorapplication/", {
        "action": "approve_send_money", "_selected_action": [application.pk]})  # fmt: skip
    assert response.status_code == 403  # Finance may not even open the list
    assert CreatorApplication.objects.get(pk=application.pk).status == "pending"


# --- custom admin views: 403 without the permission -------------------------------------


def _retry(client: Client) -> Any:
    payment = _failed_stipend()
    return client.post(f"/admin/payouts/stipendpayment/{payment.pk}/retry/",
                       {"reason": "topped up"})  # fmt: skip


def _correct(client: Client) -> Any:
    return client.get(f"/admin/payouts/discrepancy/{_discrepancy().pk}/correct/")


def _book_topup(client: Client) -> Any:
    return client.get("/admin/payouts/journal/book-topup/")


def _ban(client: Client) -> Any:
    return client.get(f"/admin/accounts/user/{make_user().pk}/ban/")


VIEWS: list[tuple[str, Callable[[Client], Any], int, set[str]]] = [
    ("retry a stipend", _retry, 302, {FIN}),
    ("post a correcting journal", _correct, 200, {FIN}),
    ("book a top-up", _book_topup, 200, {FIN}),
    ("ban a member", _ban, 200, {TNS}),
]


@pytest.mark.parametrize("role", EVERYONE)
@pytest.mark.parametrize(("what", "call", "ok", "allowed"), VIEWS, ids=[v[0] for v in VIEWS])
def test_custom_admin_views_answer_403_without_the_permission(
    role: str, what: str, call: Callable[[Client], Any], ok: int, allowed: set[str]
) -> None:
    response = call(client_for(role))
    assert response.status_code == (ok if role in allowed else 403), (role, what)


def test_a_curator_cannot_retry_a_stipend_and_nothing_moves() -> None:
    payment = _failed_stipend()
    response = client_for(CUR).post(f"/admin/payouts/stipendpayment/{payment.pk}/retry/",
                                    {"reason": "please"})  # fmt: skip
    assert response.status_code == 403
    assert not AuditEntry.objects.filter(action="retry").exists()
    payment.refresh_from_db()
    assert payment.status == StipendPayment.Status.FAILED_INSUFFICIENT_FUNDS


def test_the_ban_button_shows_only_to_trust_and_safety() -> None:
    member = make_user()
    for role in EVERYONE:
        page = client_for(role).get(f"/admin/accounts/user/{member.pk}/change/")
        assert page.status_code == 200
        assert (b"data-ban-user" in page.content) == (role == TNS), role


def test_trust_and_safety_bans_a_reported_member_from_the_report_list() -> None:
    report = ReportFactory()
    client = client_for(TNS)
    asked = client.post("/admin/accounts/report/", {"action": "ban_reported",
                                                     "_selected_action": [report.pk]})  # fmt: skip
    assert b"data-staff-reason" in asked.content
    client.post("/admin/accounts/report/", {"action": "ban_reported", "apply": "1",
        "_selected_action": [report.pk], "reason": "threats in room 12"})  # fmt: skip
    report.refresh_from_db()
    report.reported.refresh_from_db()
    assert report.reported.is_active is False
    assert report.status == Report.Status.RESOLVED
