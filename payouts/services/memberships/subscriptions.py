"""Subscribe, cancel, resume; mirror the provider's subscription onto ours and onto premium
access."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from clubhouse.errors import Conflict, NotFound, PermissionDenied
from clubhouse.money import Money
from clubs.errors import blocked, member_required
from clubs.selectors import (
    club_find,
    club_is_blocked_for,
    club_is_member,
    club_role,
    premium_membership_exists,
)
from clubs.services import premium_membership_sync
from payouts import conf
from payouts.audit import audit
from payouts.models import ClubPlan, ClubSubscription, PaymentCustomer
from payouts.provider import CardDeclined, ProviderError, ProviderUnavailable, get_provider
from payouts.services.cards import PaymentMethodRequired, payment_method_save
from payouts.services.memberships._common import (
    FINAL,
    PREMIUM_STATUS,
    S_LIVE,
    S,
    _period,
    _ts,
)
from payouts.services.memberships.invoices import (
    membership_invoice_attempt_failed,
    membership_invoice_paid,
)
from payouts.services.quotes import price_require_shown

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)

# An `incomplete` subscription with no provider id this young was just created by a concurrent
# request still waiting for Stripe's answer (a double tap): asking again now would race it, and
# with other parameters (the card saved in between) Stripe refuses the reused key. The first
# request finishes it; after this long its call went unanswered and asking again is safe.
UNANSWERED_AFTER_SECONDS = 30


# --- subscribe, cancel, resume --------------------------------------------------------------------


def _live(club: Any, user: User) -> ClubSubscription | None:
    return ClubSubscription.objects.filter(club=club, user=user, status__in=S_LIVE).first()


def club_subscribe(
    *,
    club: Any,
    user: User,
    payment_method: str | None = None,
    shown_price: Money | None = None,
) -> tuple[ClubSubscription, bool]:
    """Subscribe a club member to the club's monthly plan with their saved card (or the card
    given, which is saved). Returns (subscription, created). Idempotent: a member with a live
    subscription gets it back (a pending cancellation is undone: resubscribing); one still
    waiting for 3-D Secure gets its confirmation secret again. `shown_price` is the monthly
    price the member was shown: a new subscription is only made at that price
    (`price_changed`)."""

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
    price_require_shown(shown=shown_price, amount=plan.amount, currency=plan.currency)
    if payment_method:
        customer = payment_method_save(user=user, payment_method=payment_method)
    else:
        customer = PaymentCustomer.objects.filter(user=user).first()  # type: ignore[assignment]
        if customer is None or not customer.default_payment_method_id:
            raise PaymentMethodRequired()
    try:
        with transaction.atomic():
            # The plan's lock orders this after any price change (club_plan_set holds it): the
            # subscription is made at the price checked here.
            plan = ClubPlan.objects.select_for_update().get(pk=plan.pk)
            if not plan.active:
                raise NotFound("This club does not sell memberships.", code="club_plan_missing")
            price_require_shown(shown=shown_price, amount=plan.amount, currency=plan.currency)
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
        if exc.code == "idempotency_error":
            # The key was used before with other parameters (another card): that first request
            # may well have subscribed the member. Never a failure: find what it made.
            made = _provider_find(sub)
            if made is not None:
                return _apply_created(sub, made)
            raise ProviderUnavailable() from exc
        _mark_failed(sub, exc.code)
        raise
    return _apply_created(sub, data)


def _provider_find(sub: ClubSubscription) -> dict[str, Any] | None:
    """The provider's subscription made for this row by an earlier, unanswered request (found
    by its `club_subscription` metadata), with its latest invoice, or None."""
    customer = PaymentCustomer.objects.filter(user_id=sub.user_id).first()
    if customer is None:
        return None
    provider = get_provider()
    for data in provider.subscription_list(customer=customer.stripe_customer_id):
        if (data.get("metadata") or {}).get("club_subscription") == str(sub.uuid):
            invoice = data.get("latest_invoice")
            if isinstance(invoice, str):
                data["latest_invoice"] = provider.invoice_retrieve(invoice)
            return data
    return None


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
        if (timezone.now() - sub.created).total_seconds() <= UNANSWERED_AFTER_SECONDS:
            return sub  # a concurrent request is still waiting for its answer: it finishes it
        # The first attempt's outcome is unknown: find what it made, or repeat it with the
        # same idempotency key.
        made = _provider_find(sub)
        if made is not None:
            return _apply_created(sub, made)
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
    premium_status = PREMIUM_STATUS.get(sub.status)
    if premium_status is None:
        return
    club = club_find(sub.club_id) if sub.club_id else None
    if club is None:
        return  # the club was deleted; its premium rows went with it
    newest = ClubSubscription.objects.filter(club=club, user_id=sub.user_id).first()
    if newest is not None and newest.pk != sub.pk and newest.stripe_subscription_id:
        return  # a later subscription of the same member governs access now
    if premium_status in {"expired", "canceled"} and not premium_membership_exists(
        club=club, user_id=sub.user_id
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


def membership_invoice_failed(*, invoice: dict[str, Any]) -> None:
    """`invoice.payment_failed`: the attempt is noted on the invoice, and the subscription is
    re-fetched (access follows its status: past_due starts the grace period), in case its own
    event is late."""
    sub = membership_invoice_attempt_failed(invoice=invoice)
    if sub is not None and sub.stripe_subscription_id:
        club_subscription_sync(
            subscription_id=sub.stripe_subscription_id,
            snapshot={"id": sub.stripe_subscription_id},
        )


def club_subscriptions_end_for_non_member(club_id: int, user_id: int) -> None:
    """clubs' membership-lost hook (after commit): someone who is no longer a member of the club
    (left, removed, or the club was deleted) stops paying for it at once. A lapse of premium
    access alone (the member stays) changes nothing here: Stripe's retries go on."""
    if club_is_member(club_id=club_id, user_id=user_id):
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
