"""Paid clubs: a monthly price per exclusive club, Stripe subscriptions, their invoices.

Why destination subscriptions (``transfer_data.destination`` + ``application_fee_percent``)
and not ``on_behalf_of``: creators' Express accounts are created with the ``transfers``
capability only (see ``StripeProvider.account_create``), and ``on_behalf_of`` needs
``card_payments`` on the connected account and makes it the merchant of record (its
statement descriptor, its country's pricing, disputes against it). Here the platform is the
merchant of record, as for tips: the card is charged on the platform, disputes and refunds
land on the platform balance, and each invoice's net of the application fee is transferred to
the club owner's connected account.

Access follows the subscription's state as re-fetched from the provider on every event (never
an event's snapshot, unless the provider cannot be reached), so duplicate and out-of-order
events converge on the same state. Premium access itself is decided by clubs
(``clubs.services.premium_membership_sync``).
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction

from accounts.models import User
from clubhouse.errors import ApplicationError, Conflict, InvalidInput, NotFound, PermissionDenied
from clubhouse.money import Money
from payouts import conf, fees, ledger
from payouts.audit import audit
from payouts.ledger import Kind, Line
from payouts.models import (
    ClubPlan,
    ClubSubscription,
    ConnectedAccount,
    CreatorProgram,
    Journal,
    MembershipInvoice,
    PaymentCustomer,
)
from payouts.provider import CardDeclined, ProviderError, ProviderUnavailable, get_provider
from payouts.services.charges import ChargeKind, charge_kind_register
from payouts.services.tips import PaymentMethodRequired, payment_method_save

logger = logging.getLogger(__name__)

S = ClubSubscription.Status
FINAL = {S.CANCELED, S.INCOMPLETE_EXPIRED}

# Stripe's subscription status -> the premium status clubs understand. `unpaid` (retries
# exhausted, invoices left open) and `paused` lapse access like an expiry; `incomplete` grants
# nothing yet and is not synced.
PREMIUM_STATUS: dict[str, str] = {
    S.ACTIVE: "active",
    S.TRIALING: "active",
    S.PAST_DUE: "past_due",
    S.UNPAID: "expired",
    S.PAUSED: "expired",
    S.INCOMPLETE_EXPIRED: "expired",
    S.CANCELED: "canceled",
}


class ClubPlanError(ApplicationError):
    code = "club_plan_invalid"
    status = 409


def _ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def _period(data: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    """Since API version 2025-03-31 the period lives on the subscription item."""
    items = ((data.get("items") or {}).get("data")) or []
    source = items[0] if items and items[0].get("current_period_end") else data
    return _ts(source.get("current_period_start")), _ts(source.get("current_period_end"))


# --- the price ------------------------------------------------------------------------------------


def club_owner(club: Any) -> User | None:
    """The payee of a paid club: its creator, while still one of its admins."""
    from clubs.models import ClubMembership

    if club.created_by_id is None:
        return None
    is_admin = ClubMembership.objects.filter(
        club=club, user_id=club.created_by_id, role=ClubMembership.Role.ADMIN
    ).exists()
    return club.created_by if is_admin else None


def _payee_account(club: Any) -> tuple[User, ConnectedAccount]:
    owner = club_owner(club)
    if owner is None:
        raise ClubPlanError(
            "This club has no owner who can be paid.", code="club_plan_owner_missing"
        )
    if not CreatorProgram.objects.filter(user=owner, active=True).exists():
        raise ClubPlanError(
            "The club's owner is not an approved creator.", code="club_plan_owner_not_creator"
        )
    account = ConnectedAccount.objects.filter(user=owner).first()
    if account is None or not account.transfers_active:
        raise ClubPlanError(
            "The club's owner has not finished setting up payouts.",
            code="club_plan_owner_not_onboarded",
        )
    return owner, account


def club_plan_set(*, club: Any, actor: User, price: Money) -> ClubPlan:
    """A leader or admin of an exclusive club sets its monthly price. The same price again
    changes nothing; a new price applies to new subscriptions only."""
    from clubs.errors import leader_required
    from clubs.selectors import club_can_manage_members

    if not club_can_manage_members(user=actor, club=club):
        raise leader_required()
    if not club.is_exclusive:
        raise ClubPlanError(
            "Only an exclusive club can charge for membership.", code="club_plan_not_exclusive"
        )
    if price.currency not in conf.club_currencies():
        raise InvalidInput(
            f"{price.currency} is not supported.",
            code="club_price_currency",
            fields={"currency": ["unsupported"]},
        )
    if price.amount < conf.club_price_min():
        raise InvalidInput(
            "That price is too low.", code="club_price_too_small", fields={"amount": ["too small"]}
        )
    if price.amount > conf.club_price_max():
        raise InvalidInput(
            "That price is too high.", code="club_price_too_large", fields={"amount": ["too large"]}
        )
    owner, account = _payee_account(club)
    current = ClubPlan.objects.filter(club=club).first()
    if (
        current is not None
        and current.active
        and (current.amount, current.currency, current.creator_id)
        == (price.amount, price.currency, owner.pk)
        and current.destination_account_id == account.stripe_account_id
    ):
        return current
    stripe_price = get_provider().price_create(
        amount=price.amount,
        currency=price.currency,
        product_name=f"{club.name} membership",
        metadata={"club": str(club.pk), "kind": "membership"},
        idempotency_key=f"club-price-{club.pk}-{price.currency}-{price.amount}",
    )
    with transaction.atomic():
        plan, _ = ClubPlan.objects.select_for_update().update_or_create(
            club=club,
            defaults={
                "creator": owner,
                "amount": price.amount,
                "currency": price.currency,
                "destination_account_id": account.stripe_account_id,
                "stripe_price_id": stripe_price["id"],
                "active": True,
                "set_by": actor,
            },
        )
        audit(plan, "price_set", actor=actor, note=f"{price.amount} {price.currency}/month")
    return plan


def club_plan_disable(*, club: Any, actor: User) -> ClubPlan:
    """Stop selling memberships; running subscriptions continue until canceled."""
    from clubs.errors import leader_required
    from clubs.selectors import club_can_manage_members

    if not club_can_manage_members(user=actor, club=club):
        raise leader_required()
    with transaction.atomic():
        plan = ClubPlan.objects.select_for_update().filter(club=club).first()
        if plan is None:
            raise NotFound("This club has no price.", code="club_plan_missing")
        if plan.active:
            plan.active = False
            plan.save(update_fields=["active", "updated"])
            audit(plan, "price_disabled", actor=actor)
    return plan


# --- subscribe, cancel, resume --------------------------------------------------------------------


def _live(club: Any, user: User) -> ClubSubscription | None:
    return ClubSubscription.objects.filter(club=club, user=user, status__in=S_LIVE).first()


S_LIVE = list(ClubSubscription.LIVE)


def club_subscribe(
    *, club: Any, user: User, payment_method: str | None = None
) -> tuple[ClubSubscription, bool]:
    """Subscribe a club member to the club's monthly plan with their saved card (or the card
    given, which is saved). Returns (subscription, created). Idempotent: a member with a live
    subscription gets it back (a pending cancellation is undone: resubscribing); one still
    waiting for 3-D Secure gets its confirmation secret again."""
    from clubs.errors import blocked, member_required
    from clubs.selectors import club_is_blocked_for, club_role

    plan = ClubPlan.objects.filter(club=club, active=True).first()
    if plan is None:
        raise NotFound("This club does not sell memberships.", code="club_plan_missing")
    if club_is_blocked_for(user=user, club=club):
        raise blocked()
    if club_role(user=user, club=club) is None:
        raise member_required()
    if plan.creator_id == user.pk:
        raise PermissionDenied(
            "You cannot subscribe to your own club.", code="club_subscription_self"
        )
    existing = _live(club, user)
    if existing is not None:
        return _subscribe_again(existing), False
    if payment_method:
        customer = payment_method_save(user=user, payment_method=payment_method)
    else:
        customer = PaymentCustomer.objects.filter(user=user).first()  # type: ignore[assignment]
        if customer is None or not customer.default_payment_method_id:
            raise PaymentMethodRequired()
    try:
        with transaction.atomic():
            sub = ClubSubscription.objects.create(
                club=club,
                user=user,
                plan=plan,
                creator_id=plan.creator_id,
                amount=plan.amount,
                currency=plan.currency,
                application_fee_percent=conf.club_platform_fee_percent(),
                destination_account_id=plan.destination_account_id,
                stripe_price_id=plan.stripe_price_id,
            )
            audit(sub, "created", to_status=sub.status, actor=user)
    except IntegrityError:  # a concurrent request created the live subscription first
        live = _live(club, user)
        if live is None:
            raise
        return _subscribe_again(live), False
    return _provider_create(sub, customer), True


def _provider_create(sub: ClubSubscription, customer: PaymentCustomer) -> ClubSubscription:
    try:
        data = get_provider().club_subscription_create(
            customer=customer.stripe_customer_id,
            price=sub.stripe_price_id,
            payment_method=customer.default_payment_method_id,
            destination=sub.destination_account_id,
            application_fee_percent=sub.application_fee_percent,
            metadata={
                "kind": "membership",
                "club_subscription": str(sub.uuid),
                "club": str(sub.club_id),
                "user": str(sub.user_id),
            },
            idempotency_key=f"club-sub-{sub.uuid}",
        )
    except ProviderUnavailable:
        raise  # unknown outcome: the row stays `incomplete`; asking again retries with the key
    except ProviderError as exc:
        _mark_failed(sub, exc.code)
        raise
    return _apply_created(sub, data)


def _apply_created(sub: ClubSubscription, data: dict[str, Any]) -> ClubSubscription:
    with transaction.atomic():
        locked = ClubSubscription.objects.select_for_update().get(pk=sub.pk)
        if not locked.stripe_subscription_id:
            locked.stripe_subscription_id = str(data["id"])
            locked.save(update_fields=["stripe_subscription_id", "updated"])
    invoice = data.get("latest_invoice") if isinstance(data.get("latest_invoice"), dict) else None
    if invoice and invoice.get("status") == "paid":
        membership_invoice_paid(invoice=invoice)
    sub = club_subscription_apply(data=data) or sub
    if sub.status == S.INCOMPLETE and invoice:
        intent = _invoice_intent(invoice)
        if intent and intent.get("status") == "requires_action":
            sub.client_secret = (invoice.get("confirmation_secret") or {}).get(  # type: ignore[attr-defined]
                "client_secret"
            ) or intent.get("client_secret")
            sub.requires_action = True  # type: ignore[attr-defined]
            return sub
        if intent and intent.get("status") in {"requires_payment_method", "canceled"}:
            code = str((intent.get("last_payment_error") or {}).get("code") or "card_declined")
            # Do not leave an unpaid subscription waiting 23 hours: cancel it, so the member can
            # try another card at once.
            try:
                data = get_provider().subscription_cancel_now(sub.stripe_subscription_id)
                club_subscription_apply(data=data)
            except ProviderError:
                logger.warning("could not cancel declined subscription %s", sub.pk)
            _mark_failed(sub, code)
            raise CardDeclined(extra={"decline_code": code})
    return sub


def _invoice_intent(invoice: dict[str, Any]) -> dict[str, Any] | None:
    payments = ((invoice.get("payments") or {}).get("data")) or []
    if not payments:
        return None
    pi = (payments[-1].get("payment") or {}).get("payment_intent")
    if isinstance(pi, dict):
        return pi
    return get_provider().payment_intent_retrieve(str(pi)) if pi else None


def _mark_failed(sub: ClubSubscription, code: str) -> None:
    with transaction.atomic():
        locked = ClubSubscription.objects.select_for_update().get(pk=sub.pk)
        locked.failure_code = code[:64]
        if locked.status == S.INCOMPLETE:
            # Never reached a paid first invoice: it will never grant anything.
            locked.status = S.INCOMPLETE_EXPIRED
            audit(locked, "failed", from_status=S.INCOMPLETE, to_status=locked.status, note=code)
        locked.save(update_fields=["status", "failure_code", "updated"])


def _subscribe_again(sub: ClubSubscription) -> ClubSubscription:
    if sub.status == S.INCOMPLETE and not sub.stripe_subscription_id:
        # The first attempt's outcome is unknown: repeat it with the same idempotency key.
        customer = PaymentCustomer.objects.filter(user_id=sub.user_id).first()
        if customer is None or not customer.default_payment_method_id:
            raise PaymentMethodRequired()
        return _provider_create(sub, customer)
    if sub.status == S.INCOMPLETE:
        data = get_provider().subscription_retrieve(sub.stripe_subscription_id)
        sub = club_subscription_apply(data=data) or sub  # 3-D Secure may have finished since
        if sub.status != S.INCOMPLETE:
            return sub
        invoice_id = data.get("latest_invoice")
        if isinstance(invoice_id, str):
            invoice = get_provider().invoice_retrieve(invoice_id)
            intent = _invoice_intent(invoice)
            if intent and intent.get("status") == "requires_action":
                sub.client_secret = intent.get("client_secret")  # type: ignore[attr-defined]
                sub.requires_action = True  # type: ignore[attr-defined]
        return sub
    if sub.cancel_at_period_end:
        return club_subscription_resume(subscription=sub, actor=sub.user)
    return sub


def club_subscription_cancel(*, subscription: ClubSubscription, actor: User) -> ClubSubscription:
    """Cancel at the end of the paid period: access continues until then."""
    if subscription.user_id != actor.pk and not actor.is_staff:
        raise NotFound("No such subscription.", code="club_subscription_not_found")
    if subscription.status in FINAL:
        return subscription
    if not subscription.stripe_subscription_id or subscription.status == S.INCOMPLETE:
        raise Conflict(
            "This subscription has not started yet.", code="club_subscription_not_started"
        )
    if subscription.cancel_at_period_end:
        return subscription
    data = get_provider().subscription_set_cancel_at_period_end(
        subscription=subscription.stripe_subscription_id,
        cancel=True,
        idempotency_key=f"club-sub-cancel-{subscription.uuid}-{subscription.updated.timestamp()}",
    )
    result = club_subscription_apply(data=data) or subscription
    audit(result, "cancel_requested", actor=actor)
    return result


def club_subscription_resume(*, subscription: ClubSubscription, actor: User) -> ClubSubscription:
    """Undo a pending cancellation before the period ends (resubscribing while still paid)."""
    if subscription.status in FINAL or not subscription.cancel_at_period_end:
        return subscription
    data = get_provider().subscription_set_cancel_at_period_end(
        subscription=subscription.stripe_subscription_id,
        cancel=False,
        idempotency_key=f"club-sub-resume-{subscription.uuid}-{subscription.updated.timestamp()}",
    )
    result = club_subscription_apply(data=data) or subscription
    audit(result, "resumed", actor=actor)
    return result


# --- the provider's state -> ours -> premium access ---------------------------------------------


def _find(data: dict[str, Any]) -> ClubSubscription | None:
    sub = ClubSubscription.objects.filter(stripe_subscription_id=str(data.get("id") or "-")).first()
    if sub is None:
        uuid = (data.get("metadata") or {}).get("club_subscription")
        if uuid:
            sub = ClubSubscription.objects.filter(uuid=uuid).first()
    return sub


def club_subscription_apply(*, data: dict[str, Any]) -> ClubSubscription | None:
    """Mirror a subscription's state (re-fetched from the provider) onto our row and premium
    access. Final states stay final; an older billing period never replaces a newer one; the
    same state twice changes nothing."""
    found = _find(data)
    if found is None:
        logger.warning("subscription %s is not one of ours", data.get("id"))
        return None
    with transaction.atomic():
        sub = ClubSubscription.objects.select_for_update().get(pk=found.pk)
        status = str(data.get("status") or sub.status)
        start, end = _period(data)
        if sub.status in FINAL:
            return sub
        if sub.current_period_end and end and end < sub.current_period_end:
            return sub  # a snapshot from an earlier period
        if status not in S.values:
            logger.warning("unknown subscription status %s", status)
            return sub
        if status != sub.status and status not in ClubSubscription.TRANSITIONS[sub.status]:
            # The provider's current state is the truth; note the unexpected move for staff.
            logger.warning("subscription %s moved %s -> %s", sub.pk, sub.status, status)
        before = (sub.status, sub.cancel_at_period_end, sub.current_period_start,
                  sub.current_period_end)  # fmt: skip
        sub.stripe_subscription_id = sub.stripe_subscription_id or str(data["id"])
        sub.status = status
        sub.cancel_at_period_end = bool(data.get("cancel_at_period_end"))
        sub.current_period_start = start or sub.current_period_start
        sub.current_period_end = end or sub.current_period_end
        if status in FINAL:
            sub.canceled_at = _ts(data.get("ended_at") or data.get("canceled_at"))
        after = (sub.status, sub.cancel_at_period_end, sub.current_period_start,
                 sub.current_period_end)  # fmt: skip
        if before == after:
            return sub
        sub.save()
        audit(sub, "synced", from_status=before[0], to_status=sub.status)
        _premium_sync(sub)
    return sub


def _premium_sync(sub: ClubSubscription) -> None:
    from clubs.models import Club, PremiumMembership
    from clubs.services import premium_membership_sync

    premium_status = PREMIUM_STATUS.get(sub.status)
    if premium_status is None:
        return
    club = Club.objects.filter(pk=sub.club_id).first() if sub.club_id else None
    if club is None:
        return  # the club was deleted; its premium rows went with it
    newest = ClubSubscription.objects.filter(club=club, user_id=sub.user_id).first()
    if newest is not None and newest.pk != sub.pk and newest.stripe_subscription_id:
        return  # a later subscription of the same member governs access now
    if (
        premium_status in {"expired", "canceled"}
        and not PremiumMembership.objects.filter(club=club, user_id=sub.user_id).exists()
    ):
        return  # never granted (e.g. a declined first payment), nothing to lapse
    premium_membership_sync(
        club=club,
        user=sub.user,
        status=premium_status,
        period_end=sub.current_period_end,
        provider_subscription_id=sub.stripe_subscription_id or None,
    )


def club_subscription_sync(*, subscription_id: str, snapshot: dict[str, Any]) -> None:
    """Webhook entry point: re-fetch the subscription, fall back to the event's snapshot only
    when the provider cannot be reached (the period and final-state guards still hold)."""
    try:
        data = get_provider().subscription_retrieve(subscription_id)
    except ProviderError:
        data = snapshot
    club_subscription_apply(data=data)


# --- invoices: the money ----------------------------------------------------------------------


def _invoice_subscription_id(invoice: dict[str, Any]) -> str:
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or {}
    sub = details.get("subscription") or invoice.get("subscription") or ""
    return str(sub.get("id") if isinstance(sub, dict) else sub)


def _invoice_sub(invoice: dict[str, Any]) -> ClubSubscription | None:
    sub = ClubSubscription.objects.filter(
        stripe_subscription_id=_invoice_subscription_id(invoice) or "-"
    ).first()
    if sub is None:
        meta = ((invoice.get("parent") or {}).get("subscription_details") or {}).get("metadata")
        uuid = (meta or {}).get("club_subscription")
        if uuid:
            sub = ClubSubscription.objects.filter(uuid=uuid).first()
    return sub


def membership_invoice_paid(*, invoice: dict[str, Any]) -> MembershipInvoice | None:
    """Book a paid membership invoice once (`membership:<invoice id>`): the card paid C, the
    club owner's connected account gets C - F (F = the application fee), the platform keeps F
    and pays Stripe's processing fee P from it."""
    # The provider's current invoice; if it cannot be reached, the event's snapshot says it was
    # paid and the amounts come from the payment intent below.
    with contextlib.suppress(ProviderError):
        invoice = get_provider().invoice_retrieve(str(invoice["id"]))
    if invoice.get("status") != "paid":
        return None
    sub = _invoice_sub(invoice)
    if sub is None:
        logger.warning("paid invoice %s is not a club membership of ours", invoice.get("id"))
        return None
    existing = MembershipInvoice.objects.filter(
        stripe_invoice_id=str(invoice["id"]), status=MembershipInvoice.Status.PAID
    ).first()
    if existing is not None:
        return existing
    intent = _paid_intent(invoice)
    if intent is None:
        logger.warning("paid invoice %s has no payment intent", invoice.get("id"))
        return None
    charged = int(intent.get("amount_received") or intent["amount"])
    app_fee = int(intent.get("application_fee_amount") or 0)
    currency = str(intent["currency"]).upper()
    processing = fees.processing_fee(charged, currency)
    charge_id = str(intent.get("latest_charge") or "")
    with transaction.atomic():
        list(ClubSubscription.objects.select_for_update().filter(pk=sub.pk).values_list("pk"))
        row, _ = MembershipInvoice.objects.select_for_update().get_or_create(
            stripe_invoice_id=str(invoice["id"]),
            defaults={"subscription": sub, "amount": charged, "currency": currency},
        )
        if row.status == MembershipInvoice.Status.PAID:
            return row
        row.status = MembershipInvoice.Status.PAID
        row.amount, row.currency = charged, currency
        row.application_fee, row.processing_fee = app_fee, processing
        row.stripe_payment_intent_id = str(intent["id"])
        row.stripe_charge_id = charge_id
        row.attempt_count = int(invoice.get("attempt_count") or row.attempt_count or 1)
        row.period_start = _ts(invoice.get("period_start"))
        row.period_end = _ts(invoice.get("period_end"))
        row.paid_at = _ts((invoice.get("status_transitions") or {}).get("paid_at"))
        row.save()
        c = currency
        ledger.journal_post(
            kind=Journal.Kind.MEMBERSHIP,
            currency=c,
            idempotency_key=f"membership:{invoice['id']}",
            description=f"club {sub.club_id} membership of user {sub.user_id}, "
            f"invoice {invoice['id']}",
            stripe_payment_intent_id=str(intent["id"]),
            stripe_charge_id=charge_id,
            lines=[
                Line(ledger.account(Kind.CUSTOMER_PAYMENTS, c), -charged),
                Line(ledger.account(Kind.CREATOR_PAYABLE, c, sub.creator_id), charged - app_fee),
                Line(ledger.account(Kind.PLATFORM_BALANCE, c), app_fee),
                Line(ledger.account(Kind.PLATFORM_BALANCE, c), -processing),
                Line(ledger.account(Kind.PROCESSING_FEES, c), processing),
            ],
        )
        audit(row, "paid", to_status=row.status, note=f"{charged} {c}")
        if charge_id:
            metadata = {"kind": "membership", "membership_invoice": str(invoice["id"]),
                        "club_subscription": str(sub.uuid)}  # fmt: skip
            transaction.on_commit(lambda: _label_charge(charge_id, metadata))
    return row


def _label_charge(charge_id: str, metadata: dict[str, str]) -> None:
    """Invoice charges carry no metadata of their own: label them, so refunds and disputes of
    the charge know what it paid for (the ledger also finds the payment by charge id)."""
    try:
        get_provider().charge_metadata_update(charge=charge_id, metadata=metadata)
    except ProviderError:
        logger.warning("could not label charge %s", charge_id)


def _paid_intent(invoice: dict[str, Any]) -> dict[str, Any] | None:
    payments = ((invoice.get("payments") or {}).get("data")) or []
    paid = [p for p in payments if p.get("status") == "paid"] or payments
    for payment in reversed(paid):
        pi = (payment.get("payment") or {}).get("payment_intent")
        if isinstance(pi, dict):
            return pi
        if pi:
            return get_provider().payment_intent_retrieve(str(pi))
    return None


def membership_invoice_failed(*, invoice: dict[str, Any]) -> None:
    """A payment attempt failed: note it; access follows the subscription's status (past_due
    starts the grace period), re-fetched here too in case its own event is late."""
    sub = _invoice_sub(invoice)
    if sub is None:
        return
    with transaction.atomic():
        row, _ = MembershipInvoice.objects.select_for_update().get_or_create(
            stripe_invoice_id=str(invoice["id"]),
            defaults={
                "subscription": sub,
                "amount": int(invoice.get("amount_due") or 0),
                "currency": str(invoice.get("currency") or sub.currency).upper(),
            },
        )
        if row.status == MembershipInvoice.Status.OPEN:
            row.attempt_count = max(row.attempt_count, int(invoice.get("attempt_count") or 0))
            row.save(update_fields=["attempt_count", "updated"])
    if sub.stripe_subscription_id:
        club_subscription_sync(
            subscription_id=sub.stripe_subscription_id,
            snapshot={"id": sub.stripe_subscription_id},
        )


# --- memberships as a kind of charge (refunds, disputes) ------------------------------------


def _membership_ensure_booked(charge: dict[str, Any]) -> None:
    invoice_id = (charge.get("metadata") or {}).get("membership_invoice")
    if invoice_id:
        membership_invoice_paid(invoice={"id": invoice_id})


charge_kind_register("membership", ChargeKind(ensure_booked=_membership_ensure_booked))


def membership_invoice_refund(
    *, invoice: MembershipInvoice, actor: User, amount: int | None = None
) -> MembershipInvoice:
    """Staff refund a paid membership invoice, in full or in part. The transfer to the club
    owner and the application fee are reversed in proportion; the ledger books the refund now
    (the `charge.refunded` webhook then finds it booked). Access is not changed: cancel the
    subscription for that."""
    if not actor.is_staff:
        raise PermissionDenied("Only staff can refund.", code="staff_required")
    if invoice.status != MembershipInvoice.Status.PAID or not invoice.stripe_payment_intent_id:
        raise Conflict("Only a paid invoice can be refunded.", code="illegal_transition")
    refunded_before = _refunded_total(invoice)
    if amount is not None and not 0 < amount <= invoice.amount - refunded_before:
        raise InvalidInput(
            "That is more than what is left to refund.",
            code="refund_amount_invalid",
            fields={"amount": ["out of range"]},
        )
    target = refunded_before + (amount if amount is not None else invoice.amount - refunded_before)
    refund = get_provider().refund_create(
        payment_intent=invoice.stripe_payment_intent_id,
        amount=target - refunded_before,
        idempotency_key=f"membership-refund-{invoice.stripe_invoice_id}-{target}",
    )
    from payouts.services.charges import charge_refunds_book

    charge_refunds_book(
        charge_id=invoice.stripe_charge_id, amount_refunded=target, refund_id=str(refund["id"])
    )
    audit(invoice, "refunded", actor=actor, note=f"{target - refunded_before} {invoice.currency}")
    return invoice


def _refunded_total(invoice: MembershipInvoice) -> int:
    from payouts.services.charges import refunded_booked

    return refunded_booked(invoice.stripe_charge_id) if invoice.stripe_charge_id else 0


def club_subscriptions_end_for_non_member(club_id: int, user_id: int) -> None:
    """clubs' membership-lost hook (after commit): someone who is no longer a member of the club
    (left, removed, or the club was deleted) stops paying for it at once. A lapse of premium
    access alone (the member stays) changes nothing here: Stripe's retries go on."""
    from clubs.models import ClubMembership

    if ClubMembership.objects.filter(club_id=club_id, user_id=user_id).exists():
        return
    live = ClubSubscription.objects.filter(club_id=club_id, user_id=user_id, status__in=S_LIVE)
    for sub in live.exclude(stripe_subscription_id=""):
        try:
            data = get_provider().subscription_cancel_now(sub.stripe_subscription_id)
        except ProviderError:
            logger.exception("could not cancel subscription %s of a former member", sub.pk)
            continue
        club_subscription_apply(data=data)
        audit(sub, "canceled_not_member", note=f"club {club_id}")
