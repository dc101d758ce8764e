"""Deleting an account keeps the money records (issue #12, Accounts): a tipper's tips and the
ledger stay, pointing at the anonymised row; a creator with money on its way to them cannot
delete until it has been paid out; a creator's stipend ends with the account; the admin's
delete anonymises instead of failing on PROTECT. (This package's conftest checks the ledger
balances after every test.)"""

from __future__ import annotations

from datetime import date

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client

from accounts import services as account_services
from accounts.models import User
from clubhouse.errors import ApplicationError
from clubhouse.money import Money
from payouts import ledger, selectors, services
from payouts.models import CreatorProgram, PaymentCustomer, Tip

from .conftest import follow, make_creator, make_user

pytestmark = pytest.mark.django_db


def _tip(sender: User, creator: User, amount: int = 1000) -> Tip:
    follow(sender, creator)
    return services.tip_send(
        sender=sender, creator=creator, amount=Money(amount, "USD"), payment_method="pm_card_visa"
    )


def test_deleting_a_member_who_tipped_keeps_the_tip_and_the_ledger() -> None:
    creator, sender = make_creator(), make_user()
    tip = _tip(sender, creator)
    balances = ledger.creator_balances(creator)
    email = sender.email

    account_services.account_delete(user=sender, actor=sender)

    tip.refresh_from_db()
    assert tip.sender_id == sender.pk
    assert tip.status == "succeeded"
    assert tip.amount == 1000
    assert ledger.creator_balances(creator) == balances == {"USD": 1000}
    anonymised = User.objects.get(pk=sender.pk)
    assert anonymised.username == f"deleted-{sender.pk}"
    assert anonymised.email != email
    card = PaymentCustomer.objects.get(user=sender)
    assert (card.card_brand, card.card_last4, card.default_payment_method_id) == ("", "", "")
    # the creator's wallet still lists the tip, from the anonymised sender
    [listed] = selectors.wallet_summary(creator)["tips_received"]
    assert listed.sender.username == f"deleted-{sender.pk}"


def test_a_creator_with_money_on_its_way_to_their_bank_cannot_delete_yet() -> None:
    creator, sender = make_creator(), make_user()
    _tip(sender, creator)

    with pytest.raises(ApplicationError) as refused:
        account_services.account_delete(user=creator, actor=creator)

    assert refused.value.code == "account_delete_balance_pending"
    assert refused.value.status == 409
    row = User.objects.get(pk=creator.pk)
    assert row.is_active
    assert row.deleted_at is None
    assert row.username == creator.username
    assert CreatorProgram.objects.get(user=creator).active


def test_a_creator_with_a_stipend_and_nothing_owed_can_delete_and_the_stipend_ends() -> None:
    creator = make_creator(stipend=True, stipend_amount=50_000, stipend_currency="USD")
    assert list(selectors.creators_due_stipend(date(2026, 2, 1))) != []

    account_services.account_delete(user=creator, actor=creator)

    program = CreatorProgram.objects.get(user=creator)
    assert not program.active
    assert not program.send_money_enabled
    assert list(selectors.creators_due_stipend(date(2026, 2, 1))) == []


def test_the_api_answers_a_refusal_in_the_error_envelope() -> None:
    from rest_framework.test import APIClient

    creator, sender = make_creator(), make_user()
    _tip(sender, creator)
    creator.set_password("pw-Secret-123")
    creator.save()
    api = APIClient()
    api.force_login(creator)

    response = api.post("/api/v1/me/delete/", {"password": "pw-Secret-123"}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "account_delete_balance_pending"


def test_staff_delete_a_tipper_in_the_admin_and_the_row_is_anonymised_not_refused(
    client: Client,
) -> None:
    creator, sender = make_creator(), make_user()
    tip = _tip(sender, creator)
    client.force_login(make_user(is_staff=True, is_superuser=True))

    confirm = client.get(f"/admin/accounts/user/{sender.pk}/delete/")
    assert confirm.status_code == 200
    assert b"Cannot delete" not in confirm.content
    assert b"anonymised" in confirm.content
    done = client.post(f"/admin/accounts/user/{sender.pk}/delete/", {"post": "yes"})

    assert done.status_code == 302
    row = User.objects.get(pk=sender.pk)
    assert row.username == f"deleted-{sender.pk}"
    assert not row.is_active
    assert Tip.objects.get(pk=tip.pk).sender_id == sender.pk


def test_the_admin_bulk_delete_uses_the_same_service_and_reports_a_refusal(
    client: Client,
) -> None:
    creator, sender = make_creator(), make_user()
    _tip(sender, creator)
    client.force_login(make_user(is_staff=True, is_superuser=True))

    response = client.post(
        "/admin/accounts/user/",
        {"action": "delete_selected", ACTION_CHECKBOX_NAME: [sender.pk, creator.pk], "post": "yes"},
        follow=True,
    )

    assert response.status_code == 200
    assert User.objects.get(pk=sender.pk).deleted_at is not None
    assert User.objects.get(pk=creator.pk).deleted_at is None  # money still on its way
    assert b"was not deleted" in response.content


def test_the_export_lists_the_members_tips_and_no_one_elses_email() -> None:
    from accounts.selectors import account_export

    creator, sender = make_creator(), make_user()
    _tip(sender, creator, amount=700)

    data = account_export(sender)

    [sent] = data["money"]["tips_sent"]
    assert (sent["amount"], sent["currency"], sent["creator"]["username"]) == (
        700,
        "USD",
        creator.username,
    )
    assert data["money"]["payment_card"] == {"brand": "visa", "last4": "4242"}
    assert creator.email not in str(data)
    creator_view = account_export(creator)
    assert creator_view["money"]["tips_received"][0]["sender"]["username"] == sender.username
    assert creator_view["money"]["balances"] == {"USD": 700}
    assert sender.email not in str(creator_view)
