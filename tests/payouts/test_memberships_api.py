"""REST API for paid clubs, and the wallet's figures and query count."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clubhouse.money import Money
from clubs.models import ClubMembership
from clubs.services import club_create
from payouts import ledger, services
from payouts.ledger import Kind
from payouts.models import ClubSubscription
from payouts.provider import get_provider
from payouts.provider.standin import STANDIN

from .conftest import follow, make_creator, make_user, post_event
from .test_memberships import deliver, member_of, paid_club, subscribed

pytestmark = pytest.mark.django_db
SHOWN = {"amount": 1000, "currency": "USD"}  # the monthly price the club page showed


def test_a_leader_sets_the_price_over_the_api(api_client) -> None:
    owner = make_creator()
    club = club_create(creator=owner, name="Poets", is_exclusive=True)
    api_client.force_authenticate(owner)
    url = f"/api/v1/payouts/clubs/{club.slug}/plan/"
    response = api_client.put(url, {"amount": 700, "currency": "usd"}, format="json")
    assert response.status_code == 200
    assert response.json()["amount"] == 700
    assert response.json()["currency"] == "USD"
    member = member_of(club)
    api_client.force_authenticate(member)
    assert api_client.get(url).json()["amount"] == 700
    refused = api_client.put(url, {"amount": 1}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "club_leader_required"


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [({"amount": -5}, "invalid", "amount"), ({"amount": 50}, "club_price_too_small", "amount"),
     ({}, "invalid", "amount")],
)  # fmt: skip
def test_bad_prices_have_the_stable_error_shape(api_client, body, code, field) -> None:
    owner = make_creator()
    club = club_create(creator=owner, name="Poets", is_exclusive=True)
    api_client.force_authenticate(owner)
    response = api_client.put(f"/api/v1/payouts/clubs/{club.slug}/plan/", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert field in error["fields"]
    assert error["message"]


def test_subscribe_cancel_resume_and_list_over_the_api(api_client) -> None:
    club = paid_club()
    user = member_of(club)
    api_client.force_authenticate(user)
    url = f"/api/v1/payouts/clubs/{club.slug}/subscribe/"
    no_card = api_client.post(url, SHOWN, format="json")
    assert no_card.status_code == 402
    assert no_card.json()["error"]["code"] == "payment_method_required"
    first = api_client.post(url, {**SHOWN, "payment_method": "pm_card_visa"}, format="json")
    assert first.status_code == 201
    assert first.json()["status"] == "active"
    again = api_client.post(url, SHOWN, format="json")
    assert again.status_code == 200
    assert again.json()["uuid"] == first.json()["uuid"]
    uuid = first.json()["uuid"]
    canceled = api_client.post(f"/api/v1/payouts/subscriptions/{uuid}/cancel/")
    assert canceled.status_code == 200
    assert canceled.json()["cancel_at_period_end"] is True
    resumed = api_client.post(f"/api/v1/payouts/subscriptions/{uuid}/resume/")
    assert resumed.json()["cancel_at_period_end"] is False
    mine = api_client.get("/api/v1/payouts/subscriptions/").json()["results"]
    assert [s["uuid"] for s in mine] == [uuid]
    assert mine[0]["club"] == club.slug


def test_3ds_over_the_api_returns_the_client_secret(api_client) -> None:
    club = paid_club()
    api_client.force_authenticate(member_of(club))
    response = api_client.post(
        f"/api/v1/payouts/clubs/{club.slug}/subscribe/",
        {**SHOWN, "payment_method": "pm_card_threeDSecure2Required"},
        format="json",
    )
    body = response.json()
    assert response.status_code == 201
    assert body["status"] == "incomplete"
    assert body["requires_action"] is True
    assert "_secret_" in body["client_secret"]


def test_someone_elses_subscription_is_not_found(api_client) -> None:
    club = paid_club()
    _, sub = subscribed(club)
    api_client.force_authenticate(make_user())
    response = api_client.post(f"/api/v1/payouts/subscriptions/{sub.uuid}/cancel/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "club_subscription_not_found"
    assert not ClubSubscription.objects.get(pk=sub.pk).cancel_at_period_end


def test_a_club_without_a_price_cannot_be_subscribed(api_client) -> None:
    owner = make_creator()
    club = club_create(creator=owner, name="Free", is_exclusive=True)
    ClubMembership.objects.create(club=club, user=(user := make_user()))
    api_client.force_authenticate(user)
    response = api_client.post(
        f"/api/v1/payouts/clubs/{club.slug}/subscribe/", SHOWN, format="json"
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "club_plan_missing"


# --- the wallet -------------------------------------------------------------------------------


def _history(owner: Any, n: int, client: Any, endpoint: Any) -> None:
    """n tips, n club subscribers (one partly refunded), a payout."""
    club = club_create(creator=owner, name=f"Club of {owner.username} {n}", is_exclusive=True)
    services.club_plan_set(club=club, actor=owner, price=Money(1000, "USD"))
    subs = []
    for _ in range(n):
        sender = make_user()
        follow(sender, owner)
        services.tip_send(sender=sender, creator=owner, amount=Money(500, "USD"),
                          payment_method="pm_card_visa")  # fmt: skip
        ClubMembership.objects.create(club=club, user=sender)
        subs.append(services.club_subscribe(club=club, user=sender)[0])
    invoice = STANDIN.get("invoices", STANDIN.get("subscriptions", subs[0].stripe_subscription_id)[
        "latest_invoice"])  # fmt: skip
    pi = invoice["payments"]["data"][-1]["payment"]["payment_intent"]
    get_provider().refund_create(payment_intent=pi, amount=100, idempotency_key=f"w-{n}")
    charge = next(e for e in reversed(STANDIN.events) if e["type"] == "charge.refunded")
    charge["data"]["object"]["metadata"] = {}  # an unlabelled invoice charge: found by charge id
    deliver(client, endpoint, [charge])
    event = STANDIN.connected_payout(owner.connected_account.stripe_account_id, 200)
    assert post_event(client, endpoint, event).status_code == 200


def test_the_wallet_shows_every_figure_from_the_ledger(api_client, client, webhook_endpoint):
    owner = make_creator()
    _history(owner, 2, client, webhook_endpoint)
    api_client.force_authenticate(owner)
    wallet = api_client.get("/api/v1/payouts/wallet/").json()
    usd = wallet["figures"]["USD"]
    assert usd["tips"] == 1000  # two tips of 500
    assert usd["memberships"] == 1800  # two invoices of 1000 less the 10% platform fee
    assert usd["refunds"] == -90  # 100 refunded: 90 of it was the creator's share
    assert usd["paid_out"] == -200
    assert usd["tickets"] == 0
    assert usd["stipends"] == 0
    assert usd["disputes"] == 0
    assert usd["balance"] == 1000 + 1800 - 90 - 200
    assert usd["balance"] == ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", owner)
    assert wallet["balances"] == {"USD": usd["balance"]}
    assert wallet["account"]["transfers_active"] is True
    assert wallet["clubs"][0]["subscribers"] == 2
    assert wallet["clubs"][0]["monthly"] == 2000
    assert [p["status"] for p in wallet["payouts"]] == ["paid"]
    assert len(wallet["tips_received"]) == 2


def test_the_wallet_query_count_does_not_grow_with_history(
    api_client, client, webhook_endpoint
) -> None:
    small, large = make_creator(), make_creator()
    _history(small, 1, client, webhook_endpoint)
    _history(large, 4, client, webhook_endpoint)
    counts = []
    for creator in (small, large):
        api_client.force_authenticate(creator)
        with CaptureQueriesContext(connection) as queries:
            assert api_client.get("/api/v1/payouts/wallet/").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 12
