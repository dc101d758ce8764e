"""Paid clubs: monthly subscriptions, access from webhooks, their journals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from clubhouse.errors import ApplicationError
from clubhouse.money import Money
from clubs.models import ClubMembership, PremiumMembership
from clubs.selectors import club_premium_access
from clubs.services import club_create
from payouts import ledger, services
from payouts.ledger import Kind
from payouts.models import (
    ClubSubscription,
    HandledEvent,
    Journal,
    MembershipInvoice,
    PaymentCustomer,
)
from payouts.provider import CardDeclined
from payouts.provider.standin import STANDIN
from payouts.services.cards import PaymentMethodRequired

from .conftest import make_creator, make_user, post_event

pytestmark = pytest.mark.django_db

PRICE = Money(1000, "USD")


def paid_club(*, price: Money = PRICE) -> Any:
    owner = make_creator()
    club = club_create(creator=owner, name="Night Owls", is_exclusive=True)
    services.club_plan_set(club=club, actor=owner, price=price)
    return club


def member_of(club: Any) -> Any:
    user = make_user()
    ClubMembership.objects.create(club=club, user=user, role=ClubMembership.Role.MEMBER)
    return user


def subscribed(club: Any, card: str = "pm_card_visa") -> tuple[Any, ClubSubscription]:
    user = member_of(club)
    sub, created = services.club_subscribe(club=club, user=user, payment_method=card)
    assert created
    return user, sub


def deliver(client: Any, endpoint: Any, events: list[dict[str, Any]]) -> None:
    """Post what a webhook endpoint subscribed to our types receives (dj-stripe's own mirrors
    of charges and payment intents would call the real Stripe)."""
    from payouts.webhooks import HANDLERS, MIRROR_DISABLED

    for event in events:
        if event["type"] in HANDLERS or event["type"] in MIRROR_DISABLED:
            assert post_event(client, endpoint, event).status_code == 200


def events_of(sub: ClubSubscription) -> list[dict[str, Any]]:
    """Every stand-in event about this subscription or its invoices, in Stripe's order."""
    out = []
    for e in STANDIN.events:
        obj = e["data"]["object"]
        parent = (obj.get("parent") or {}).get("subscription_details") or {}
        if sub.stripe_subscription_id in {obj.get("id"), parent.get("subscription")}:
            out.append(e)
    return out


# --- setting a price ------------------------------------------------------------------------


def test_a_leader_sets_the_monthly_price_of_an_exclusive_club_owned_by_a_creator() -> None:
    owner = make_creator()
    club = club_create(creator=owner, name="Jazz", is_exclusive=True)
    leader = make_user()
    ClubMembership.objects.create(club=club, user=leader, role=ClubMembership.Role.LEADER)
    plan = services.club_plan_set(club=club, actor=leader, price=Money(500, "EUR"))
    assert (plan.amount, plan.currency, plan.creator_id) == (500, "EUR", owner.pk)
    price = STANDIN.get("prices", plan.stripe_price_id)
    assert (price["unit_amount"], price["currency"], price["recurring"]["interval"]) == (
        500, "eur", "month",
    )  # fmt: skip


def test_the_same_price_twice_creates_one_stripe_price() -> None:
    club = paid_club()
    owner = club.created_by
    services.club_plan_set(club=club, actor=owner, price=PRICE)
    assert len(STANDIN.all("prices")) == 1


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ("plain_member", "club_leader_required"),
        ("not_exclusive", "club_plan_not_exclusive"),
        ("owner_not_creator", "club_plan_owner_not_creator"),
        ("owner_not_onboarded", "club_plan_owner_not_onboarded"),
        ("too_small", "club_price_too_small"),
        ("currency", "club_price_currency"),
    ],
)
def test_setting_a_price_is_refused_with_a_clear_error(setup: str, code: str) -> None:
    owner = (
        make_user()
        if setup == "owner_not_creator"
        else make_creator(active=setup != "owner_not_onboarded")
    )
    club = club_create(creator=owner, name="X", is_exclusive=setup != "not_exclusive")
    actor = owner
    if setup == "plain_member":
        actor = member_of(club)
    price = {"too_small": Money(5, "USD"), "currency": Money(500, "CHF")}.get(setup, PRICE)
    with pytest.raises(ApplicationError) as exc:
        services.club_plan_set(club=club, actor=actor, price=price)
    assert exc.value.code == code


# --- subscribing ----------------------------------------------------------------------------


def test_first_subscription_saves_the_card_and_grants_premium_access() -> None:
    club = paid_club()
    user, sub = subscribed(club)
    assert sub.status == ClubSubscription.Status.ACTIVE
    assert club_premium_access(user, club)
    premium = PremiumMembership.objects.get(club=club, user=user)
    assert premium.provider_subscription_id == sub.stripe_subscription_id
    assert premium.current_period_end == sub.current_period_end
    stripe_sub = STANDIN.get("subscriptions", sub.stripe_subscription_id)
    assert stripe_sub["transfer_data"]["destination"] == sub.destination_account_id
    assert stripe_sub["application_fee_percent"] == 10.0  # a JSON number, as Stripe sends
    assert PaymentCustomer.objects.get(user=user).card_last4 == "4242"


def test_a_later_subscription_reuses_the_saved_card() -> None:
    club, other = paid_club(), paid_club()
    user, _ = subscribed(club)
    ClubMembership.objects.create(club=other, user=user)
    sub, created = services.club_subscribe(club=other, user=user)
    assert created
    assert sub.status == ClubSubscription.Status.ACTIVE
    customer = PaymentCustomer.objects.get(user=user)
    subs = STANDIN.all("subscriptions")
    assert {s["default_payment_method"] for s in subs} == {customer.default_payment_method_id}


def test_without_a_saved_card_a_card_is_required() -> None:
    club = paid_club()
    with pytest.raises(PaymentMethodRequired):
        services.club_subscribe(club=club, user=member_of(club))
    assert not ClubSubscription.objects.exists()


def test_only_members_can_subscribe() -> None:
    club = paid_club()
    with pytest.raises(ApplicationError) as exc:
        services.club_subscribe(club=club, user=make_user(), payment_method="pm_card_visa")
    assert exc.value.code == "club_member_required"


def test_subscribing_twice_returns_the_same_subscription_and_charges_once() -> None:
    club = paid_club()
    user, sub = subscribed(club)
    again, created = services.club_subscribe(club=club, user=user)
    assert not created
    assert again.pk == sub.pk
    assert len(STANDIN.all("subscriptions")) == 1
    assert MembershipInvoice.objects.count() == 1


def test_3ds_leaves_the_subscription_incomplete_with_a_client_secret_then_activates(
    client, webhook_endpoint
) -> None:
    club = paid_club()
    user, sub = subscribed(club, card="pm_card_threeDSecure2Required")
    assert sub.status == ClubSubscription.Status.INCOMPLETE
    assert getattr(sub, "requires_action", False)
    assert sub.client_secret.startswith("pi_")
    assert not club_premium_access(user, club)
    again, created = services.club_subscribe(club=club, user=user)
    assert not created
    assert again.client_secret == sub.client_secret
    invoice_id = STANDIN.get("subscriptions", sub.stripe_subscription_id)["latest_invoice"]
    events = STANDIN.invoice_complete_3ds(invoice_id)
    # Asking again before the webhooks arrive already sees the subscription active.
    assert services.club_subscribe(club=club, user=user)[0].status == "active"
    deliver(client, webhook_endpoint, events)
    sub.refresh_from_db()
    assert sub.status == ClubSubscription.Status.ACTIVE
    assert club_premium_access(user, club)
    assert Journal.objects.filter(kind=Journal.Kind.MEMBERSHIP).count() == 1


def test_a_declined_card_fails_cleanly_and_the_member_can_try_another() -> None:
    club = paid_club()
    user = member_of(club)
    with pytest.raises(CardDeclined):
        services.club_subscribe(club=club, user=user, payment_method="pm_card_chargeDeclined")
    failed = ClubSubscription.objects.get(user=user)
    assert not failed.is_live
    assert failed.failure_code == "card_declined"
    assert STANDIN.get("subscriptions", failed.stripe_subscription_id)["status"] == "canceled"
    assert not club_premium_access(user, club)
    assert not PremiumMembership.objects.filter(club=club, user=user).exists()
    sub, created = services.club_subscribe(club=club, user=user, payment_method="pm_card_visa")
    assert created
    assert sub.status == ClubSubscription.Status.ACTIVE


# --- the ledger -----------------------------------------------------------------------------


def test_each_paid_invoice_is_one_balanced_membership_journal(
    django_capture_on_commit_callbacks,
) -> None:
    club = paid_club()
    with django_capture_on_commit_callbacks(execute=True):
        subscribed(club)
    journal = Journal.objects.get(kind=Journal.Kind.MEMBERSHIP)
    owner = club.created_by
    # 1000 charged; 10% application fee (100) stays with the platform, minus Stripe's fee.
    assert ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", owner) == 900
    assert ledger.balance_of(Kind.CUSTOMER_PAYMENTS, "USD") == -1000
    assert ledger.balance_of(Kind.PROCESSING_FEES, "USD") == 59  # 2.9% + 30
    assert ledger.balance_of(Kind.PLATFORM_BALANCE, "USD") == 100 - 59
    assert journal.stripe_charge_id == MembershipInvoice.objects.get().stripe_charge_id
    # The charge is labelled so that refunds and disputes know what it paid for.
    charge = STANDIN.get("charges", journal.stripe_charge_id)
    assert charge["metadata"]["kind"] == "membership"
    assert STANDIN.available["usd"] == ledger.balance_of(Kind.PLATFORM_BALANCE, "USD")


# --- access follows the subscription from webhooks -----------------------------------------------


def test_a_renewal_extends_access_and_books_a_second_invoice(client, webhook_endpoint) -> None:
    club = paid_club()
    user, sub = subscribed(club)
    first_end = sub.current_period_end
    deliver(client, webhook_endpoint, STANDIN.subscription_advance(sub.stripe_subscription_id))
    sub.refresh_from_db()
    assert sub.current_period_end > first_end
    assert PremiumMembership.objects.get(club=club, user=user).current_period_end == (
        sub.current_period_end
    )
    assert Journal.objects.filter(kind=Journal.Kind.MEMBERSHIP).count() == 2


def test_past_due_keeps_access_for_the_grace_period_then_lapses(
    client, webhook_endpoint, settings
) -> None:
    settings.CLUBS_PREMIUM_GRACE_DAYS = 3
    club = paid_club()
    user, sub = subscribed(club)
    events = STANDIN.subscription_advance(sub.stripe_subscription_id, fail=True)
    assert {e["type"] for e in events} >= {
        "invoice.payment_failed",
        "customer.subscription.updated",
    }
    deliver(client, webhook_endpoint, events)
    sub.refresh_from_db()
    premium = PremiumMembership.objects.get(club=club, user=user)
    assert sub.status == ClubSubscription.Status.PAST_DUE
    assert premium.status == PremiumMembership.Status.PAST_DUE
    assert club_premium_access(user, club)
    later = timezone.now() + timedelta(days=3, minutes=1)
    assert not club_premium_access(user, club, now=later)
    assert MembershipInvoice.objects.filter(status=MembershipInvoice.Status.OPEN).count() == 1


def test_a_successful_retry_reactivates(client, webhook_endpoint) -> None:
    club = paid_club()
    user, sub = subscribed(club)
    deliver(client, webhook_endpoint, STANDIN.subscription_advance(sub.stripe_subscription_id,
                                                                  fail=True))  # fmt: skip
    invoice_id = STANDIN.get("subscriptions", sub.stripe_subscription_id)["latest_invoice"]
    deliver(client, webhook_endpoint, STANDIN.invoice_retry(invoice_id))
    sub.refresh_from_db()
    premium = PremiumMembership.objects.get(club=club, user=user)
    assert sub.status == ClubSubscription.Status.ACTIVE
    assert premium.status == PremiumMembership.Status.ACTIVE
    assert premium.grace_until is None
    assert Journal.objects.filter(kind=Journal.Kind.MEMBERSHIP).count() == 2


@pytest.mark.parametrize("outcome", ["canceled", "unpaid"])
def test_exhausted_retries_lapse_access(client, webhook_endpoint, outcome: str) -> None:
    club = paid_club()
    user, sub = subscribed(club)
    deliver(client, webhook_endpoint, STANDIN.subscription_advance(sub.stripe_subscription_id,
                                                                  fail=True))  # fmt: skip
    event = STANDIN.subscription_retries_exhausted(sub.stripe_subscription_id, outcome=outcome)
    deliver(client, webhook_endpoint, [event])
    sub.refresh_from_db()
    assert sub.status == outcome
    assert not club_premium_access(user, club)


def test_cancel_at_period_end_keeps_access_until_the_period_ends_and_resubscribe_undoes_it(
    client, webhook_endpoint
) -> None:
    club = paid_club()
    user, sub = subscribed(club)
    sub = services.club_subscription_cancel(subscription=sub, actor=user)
    assert sub.cancel_at_period_end
    assert sub.status == ClubSubscription.Status.ACTIVE
    assert club_premium_access(user, club)
    again, created = services.club_subscribe(club=club, user=user)
    assert not created
    assert not again.cancel_at_period_end
    assert not STANDIN.get("subscriptions", sub.stripe_subscription_id)["cancel_at_period_end"]
    services.club_subscription_cancel(subscription=again, actor=user)
    deliver(client, webhook_endpoint, STANDIN.subscription_advance(sub.stripe_subscription_id))
    sub.refresh_from_db()
    assert sub.status == ClubSubscription.Status.CANCELED
    assert not club_premium_access(user, club)
    # A new subscription after the end is a new one, and access comes back.
    new, created = services.club_subscribe(club=club, user=user)
    assert created
    assert new.pk != sub.pk
    assert club_premium_access(user, club)


def test_a_late_event_of_an_old_subscription_does_not_touch_the_new_one(
    client, webhook_endpoint
) -> None:
    club = paid_club()
    user, old = subscribed(club)
    services.club_subscription_cancel(subscription=old, actor=user)
    ended = STANDIN.subscription_advance(old.stripe_subscription_id)
    deliver(client, webhook_endpoint, ended)
    new, _ = services.club_subscribe(club=club, user=user)
    created_event = events_of(old)[0]
    deliver(client, webhook_endpoint, [created_event, *ended])
    assert PremiumMembership.objects.get(club=club, user=user).provider_subscription_id == (
        new.stripe_subscription_id
    )
    assert club_premium_access(user, club)


def test_every_event_three_times_changes_nothing_twice(client, webhook_endpoint) -> None:
    club = paid_club()
    user, sub = subscribed(club)
    events = events_of(sub) + STANDIN.subscription_advance(sub.stripe_subscription_id)
    for _ in range(3):
        deliver(client, webhook_endpoint, events)
    sub.refresh_from_db()
    assert sub.status == ClubSubscription.Status.ACTIVE
    assert Journal.objects.filter(kind=Journal.Kind.MEMBERSHIP).count() == 2
    assert HandledEvent.objects.filter(event_id__in=[e["id"] for e in events]).count() == len(
        {e["id"] for e in events if e["type"] in _handled_types()}
    )
    assert club_premium_access(user, club)


def test_events_in_reverse_order_reach_the_same_state(client, webhook_endpoint) -> None:
    club = paid_club()
    user, sub = subscribed(club)
    events = events_of(sub)
    events += STANDIN.subscription_advance(sub.stripe_subscription_id, fail=True)
    events.append(STANDIN.subscription_retries_exhausted(sub.stripe_subscription_id))
    deliver(client, webhook_endpoint, list(reversed(events)))
    sub.refresh_from_db()
    assert sub.status == ClubSubscription.Status.CANCELED
    assert PremiumMembership.objects.get(club=club, user=user).status == "canceled"
    assert not club_premium_access(user, club)
    assert Journal.objects.filter(kind=Journal.Kind.MEMBERSHIP).count() == 1


def test_a_forged_subscription_event_is_a_400_and_changes_nothing(client, webhook_endpoint) -> None:
    club = paid_club()
    user, sub = subscribed(club)
    event = STANDIN.subscription_retries_exhausted(sub.stripe_subscription_id)
    assert post_event(client, webhook_endpoint, event, secret="whsec_forged").status_code == 400
    sub.refresh_from_db()
    assert sub.status == ClubSubscription.Status.ACTIVE
    assert club_premium_access(user, club)


def _handled_types() -> set[str]:
    from payouts.webhooks import HANDLERS

    return set(HANDLERS)


# --- no double subscriptions ------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_subscribe_requests_make_one_subscription() -> None:
    import threading

    from django.db import connection

    club = paid_club()
    user = member_of(club)
    services.payment_method_save(user=user, payment_method="pm_card_visa")
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []
    results: list[int] = []

    def run() -> None:
        try:
            barrier.wait()
            sub, _ = services.club_subscribe(club=club, user=user)
            results.append(sub.pk)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread, which asserts on it
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(results)) == 1
    assert ClubSubscription.objects.count() == 1
    assert len(STANDIN.all("subscriptions")) == 1
    assert Journal.objects.filter(kind=Journal.Kind.MEMBERSHIP).count() == 1


def test_an_unknown_outcome_is_retried_with_the_same_key_and_subscribes_once() -> None:
    from payouts.provider import ProviderUnavailable
    from payouts.provider.standin import StandInError

    club = paid_club()
    user = member_of(club)
    services.payment_method_save(user=user, payment_method="pm_card_visa")
    STANDIN.fail_next = [StandInError(500, "api_error", "boom") for _ in range(3)]  # > retries
    with pytest.raises(ProviderUnavailable):
        services.club_subscribe(club=club, user=user)
    pending = ClubSubscription.objects.get()
    assert pending.status == ClubSubscription.Status.INCOMPLETE
    assert not pending.stripe_subscription_id
    # At once, the row could be a concurrent request's still waiting for its answer: left to it.
    assert services.club_subscribe(club=club, user=user)[0].status == "incomplete"
    assert not STANDIN.all("subscriptions")
    ClubSubscription.objects.update(created=timezone.now() - timedelta(minutes=1))
    sub, created = services.club_subscribe(club=club, user=user)
    assert not created
    assert sub.pk == pending.pk
    assert sub.status == ClubSubscription.Status.ACTIVE
    assert len(STANDIN.all("subscriptions")) == 1


# --- leaving the club ends the subscription ---------------------------------------------------


def test_a_member_who_leaves_stops_paying_at_once(django_capture_on_commit_callbacks) -> None:
    from clubs.services import club_leave

    club = paid_club()
    user, sub = subscribed(club)
    with django_capture_on_commit_callbacks(execute=True):
        club_leave(club=club, user=user)
    sub.refresh_from_db()
    assert sub.status == ClubSubscription.Status.CANCELED
    assert STANDIN.get("subscriptions", sub.stripe_subscription_id)["status"] == "canceled"


def test_a_lapse_of_premium_for_a_member_does_not_cancel_the_subscription(
    django_capture_on_commit_callbacks,
) -> None:
    from clubs.services import premium_memberships_expire_due

    club = paid_club()
    user, sub = subscribed(club)
    STANDIN.subscription_advance(sub.stripe_subscription_id, fail=True)
    services.club_subscription_sync(subscription_id=sub.stripe_subscription_id, snapshot={})
    later = timezone.now() + timedelta(days=30)
    PremiumMembership.objects.filter(club=club, user=user).update(grace_until=later - timedelta(
        days=40))  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        premium_memberships_expire_due()  # runs the membership-lost hooks for the lapse
    assert PremiumMembership.objects.get(club=club, user=user).status == "expired"
    assert STANDIN.get("subscriptions", sub.stripe_subscription_id)["status"] == "past_due"
    assert ClubSubscription.objects.get(pk=sub.pk).status == ClubSubscription.Status.PAST_DUE


def test_deleting_a_club_cancels_its_subscriptions_and_keeps_the_records(
    api_client, django_capture_on_commit_callbacks
) -> None:
    from clubs.services import club_delete

    club = paid_club()
    user, sub = subscribed(club)
    with django_capture_on_commit_callbacks(execute=True):
        club_delete(club=club, actor=club.created_by)
    sub.refresh_from_db()
    assert sub.status == ClubSubscription.Status.CANCELED
    assert Journal.objects.filter(kind=Journal.Kind.MEMBERSHIP).count() == 1
    api_client.force_authenticate(user)
    mine = api_client.get("/api/v1/payouts/subscriptions/").json()["results"]
    assert [(s["uuid"], s["club"], s["status"]) for s in mine] == [
        (str(sub.uuid), None, "canceled")
    ]


# --- when Stripe cannot be reached, the event's own snapshot is ordered by its period ------------


def _unreachable() -> None:
    from payouts.provider.standin import StandInError

    assert STANDIN.fail_next == []  # the previous outage was used up: the snapshot was applied
    STANDIN.fail_next = [StandInError(500, "api_error", "down") for _ in range(3)]  # > retries


def test_without_stripe_an_older_period_snapshot_does_not_replace_a_newer_one() -> None:
    club = paid_club()
    user, sub = subscribed(club)
    first_period = json_copy(STANDIN.get("subscriptions", sub.stripe_subscription_id))
    STANDIN.subscription_advance(sub.stripe_subscription_id, fail=True)
    past_due = json_copy(STANDIN.get("subscriptions", sub.stripe_subscription_id))
    _unreachable()
    services.club_subscription_sync(subscription_id=sub.stripe_subscription_id, snapshot=past_due)
    _unreachable()
    services.club_subscription_sync(
        subscription_id=sub.stripe_subscription_id, snapshot=first_period
    )  # late, from the previous period
    assert STANDIN.fail_next == []
    sub.refresh_from_db()
    assert sub.status == ClubSubscription.Status.PAST_DUE
    assert PremiumMembership.objects.get(club=club, user=user).status == "past_due"


def test_without_stripe_a_canceled_subscription_stays_canceled() -> None:
    club = paid_club()
    user, sub = subscribed(club)
    active = json_copy(STANDIN.get("subscriptions", sub.stripe_subscription_id))
    ended = STANDIN.subscription_retries_exhausted(sub.stripe_subscription_id)["data"]["object"]
    _unreachable()
    services.club_subscription_sync(subscription_id=sub.stripe_subscription_id, snapshot=ended)
    _unreachable()
    services.club_subscription_sync(subscription_id=sub.stripe_subscription_id, snapshot=active)
    assert STANDIN.fail_next == []
    sub.refresh_from_db()
    assert sub.status == ClubSubscription.Status.CANCELED
    assert not club_premium_access(user, club)


def json_copy(obj: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(obj))
