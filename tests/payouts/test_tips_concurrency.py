"""Tips under concurrency, on PostgreSQL: ten requests at once, each thread its own database
connection, through the REST API as the apps send them."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from rest_framework.test import APIClient

from payouts import services
from payouts.models import Journal, Tip
from payouts.provider.standin import STANDIN

from .conftest import follow, make_creator, make_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _sender_with_a_saved_card() -> tuple[Any, Any]:
    creator, sender = make_creator(), make_user()
    follow(sender, creator)
    services.payment_method_save(user=sender, payment_method="pm_card_visa")
    return sender, creator


def _post_at_once(sender: Any, bodies: list[tuple[dict[str, Any], dict[str, str]]]) -> list[Any]:
    """POST every (body, headers) to /payouts/tips/ from its own thread, all released together."""
    barrier = threading.Barrier(len(bodies))
    responses: list[Any] = [None] * len(bodies)
    errors: list[BaseException] = []

    def run(i: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        try:
            client = APIClient()
            client.force_authenticate(sender)
            barrier.wait(timeout=60)
            responses[i] = client.post("/api/v1/payouts/tips/", body, format="json", **headers)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread, which asserts on it
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, b, h)) for i, (b, h) in enumerate(bodies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    assert all(not t.is_alive() for t in threads)
    return responses


@override_settings(PAYOUTS_TIP_DAILY_LIMIT=3500)
def test_the_daily_limit_holds_under_ten_concurrent_tips() -> None:
    sender, creator = _sender_with_a_saved_card()
    body = {"creator": creator.username, "amount": 1000, "currency": "USD"}
    # Ten distinct taps (each its own Idempotency-Key), all at once: three tips of 1000 fit in 3500.
    responses = _post_at_once(
        sender, [(body, {"HTTP_IDEMPOTENCY_KEY": f"tap-{i}"}) for i in range(10)]
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 3 + [403] * 7
    refused = [r.json()["error"] for r in responses if r.status_code == 403]
    assert {e["code"] for e in refused} == {"tip_daily_limit"}
    assert all("daily" in e["message"] for e in refused)
    assert Tip.objects.filter(status=Tip.Status.SUCCEEDED).count() == 3
    assert Tip.objects.count() == 3  # a refused tip leaves no row behind
    assert len(STANDIN.all("payment_intents")) == 3  # and never reaches the card
    assert Journal.objects.filter(kind=Journal.Kind.TIP).count() == 3


def test_a_double_tap_without_a_key_charges_once_even_when_the_taps_race() -> None:
    sender, creator = _sender_with_a_saved_card()
    body = {"creator": creator.username, "amount": 1000, "currency": "USD"}
    responses = _post_at_once(sender, [(body, {}) for _ in range(5)])
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["uuid"] for r in responses}) == 1
    assert len(STANDIN.all("payment_intents")) == 1
    assert Tip.objects.count() == 1
