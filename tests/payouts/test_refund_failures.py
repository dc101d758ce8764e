"""One refund rule for every kind of charge (tips, memberships, tickets): a refund is booked
when it has succeeded, and a booked refund that later fails or is canceled is reversed by a new
journal. Replays (3x) and reversed orders change nothing twice. Also: reconciliation per refund
over a history that straddles its window, and Stripe's dispute fee."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from clubhouse.errors import Conflict, InvalidInput, PermissionDenied
from clubhouse.money import Money
from payouts import ledger, reconciliation, services
from payouts.ledger import Kind
from payouts.models import ChargeRefund, Discrepancy, Journal, MembershipInvoice, Ticket, Tip
from payouts.provider import get_provider
from payouts.provider.standin import STANDIN
from payouts.services import charges, tickets
from payouts.services.memberships import membership_invoice_refund

from .conftest import follow, make_creator, make_user, post_event
from .test_memberships import paid_club, subscribed

pytestmark = pytest.mark.django_db
R = ChargeRefund.Status


def _tip() -> Tip:
    sender, creator = make_user(), make_creator()
    follow(sender, creator)
    tip = services.tip_send(
        sender=sender, creator=creator, amount=Money(1000, "USD"), payment_method="pm_card_visa"
    )
    assert tip.status == Tip.Status.SUCCEEDED
    return tip


def _invoice(django_capture_on_commit_callbacks: Any) -> MembershipInvoice:
    club = paid_club()  # 1000 USD a month, 10% to the platform
    with django_capture_on_commit_callbacks(execute=True):
        subscribed(club)
    return MembershipInvoice.objects.get(status=MembershipInvoice.Status.PAID)


def _events(*types: str, refund_id: str = "", charge_id: str = "") -> list[dict[str, Any]]:
    out = []
    for e in STANDIN.events:
        obj = e["data"]["object"]
        if e["type"] not in types:
            continue
        if refund_id and obj.get("object") == "refund" and obj["id"] != refund_id:
            continue
        if charge_id and obj.get("object") == "charge" and obj["id"] != charge_id:
            continue
        out.append(e)
    return out


def _post_all(client: Any, endpoint: Any, events: list[dict[str, Any]], times: int = 3) -> None:
    for _ in range(times):
        for e in events:
            assert post_event(client, endpoint, e).status_code == 200


def _refunds_booked() -> int:
    return ledger.balance_of(Kind.REFUNDS, "USD")


def _platform_matches_standin() -> None:
    assert STANDIN.available.get("usd", 0) == ledger.balance_of(Kind.PLATFORM_BALANCE, "USD")


# --- tips --------------------------------------------------------------------------------------


def test_a_pending_tip_refund_that_fails_is_never_booked_and_can_be_retried(
    client, webhook_endpoint
) -> None:
    tip = _tip()
    staff = make_user(is_staff=True)
    STANDIN.refunds_pending = True
    services.tip_refund(tip=tip, actor=staff)
    tip.refresh_from_db()
    row = ChargeRefund.objects.get(stripe_charge_id=tip.stripe_charge_id)
    assert (tip.status, row.status, row.charge_kind) == (Tip.Status.SUCCEEDED, R.PENDING, "tip")
    assert _refunds_booked() == 0  # pending: the money has not gone back yet

    STANDIN.refund_fail(row.stripe_refund_id)
    events = _events("refund.created", "refund.failed", refund_id=row.stripe_refund_id)
    _post_all(client, webhook_endpoint, list(reversed(events)))  # the failure first, 3x
    row.refresh_from_db()
    tip.refresh_from_db()
    assert (row.status, row.failure_reason) == (R.FAILED, "expired_or_canceled_card")
    assert tip.status == Tip.Status.SUCCEEDED
    assert _refunds_booked() == 0
    assert not Journal.objects.filter(
        kind__in=[Journal.Kind.TIP_REFUND, Journal.Kind.REFUND_REVERSED]
    ).exists()
    _platform_matches_standin()

    STANDIN.refunds_pending = False  # staff retry: a new request, not a replay of the failure
    services.tip_refund(tip=tip, actor=staff)
    tip.refresh_from_db()
    assert tip.status == Tip.Status.REFUNDED
    assert ChargeRefund.objects.filter(stripe_charge_id=tip.stripe_charge_id).count() == 2
    assert _refunds_booked() == tip.charge_amount
    assert ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", tip.creator) == 0
    _post_all(client, webhook_endpoint, _events("charge.refunded", "refund.updated"))
    assert Journal.objects.filter(kind=Journal.Kind.TIP_REFUND).count() == 1
    _platform_matches_standin()
    assert reconciliation.reconcile() == []


def test_a_pending_tip_refund_is_booked_only_when_it_succeeds(client, webhook_endpoint) -> None:
    tip = _tip()
    STANDIN.refunds_pending = True
    services.tip_refund(tip=tip, actor=make_user(is_staff=True))
    refund_id = ChargeRefund.objects.get().stripe_refund_id
    assert _refunds_booked() == 0
    STANDIN.refund_settle(refund_id, success=True)
    # `refund.updated` (succeeded) before `charge.refunded`, each three times.
    _post_all(
        client, webhook_endpoint, list(reversed(_events("charge.refunded", "refund.updated")))
    )
    tip.refresh_from_db()
    assert tip.status == Tip.Status.REFUNDED
    assert ChargeRefund.objects.get().status == R.SUCCEEDED
    assert _refunds_booked() == tip.charge_amount
    assert Journal.objects.filter(kind=Journal.Kind.TIP_REFUND).count() == 1
    _platform_matches_standin()


def test_a_tip_refund_that_fails_after_succeeding_is_reversed_by_a_new_journal(
    client, webhook_endpoint
) -> None:
    tip = _tip()
    services.tip_refund(tip=tip, actor=make_user(is_staff=True))
    tip.refresh_from_db()
    refund = ChargeRefund.objects.get()
    booked = Journal.objects.get(kind=Journal.Kind.TIP_REFUND)
    assert (tip.status, refund.status, refund.booked) == (Tip.Status.REFUNDED, R.SUCCEEDED, booked)

    STANDIN.refund_fail(refund.stripe_refund_id)
    _post_all(
        client, webhook_endpoint, _events("charge.refunded", "refund.updated", "refund.failed")
    )
    tip.refresh_from_db()
    refund.refresh_from_db()
    assert (tip.status, refund.status) == (Tip.Status.SUCCEEDED, R.FAILED)
    reversal = Journal.objects.get(kind=Journal.Kind.REFUND_REVERSED)
    assert refund.reversed_by == reversal
    assert Journal.objects.filter(pk=booked.pk).exists()  # never edited, never deleted
    assert _refunds_booked() == 0
    assert ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", tip.creator) == tip.amount
    # The creator's share was reversed with the refund: staff are asked to check it came back.
    flagged = Discrepancy.objects.get(
        kind=Discrepancy.Kind.UNEXPECTED_REVERSAL, object_type="refund"
    )
    assert (flagged.external_id, flagged.ledger_amount) == (refund.stripe_refund_id, tip.amount)


def test_a_refund_whose_failure_arrives_before_its_success_is_never_booked(
    client, webhook_endpoint
) -> None:
    tip = _tip()
    refund = get_provider().refund_create(
        payment_intent=tip.stripe_payment_intent_id, idempotency_key="dashboard"
    )  # made outside our services (the dashboard): only webhooks tell us
    STANDIN.refund_fail(refund["id"])
    events = _events("charge.refunded", "refund.updated", "refund.failed")
    _post_all(client, webhook_endpoint, list(reversed(events)))
    assert ChargeRefund.objects.get().status == R.FAILED
    assert _refunds_booked() == 0
    assert not Journal.objects.filter(kind=Journal.Kind.TIP_REFUND).exists()
    tip.refresh_from_db()
    assert tip.status == Tip.Status.SUCCEEDED


# --- memberships -------------------------------------------------------------------------------


def test_a_pending_membership_refund_that_fails_is_never_booked(
    client, webhook_endpoint, django_capture_on_commit_callbacks
) -> None:
    invoice = _invoice(django_capture_on_commit_callbacks)
    owner = invoice.subscription.creator
    staff = make_user(is_staff=True)
    STANDIN.refunds_pending = True
    membership_invoice_refund(invoice=invoice, actor=staff, amount=400)
    row = ChargeRefund.objects.get(stripe_charge_id=invoice.stripe_charge_id)
    assert (row.status, row.charge_kind, row.amount) == (R.PENDING, "membership", 400)
    assert _refunds_booked() == 0
    assert ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", owner) == 900
    # What a pending refund holds cannot be refunded a second time meanwhile.
    with pytest.raises(InvalidInput):
        membership_invoice_refund(invoice=invoice, actor=staff, amount=700)

    STANDIN.refund_fail(row.stripe_refund_id)
    _post_all(client, webhook_endpoint, _events("refund.created", "refund.failed"))
    row.refresh_from_db()
    assert row.status == R.FAILED
    assert _refunds_booked() == 0
    assert ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", owner) == 900
    _platform_matches_standin()

    STANDIN.refunds_pending = False  # the retry of the same amount is a new refund
    membership_invoice_refund(invoice=invoice, actor=staff, amount=400)
    assert ChargeRefund.objects.filter(status=R.SUCCEEDED).count() == 1
    assert _refunds_booked() == 400
    assert ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", owner) == 900 - 360
    _post_all(client, webhook_endpoint, _events("charge.refunded", "refund.updated"))
    assert Journal.objects.filter(kind=Journal.Kind.REFUND).count() == 1
    _platform_matches_standin()
    assert reconciliation.reconcile() == []


def test_a_membership_refund_canceled_after_success_is_reversed_once(
    client, webhook_endpoint, django_capture_on_commit_callbacks
) -> None:
    invoice = _invoice(django_capture_on_commit_callbacks)
    owner = invoice.subscription.creator
    STANDIN.refunds_pending = True
    membership_invoice_refund(invoice=invoice, actor=make_user(is_staff=True))
    refund_id = ChargeRefund.objects.get().stripe_refund_id
    STANDIN.refund_settle(refund_id, success=True)
    # The success (refund.updated before charge.refunded, 3x): booked once.
    _post_all(
        client, webhook_endpoint, list(reversed(_events("charge.refunded", "refund.updated")))
    )
    row = ChargeRefund.objects.get()
    assert row.status == R.SUCCEEDED
    assert row.booked is not None
    assert _refunds_booked() == 1000
    assert ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", owner) == 0

    STANDIN.refund_fail(refund_id, status="canceled")
    # Every event so far, replayed 3x in both orders: reversed once, never booked again.
    everything = _events("refund.created", "charge.refunded", "refund.updated")
    _post_all(client, webhook_endpoint, everything)
    _post_all(client, webhook_endpoint, list(reversed(everything)))
    row.refresh_from_db()
    assert row.status == R.CANCELED
    assert row.reversed_by is not None
    assert _refunds_booked() == 0
    assert ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", owner) == 900
    assert Journal.objects.filter(kind=Journal.Kind.REFUND).count() == 1
    assert Journal.objects.filter(kind=Journal.Kind.REFUND_REVERSED).count() == 1


def test_a_membership_refund_canceled_before_its_success_arrives_books_nothing(
    client, webhook_endpoint, django_capture_on_commit_callbacks
) -> None:
    invoice = _invoice(django_capture_on_commit_callbacks)
    STANDIN.refunds_pending = True
    membership_invoice_refund(invoice=invoice, actor=make_user(is_staff=True))
    refund_id = ChargeRefund.objects.get().stripe_refund_id
    STANDIN.refund_settle(refund_id, success=True)
    STANDIN.refund_fail(refund_id, status="canceled")
    refund_events = _events("refund.updated")  # succeeded, then canceled
    # The cancellation first, then the older news of its success, then charge.refunded.
    _post_all(
        client, webhook_endpoint, [refund_events[1], refund_events[0], *_events("charge.refunded")]
    )
    assert ChargeRefund.objects.get().status == R.CANCELED
    assert _refunds_booked() == 0
    assert not Journal.objects.filter(kind=Journal.Kind.REFUND).exists()


# --- tickets -----------------------------------------------------------------------------------


def test_a_ticket_refund_failing_after_success_reverses_the_booking_and_can_be_retried(
    client, webhook_endpoint
) -> None:
    from .test_tickets import _sold, priced_event

    event = priced_event(1500)
    (ticket,) = _sold(event, 1)
    staff = make_user(is_staff=True)
    ticket = tickets.ticket_refund(ticket=ticket, actor=staff)
    assert ticket.status == Ticket.Status.REFUNDED
    assert _refunds_booked() == 1500
    first = ticket.stripe_refund_id
    STANDIN.refund_fail(first)
    _post_all(
        client,
        webhook_endpoint,
        list(reversed(_events("charge.refunded", "refund.updated", "refund.failed"))),
    )
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.REFUND_FAILED
    assert _refunds_booked() == 0
    assert ledger.balance_of(Kind.CREATOR_PAYABLE, "USD", event.created_by) == 1350
    assert Journal.objects.filter(kind=Journal.Kind.REFUND_REVERSED).count() == 1

    retried = tickets.ticket_refund(ticket=ticket, actor=staff)
    assert retried.status == Ticket.Status.REFUNDED
    assert retried.stripe_refund_id not in {"", first}
    assert _refunds_booked() == 1500
    _post_all(
        client, webhook_endpoint, _events("charge.refunded", "refund.updated", "refund.failed")
    )
    retried.refresh_from_db()
    assert retried.status == Ticket.Status.REFUNDED
    assert _refunds_booked() == 1500
    assert Journal.objects.filter(kind=Journal.Kind.TICKET_REFUND).count() == 2


def test_a_pending_ticket_refund_that_fails_books_nothing(client, webhook_endpoint) -> None:
    from .test_tickets import _sold, priced_event

    event = priced_event(1500)
    (ticket,) = _sold(event, 1)
    STANDIN.refunds_pending = True
    ticket = tickets.ticket_refund(ticket=ticket, actor=make_user(is_staff=True))
    assert ticket.status == Ticket.Status.REFUND_PENDING
    assert ChargeRefund.objects.get().status == R.PENDING
    STANDIN.refund_fail(ticket.stripe_refund_id)
    _post_all(client, webhook_endpoint, list(reversed(_events("refund.created", "refund.failed"))))
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.REFUND_FAILED
    assert _refunds_booked() == 0
    assert not Journal.objects.filter(
        kind__in=[Journal.Kind.TICKET_REFUND, Journal.Kind.REFUND_REVERSED]
    ).exists()
    _platform_matches_standin()


# --- reconciliation ----------------------------------------------------------------------------


def _age_refund(refund_id: str, days: int) -> None:
    STANDIN.objects["refunds"][refund_id]["created"] -= days * 86400


def test_reconciliation_is_clean_on_refunds_that_straddle_its_window(
    client, webhook_endpoint, django_capture_on_commit_callbacks
) -> None:
    invoice = _invoice(django_capture_on_commit_callbacks)
    staff = make_user(is_staff=True)
    membership_invoice_refund(invoice=invoice, actor=staff, amount=300)
    old = ChargeRefund.objects.get().stripe_refund_id
    _age_refund(old, days=5)  # made long before the window
    membership_invoice_refund(invoice=invoice, actor=staff, amount=200)
    assert _refunds_booked() == 500
    since = timezone.now() - timedelta(hours=1)
    assert reconciliation.reconcile(since=since) == []

    # A refund made at the provider that the ledger never heard of is still caught.
    missing = get_provider().refund_create(
        payment_intent=invoice.stripe_payment_intent_id, amount=100, idempotency_key="dash"
    )
    found = {(d.kind, d.object_type, d.external_id) for d in reconciliation.reconcile(since=since)}
    assert found == {(Discrepancy.Kind.MISSING_IN_LEDGER, "refund", missing["id"])}


def test_reconciliation_flags_a_refund_booked_that_the_provider_says_failed(
    django_capture_on_commit_callbacks,
) -> None:
    invoice = _invoice(django_capture_on_commit_callbacks)
    membership_invoice_refund(invoice=invoice, actor=make_user(is_staff=True), amount=300)
    refund_id = ChargeRefund.objects.get().stripe_refund_id
    STANDIN.refund_fail(refund_id)  # its events never delivered
    _age_refund(refund_id, days=5)
    found = {
        (d.kind, d.object_type, d.external_id)
        for d in reconciliation.reconcile(since=timezone.now() - timedelta(hours=1))
    }
    assert (Discrepancy.Kind.MISSING_AT_PROVIDER, "refund", refund_id) in found


# --- dispute fees -----------------------------------------------------------------------------


def test_the_dispute_fee_is_booked_as_an_expense_and_returned_when_the_dispute_is_won(
    client, webhook_endpoint
) -> None:
    tip = _tip()
    opened = STANDIN.dispute(tip.stripe_charge_id)
    dispute_id = opened["data"]["object"]["id"]
    withdrawn = _events("charge.dispute.created", "charge.dispute.funds_withdrawn")
    _post_all(client, webhook_endpoint, withdrawn)
    fee = Journal.objects.get(kind=Journal.Kind.DISPUTE_FEE)
    assert (fee.stripe_dispute_id, fee.stripe_charge_id) == (dispute_id, tip.stripe_charge_id)
    assert ledger.balance_of(Kind.DISPUTE_FEES, "USD") == 1500
    assert ledger.balance_of(Kind.DISPUTES, "USD") == tip.charge_amount
    _platform_matches_standin()
    assert reconciliation.reconcile() == []

    won = STANDIN.dispute_won(dispute_id)
    _post_all(client, webhook_endpoint, [won])
    assert ledger.balance_of(Kind.DISPUTE_FEES, "USD") == 0
    assert ledger.balance_of(Kind.DISPUTES, "USD") == 0
    assert Journal.objects.filter(kind=Journal.Kind.DISPUTE_FEE_RETURNED).count() == 1
    assert Journal.objects.filter(kind=Journal.Kind.DISPUTE_FEE).count() == 1
    _platform_matches_standin()
    assert reconciliation.reconcile() == []


def test_reconciliation_catches_a_dispute_fee_missing_from_the_ledger(
    client, webhook_endpoint
) -> None:
    tip = _tip()
    opened = STANDIN.dispute(tip.stripe_charge_id)
    dispute_id = opened["data"]["object"]["id"]
    # An event whose dispute snapshot lacks its balance transactions: the fee is not booked.
    stripped = {
        **opened,
        "data": {"object": {**opened["data"]["object"], "balance_transactions": []}},
    }
    assert post_event(client, webhook_endpoint, stripped).status_code == 200
    assert ledger.balance_of(Kind.DISPUTE_FEES, "USD") == 0
    found = {
        (d.kind, d.object_type, d.external_id, d.provider_amount)
        for d in reconciliation.reconcile()
    }
    assert (Discrepancy.Kind.MISSING_IN_LEDGER, "dispute_fee", dispute_id, 1500) in found


# --- staff: admin shows pending and failed refunds, retries them; the sweep --------------------


def test_admin_shows_a_tips_pending_then_failed_refund_and_staff_retry_it(client) -> None:
    tip = _tip()
    staff = make_user(is_staff=True, is_superuser=True)
    client.force_login(staff)
    STANDIN.refunds_pending = True
    response = client.post(
        "/admin/payouts/tip/",
        {"action": "refund", "_selected_action": [tip.pk], "apply": "1", "reason": "asked"},
    )
    assert response.status_code == 302
    page = client.get("/admin/payouts/tip/")
    assert b"Pending at the provider: 1061 USD" in page.content
    row = ChargeRefund.objects.get()
    STANDIN.refund_fail(row.stripe_refund_id)
    charges.charge_refund_refresh(refund=row)  # as the webhook (or the sweep) would
    page = client.get("/admin/payouts/tip/")
    assert b"Failed (retry in admin) (expired_or_canceled_card): 1061 USD" in page.content
    assert client.get("/admin/payouts/chargerefund/").status_code == 200

    STANDIN.refunds_pending = False
    response = client.post(
        "/admin/payouts/chargerefund/",
        {"action": "retry", "_selected_action": [row.pk], "apply": "1", "reason": "new card"},
    )
    assert response.status_code == 302
    tip.refresh_from_db()
    assert tip.status == Tip.Status.REFUNDED
    assert _refunds_booked() == tip.charge_amount
    assert list(ChargeRefund.objects.order_by("pk").values_list("status", flat=True)) == [
        R.FAILED,
        R.SUCCEEDED,
    ]


def test_retrying_a_refund_that_did_not_fail_is_refused(django_capture_on_commit_callbacks) -> None:
    invoice = _invoice(django_capture_on_commit_callbacks)
    staff = make_user(is_staff=True)
    STANDIN.refunds_pending = True
    membership_invoice_refund(invoice=invoice, actor=staff, amount=100)
    with pytest.raises(Conflict):
        charges.charge_refund_retry(refund=ChargeRefund.objects.get(), actor=staff)
    with pytest.raises(PermissionDenied):
        charges.charge_refund_retry(refund=ChargeRefund.objects.get(), actor=make_user())


def test_the_sweep_settles_a_pending_refund_whose_webhook_was_lost(
    django_capture_on_commit_callbacks,
) -> None:
    invoice = _invoice(django_capture_on_commit_callbacks)
    STANDIN.refunds_pending = True
    membership_invoice_refund(invoice=invoice, actor=make_user(is_staff=True), amount=250)
    row = ChargeRefund.objects.get()
    STANDIN.refund_settle(row.stripe_refund_id, success=True)  # its events never arrive
    assert charges.charge_refunds_refresh_stale(older_than_seconds=3600) == []  # too recent
    assert charges.charge_refunds_refresh_stale(older_than_seconds=-1) == [R.SUCCEEDED]
    assert _refunds_booked() == 250
    assert charges.charge_refunds_refresh_stale(older_than_seconds=-1) == []  # nothing pending
    assert reconciliation.reconcile() == []


def test_a_refund_booked_before_this_rule_is_not_booked_again(client, webhook_endpoint) -> None:
    from payouts.ledger import Line

    tip = _tip()
    refund = get_provider().refund_create(
        payment_intent=tip.stripe_payment_intent_id, idempotency_key="old"
    )
    c = "USD"
    legacy = ledger.journal_post(  # what the old cumulative booking wrote for this refund
        kind=Journal.Kind.TIP_REFUND, currency=c,
        idempotency_key=f"refund:{tip.stripe_charge_id}:{tip.charge_amount}",
        stripe_charge_id=tip.stripe_charge_id, stripe_refund_id=refund["id"],
        lines=[Line(ledger.account(Kind.REFUNDS, c), tip.charge_amount),
               Line(ledger.account(Kind.PLATFORM_BALANCE, c), -tip.fee),
               Line(ledger.account(Kind.CREATOR_PAYABLE, c, tip.creator), -tip.amount)],
    )  # fmt: skip
    _post_all(client, webhook_endpoint, _events("charge.refunded", "refund.updated"))
    assert ChargeRefund.objects.get().booked == legacy
    assert _refunds_booked() == tip.charge_amount
    tip.refresh_from_db()
    assert tip.status == Tip.Status.REFUNDED
