"""Payment attempts have their own, stricter limit, and refused payments count toward a limit
of their own: a card tester whose cards keep failing is stopped before the attempt limit."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings

from clubhouse.throttling import parse_rate

from .conftest import follow, make_creator, make_user

pytestmark = pytest.mark.django_db


def _limit(scope: str) -> int:
    return min(window.limit for window in parse_rate(settings.THROTTLE_RATES[scope]))


def _tip(client, creator, payment_method: str | None):  # type: ignore[no-untyped-def]
    body = {"creator": creator.username, "amount": 500, "currency": "USD"}
    if payment_method:
        body["payment_method"] = payment_method
    return client.post(
        "/api/v1/payouts/tips/", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
    )


@pytest.fixture
def tipper(api_client):  # type: ignore[no-untyped-def]
    creator, sender = make_creator(), make_user()
    follow(sender, creator)
    api_client.force_authenticate(sender)
    return api_client, creator


def test_after_the_failed_payment_limit_even_a_good_card_is_refused(tipper) -> None:  # type: ignore[no-untyped-def]
    client, creator = tipper
    failures = _limit("payment_failure")
    assert failures < _limit("payment")  # so it is the failures that stop the tester here
    for _ in range(failures):
        declined = _tip(client, creator, "pm_card_chargeDeclined")
        assert declined.status_code == 402
        assert declined.json()["error"]["code"] == "card_declined"
    refused = _tip(client, creator, "pm_card_visa")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert "failed payments" in refused.json()["error"]["message"]
    assert int(refused["Retry-After"]) > 0


def test_payments_that_go_through_do_not_count_as_failures(tipper) -> None:  # type: ignore[no-untyped-def]
    client, creator = tipper
    for _ in range(_limit("payment_failure") + 1):
        assert _tip(client, creator, "pm_card_visa").status_code == 201


def test_being_asked_for_a_card_is_not_a_failed_payment(tipper) -> None:  # type: ignore[no-untyped-def]
    client, creator = tipper
    for _ in range(_limit("payment_failure") + 1):
        missing = _tip(client, creator, None)
        assert missing.json()["error"]["code"] == "payment_method_required"
    assert _tip(client, creator, "pm_card_visa").status_code == 201


def test_every_attempt_counts_toward_the_payment_limit(tipper) -> None:  # type: ignore[no-untyped-def]
    client, creator = tipper
    for _ in range(_limit("payment")):
        assert _tip(client, creator, None).status_code == 402
    refused = _tip(client, creator, "pm_card_visa")
    assert refused.status_code == 429
    assert "payment attempts" in refused.json()["error"]["message"]
