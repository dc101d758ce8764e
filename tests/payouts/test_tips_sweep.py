"""Tips whose provider call got no answer: the periodic sweep settles them from what the
provider knows (the stand-in plays the lost answer and the request that never arrived)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from accounts.models import Notification
from payouts import ledger, services
from payouts.ledger import Kind
from payouts.models import Journal, Tip
from payouts.provider.standin import STANDIN, StandInError

from .conftest import follow, make_creator, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair() -> tuple[Any, Any]:
    creator, sender = make_creator(), make_user()
    follow(sender, creator)
    services.payment_method_save(user=sender, payment_method="pm_card_visa")
    return sender, creator


def _send(api_client: Any, sender: Any, creator: Any, key: str = "tap-1") -> Any:
    api_client.force_authenticate(sender)
    body = {"creator": creator.username, "amount": 1000, "currency": "USD"}
    return api_client.post("/api/v1/payouts/tips/", body, HTTP_IDEMPOTENCY_KEY=key)


def _age(tip: Tip, minutes: int = 16) -> None:
    Tip.objects.filter(pk=tip.pk).update(created=tip.created - timedelta(minutes=minutes))


def _sweep(capture: Any) -> list[str]:
    from payouts.tasks import tips_settle_stuck_task

    with capture(execute=True):
        return tips_settle_stuck_task.delay().get()


def _money_notes(user: Any) -> list[dict[str, Any]]:
    return list(
        Notification.objects.filter(recipient=user, kind="money").values_list("data", flat=True)
    )


def test_a_tip_charged_whose_answer_was_lost_is_settled_as_succeeded(
    api_client, pair, django_capture_on_commit_callbacks
) -> None:
    sender, creator = pair
    STANDIN.lose_responses = 3  # the charge is made; the answer (and stripe-python's retries') lost
    timed_out = _send(api_client, sender, creator)
    assert timed_out.status_code == 503
    assert timed_out.json()["error"]["code"] == "payment_provider_unavailable"
    tip = Tip.objects.get()
    assert tip.status == Tip.Status.CREATED
    assert not tip.stripe_payment_intent_id
    (intent,) = STANDIN.all("payment_intents")
    assert intent["status"] == "succeeded"  # the card was charged

    assert _sweep(django_capture_on_commit_callbacks) == []  # too recent: may still be in flight
    _age(tip)
    assert _sweep(django_capture_on_commit_callbacks) == ["succeeded"]
    assert _sweep(django_capture_on_commit_callbacks) == []  # settled once

    tip.refresh_from_db()
    assert (tip.status, tip.stripe_payment_intent_id) == ("succeeded", intent["id"])
    assert tip.stripe_charge_id == intent["latest_charge"]
    assert Journal.objects.filter(kind=Journal.Kind.TIP).count() == 1
    assert ledger.creator_balances(creator) == {"USD": 1000}
    assert ledger.balance_of(Kind.PLATFORM_BALANCE, "USD") == STANDIN.available["usd"]
    # Both see the final state.
    assert api_client.get(f"/api/v1/payouts/tips/{tip.uuid}/").json()["status"] == "succeeded"
    assert _money_notes(creator) == [{"tip": str(tip.uuid), "amount": 1000, "currency": "USD"}]
    assert _money_notes(sender) == [{"tip": str(tip.uuid), "event": "tip_succeeded",
                                     "amount": 1000, "currency": "USD"}]  # fmt: skip
    # The client's retry of the same tap shows the outcome and charges nothing more.
    retried = _send(api_client, sender, creator)
    assert retried.status_code == 201
    assert retried.json()["status"] == "succeeded"
    assert len(STANDIN.all("payment_intents")) == 1


def test_a_tip_the_provider_never_saw_is_failed_with_a_reason(
    api_client, pair, django_capture_on_commit_callbacks
) -> None:
    sender, creator = pair
    STANDIN.fail_next = [StandInError(500, "api_error", "boom") for _ in range(3)]  # > retries
    assert _send(api_client, sender, creator).status_code == 503
    tip = Tip.objects.get()
    assert tip.status == Tip.Status.CREATED
    assert not STANDIN.all("payment_intents")
    _age(tip)
    assert _sweep(django_capture_on_commit_callbacks) == ["failed"]
    tip.refresh_from_db()
    assert (tip.status, tip.failure_code) == ("failed", "provider_no_record")
    assert not Journal.objects.exists()
    assert not STANDIN.all("payment_intents")
    detail = api_client.get(f"/api/v1/payouts/tips/{tip.uuid}/").json()
    assert (detail["status"], detail["failure_code"]) == ("failed", "provider_no_record")
    assert _money_notes(sender) == [{"tip": str(tip.uuid), "event": "tip_failed",
                                     "amount": 1000, "currency": "USD"}]  # fmt: skip
    assert _money_notes(creator) == []
    # Nothing was charged, so nothing counts against the day's limit: a new tap goes through.
    again = _send(api_client, sender, creator, key="tap-2")
    assert again.status_code == 201
    assert again.json()["status"] == "succeeded"


def test_a_tip_stays_stuck_while_the_provider_cannot_be_asked(
    api_client, pair, django_capture_on_commit_callbacks
) -> None:
    sender, creator = pair
    STANDIN.lose_responses = 3
    assert _send(api_client, sender, creator).status_code == 503
    tip = Tip.objects.get()
    _age(tip)
    STANDIN.fail_next = [StandInError(500, "api_error", "boom") for _ in range(3)]
    assert _sweep(django_capture_on_commit_callbacks) == []  # no answer: the next run asks again
    tip.refresh_from_db()
    assert tip.status == Tip.Status.CREATED
    assert _sweep(django_capture_on_commit_callbacks) == ["succeeded"]


def test_a_tip_whose_lost_answer_asked_for_3ds_waits_for_the_cardholder(
    api_client, django_capture_on_commit_callbacks
) -> None:
    creator, sender = make_creator(), make_user()
    follow(sender, creator)
    services.payment_method_save(user=sender, payment_method="pm_card_threeDSecure2Required")
    STANDIN.lose_responses = 3
    assert _send(api_client, sender, creator).status_code == 503
    tip = Tip.objects.get()
    _age(tip)
    assert _sweep(django_capture_on_commit_callbacks) == ["requires_action"]
    tip.refresh_from_db()
    assert tip.status == Tip.Status.REQUIRES_ACTION
    assert tip.stripe_payment_intent_id


def test_the_payments_sweep_is_scheduled() -> None:
    from django_celery_beat.models import PeriodicTask

    from payouts.setup import ensure_periodic_tasks

    ensure_periodic_tasks()
    ensure_periodic_tasks()
    task = PeriodicTask.objects.get(task="payouts.tasks.charges_settle_stuck_task")
    assert (task.interval.every, task.interval.period) == (5, "minutes")


def test_the_tips_only_sweep_entry_becomes_the_payments_sweep() -> None:
    """A deployment made before tickets were swept has the tips-only entry: left as created,
    it becomes the payments sweep (once); one staff changed is theirs, next to the new one."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from payouts.setup import STUCK_CHARGES_TASK_NAME, STUCK_TIPS_TASK_NAME, ensure_periodic_tasks

    PeriodicTask.objects.filter(name=STUCK_CHARGES_TASK_NAME).delete()  # as before this version
    every, _ = IntervalSchedule.objects.get_or_create(every=5, period=IntervalSchedule.MINUTES)
    old = PeriodicTask.objects.create(name=STUCK_TIPS_TASK_NAME, interval=every,
                                      task="payouts.tasks.tips_settle_stuck_task")  # fmt: skip
    ensure_periodic_tasks()
    ensure_periodic_tasks()
    (entry,) = PeriodicTask.objects.filter(task__endswith="settle_stuck_task")
    assert (entry.pk, entry.name, entry.task) == (
        old.pk, STUCK_CHARGES_TASK_NAME, "payouts.tasks.charges_settle_stuck_task",
    )  # fmt: skip

    PeriodicTask.objects.create(name="staff: tips sweep every minute", interval=every,
                                task="payouts.tasks.tips_settle_stuck_task")  # fmt: skip
    ensure_periodic_tasks()
    assert PeriodicTask.objects.filter(task__endswith="settle_stuck_task").count() == 2
