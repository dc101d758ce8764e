"""Send Money: tips where the sender pays the processing fees on top.

A tip is a destination charge to the creator's connected account with
``application_fee_amount`` = the fees collected, and a transfer group per tip. Its payment is
the one lifecycle of every charge (services/charges.py: the synchronous answer first, then
webhooks, which may arrive twice or out of order; unanswered requests asked again or swept);
this module is what a tip adds: who may send what, its sale terms, the notifications, and its
own refund and dispute states (``TIP_CHARGES``, registered by ``PayoutsConfig.ready``).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.permissions import user_require_verified_member
from accounts.selectors import feature_access, user_follows, user_is_blocked_between
from accounts.services import NotificationKind, notification_create
from clubhouse.errors import Conflict, InvalidInput, PermissionDenied
from clubhouse.money import Money
from payouts import conf, fees, ledger, selectors
from payouts.audit import audit, require_transition
from payouts.ledger import Kind, Line
from payouts.models import (
    ChargeRefund,
    ConnectedAccount,
    Journal,
    PaymentCustomer,
    Tip,
)
from payouts.provider import get_provider
from payouts.services.cards import PaymentMethodRequired, payment_method_save
from payouts.services.charges import (
    ChargeKind,
    RefundChange,
    Sale,
    charge_apply_payment_intent,
    charge_create,
    charge_mark_failed,
    charge_mark_paid,
    charge_mark_requires_action,
    charge_refresh_for_payer,
    charge_settle_from_provider,
    charges_settle_stuck,
    dispute_funds_withdrawn_book,
    refund_events_apply,
    refunded_booked,
)

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)


class TipNotAllowed(PermissionDenied):
    code = "tip_not_allowed"


def _eligibility(sender: User, creator: User, amount: Money) -> ConnectedAccount:
    if sender.pk == creator.pk:
        raise TipNotAllowed("You cannot send money to yourself.", code="tip_self")
    if user_is_blocked_between(sender, creator):
        raise TipNotAllowed("You cannot send money to this person.", code="tip_blocked")
    # The gate is here, not only on the page: a sender outside the Send Money beta (or with
    # the feature switched off) is refused whatever client they use.
    access = feature_access(selectors.SEND_MONEY_FEATURE, sender)
    if not access.allowed:
        if access.reason == "feature_off":
            raise TipNotAllowed("Send Money is switched off for now.", code="send_money_off")
        raise TipNotAllowed(
            "Send Money is in beta and open only to the people in its beta group for now.",
            code="send_money_not_in_beta",
        )
    reason = selectors.creator_receive_money_reason(creator)
    if reason in {"not_in_program", "turned_off_by_staff"}:
        raise TipNotAllowed("This person cannot receive money.", code="tip_creator_not_eligible")
    if reason == "turned_off_by_creator":
        raise TipNotAllowed(
            "This creator has turned Send Money off.", code="tip_creator_send_money_off"
        )
    account = ConnectedAccount.objects.filter(user=creator).first()
    if reason == "payouts_not_set_up" or account is None:
        raise TipNotAllowed(
            "This creator has not finished setting up payouts yet.",
            code="tip_creator_not_onboarded",
        )
    if not (user_follows(sender, creator) or selectors.users_shared_room_recently(sender, creator)):
        raise TipNotAllowed(
            "Follow this creator (or share a room with them) to send money.",
            code="tip_relationship_required",
        )
    if amount.currency not in conf.tip_currencies():
        raise InvalidInput(
            f"{amount.currency} is not supported.",
            code="tip_currency",
            fields={"currency": ["unsupported"]},
        )
    if amount.amount < conf.tip_min_amount():
        raise InvalidInput(
            "That amount is too small.", code="tip_too_small", fields={"amount": ["too small"]}
        )
    if amount.amount > conf.tip_max_amount():
        raise InvalidInput(
            "That amount is above the per-tip limit.",
            code="tip_too_large",
            fields={"amount": ["too large"]},
        )
    _daily_limit_check(sender, amount)  # early, before a card is saved; again under the lock
    return account


def _daily_limit_check(sender: User, amount: Money) -> None:
    if (
        selectors.tips_sent_in_last_day(sender, amount.currency) + amount.amount
        > conf.tip_daily_limit()
    ):
        raise TipNotAllowed("That would pass your daily sending limit.", code="tip_daily_limit")


def _duplicate_of(sender: User, creator: User, amount: Money, request_key: str) -> Tip | None:
    """The tip this request repeats, if any: the one with the same client key; without a key,
    the same tip (creator, amount, currency) sent moments ago without a key and not failed — a
    double tap from a client that sends no Idempotency-Key. A failed tip can be sent again."""
    if request_key:
        return Tip.objects.filter(sender=sender, request_key=request_key).first()
    since = timezone.now() - timedelta(seconds=conf.tip_duplicate_window())
    return (
        Tip.objects.filter(sender=sender, creator=creator, amount=amount.amount,
                           currency=amount.currency, request_key="", created__gte=since)
        .exclude(status=Tip.Status.FAILED)
        .order_by("-created")
        .first()
    )  # fmt: skip


def tip_send(
    *,
    sender: User,
    creator: User,
    amount: Money,
    payment_method: str | None = None,
    request_key: str = "",
) -> Tip:
    """Charge the sender `amount` + fees for `creator`. With no saved card, `payment_method`
    (from Stripe.js) is required and is saved; later tips reuse the saved card.

    `request_key` is the client's idempotency key: the same key returns the first tip (a double
    tap charges once); the same key for a different tip is a conflict. Without one, the same
    tip again within `PAYOUTS_TIP_DUPLICATE_WINDOW` seconds is the first tip (`_duplicate_of`).
    A replay is marked `replayed`."""
    user_require_verified_member(sender)  # the API checks it too; every caller must
    request_key = request_key[:255]
    existing = _duplicate_of(sender, creator, amount, request_key)
    if existing is not None:
        return _replay(existing, creator, amount)
    account = _eligibility(sender, creator, amount)
    if payment_method:
        customer = payment_method_save(user=sender, payment_method=payment_method)
    else:
        customer = PaymentCustomer.objects.filter(user=sender).first()  # type: ignore[assignment]
        if customer is None or not customer.default_payment_method_id:
            raise PaymentMethodRequired()
    grossed = fees.gross_up(amount)
    try:
        with transaction.atomic():
            # A sender's tips are decided one at a time: with their payment customer row locked,
            # "is this the same tip again?" and "is it under the daily limit?" stay true until
            # the new row commits (checked before the lock, parallel requests all passed). The
            # provider call comes after the commit, so the lock is held for milliseconds.
            PaymentCustomer.objects.select_for_update().get(pk=customer.pk)
            existing = _duplicate_of(sender, creator, amount, request_key)
            if existing is None:
                _daily_limit_check(sender, amount)
                tip = Tip.objects.create(
                    sender=sender,
                    creator=creator,
                    amount=amount.amount,
                    fee=grossed.fee.amount,
                    charge_amount=grossed.charge.amount,
                    currency=amount.currency,
                    destination_account_id=account.stripe_account_id,
                    request_key=request_key,
                )
                audit(tip, "created", to_status=tip.status, actor=sender)
    except IntegrityError:  # the same request key, concurrently: the first one wins
        existing = Tip.objects.get(sender=sender, request_key=request_key)
    if existing is not None:
        return _replay(existing, creator, amount)
    # A refusal fails the tip and is raised; no answer leaves it `created` (raised too): the
    # payment intent's webhooks decide, or the sender asking again, or the sweep.
    return charge_create(tip, customer)


def _replay(tip: Tip, creator: User, amount: Money) -> Tip:
    if (tip.creator_id, tip.amount, tip.currency) != (creator.pk, amount.amount, amount.currency):
        raise Conflict(
            "This request key was already used for another tip.", code="tip_request_key_reused"
        )
    tip = charge_refresh_for_payer(tip)
    tip.replayed = True  # type: ignore[attr-defined]
    return tip


# --- the payment: the one lifecycle of every charge (services/charges.py) -----------------------


def tip_apply_payment_intent(*, tip: Tip, intent: dict[str, Any]) -> Tip:
    return charge_apply_payment_intent(tip, intent)


def tip_mark_requires_action(*, tip: Tip) -> Tip:
    return charge_mark_requires_action(tip)


def tip_mark_succeeded(*, tip: Tip, charge_id: str = "") -> Tip:
    return charge_mark_paid(tip, charge_id=charge_id)


def tip_mark_failed(*, tip: Tip, code: str = "", note: str = "") -> Tip:
    return charge_mark_failed(tip, code=code, note=note)


def tip_settle_from_provider(*, tip: Tip) -> Tip:
    """Settle one `created` tip from the provider (services/charges.py
    `charge_settle_from_provider`); the sender is told the outcome."""
    return charge_settle_from_provider(tip)


def tips_settle_stuck(*, older_than_seconds: int | None = None, limit: int = 200) -> list[str]:
    """The sweep, for tips only (`charges_settle_stuck` settles every kind)."""
    return charges_settle_stuck(older_than_seconds=older_than_seconds, limit=limit,
                                kinds=[Tip.CHARGE_KIND])  # fmt: skip


def _tip_sale(tip: Tip) -> Sale:
    """The sender's card pays amount + fee; the creator's connected account receives the tip;
    the whole fee (the application fee) pays Stripe's processing fee."""
    return Sale(
        journal_kind=Journal.Kind.TIP,
        idempotency_key=f"tip:{tip.uuid}",
        description=f"tip {tip.uuid} from {tip.sender_id} to {tip.creator_id}",
        creator_id=tip.creator_id,
        creator_share=tip.amount,
        processing_fee=tip.fee,
    )


def _notify_creator(tip: Tip) -> None:
    """The creator learns of a tip once it is paid (after the commit)."""

    def send() -> None:
        notification_create(
            recipient=tip.creator,
            kind=NotificationKind.MONEY,
            actor=tip.sender,
            data={"tip": str(tip.uuid), "amount": tip.amount, "currency": tip.currency},
        )

    transaction.on_commit(send)


def _notify_sender(tip: Tip) -> None:
    """The sender learns how a tip they were told is processing ended (the sweep settled it)."""
    event = f"tip_{tip.status}"

    def send() -> None:
        notification_create(
            recipient=tip.sender,
            kind=NotificationKind.MONEY,
            actor=tip.creator,
            data={"tip": str(tip.uuid), "event": event, "amount": tip.amount,
                  "currency": tip.currency},
        )  # fmt: skip

    transaction.on_commit(send)


def tip_mark_refunded(*, tip: Tip, refund_id: str = "", charge_id: str = "") -> Tip:
    """The whole charge went back to the sender. State only: the money is booked refund by
    refund when each succeeds (services/charges.py `refund_apply`)."""
    if tip.status in {Tip.Status.CREATED, Tip.Status.REQUIRES_ACTION}:
        tip = tip_mark_succeeded(tip=tip, charge_id=charge_id)  # the refund proves the charge
    with transaction.atomic():
        tip = Tip.objects.select_for_update().get(pk=tip.pk)
        if tip.status == Tip.Status.REFUNDED:
            return tip
        require_transition(tip, Tip.Status.REFUNDED)
        previous = tip.status
        tip.status = Tip.Status.REFUNDED
        tip.save(update_fields=["status", "updated"])
        audit(tip, "refunded", from_status=previous, to_status=tip.status, note=refund_id)
    return tip


def tip_mark_refund_reversed(*, tip: Tip, refund_id: str, reason: str = "") -> Tip:
    """A refund failed (or was canceled) after it succeeded: its booking was reversed, the tip
    is paid again; staff see the failed refund in admin and can retry."""
    with transaction.atomic():
        tip = Tip.objects.select_for_update().get(pk=tip.pk)
        if tip.status != Tip.Status.REFUNDED:
            return tip
        require_transition(tip, Tip.Status.SUCCEEDED)
        tip.status = Tip.Status.SUCCEEDED
        tip.save(update_fields=["status", "updated"])
        audit(tip, "refund_reversed", from_status=Tip.Status.REFUNDED, to_status=tip.status,
              note=f"{refund_id} {reason}".strip())  # fmt: skip
    return tip


def tip_mark_disputed(*, tip: Tip, dispute_id: str = "", charge_id: str = "") -> Tip:
    """A chargeback: Stripe debits the platform the charged amount; the platform absorbs it
    (recovering from the creator is a separate, staff-decided correction)."""
    if tip.status in {Tip.Status.CREATED, Tip.Status.REQUIRES_ACTION}:
        tip = tip_mark_succeeded(tip=tip, charge_id=charge_id)
    with transaction.atomic():
        tip = Tip.objects.select_for_update().get(pk=tip.pk)
        if tip.status in {Tip.Status.DISPUTED, Tip.Status.REFUNDED}:
            return tip
        require_transition(tip, Tip.Status.DISPUTED)
        previous = tip.status
        tip.status = Tip.Status.DISPUTED
        tip.save(update_fields=["status", "updated"])
        c = tip.currency
        if dispute_id:
            dispute_funds_withdrawn_book(
                dispute_id=dispute_id,
                charge_id=tip.stripe_charge_id,
                amount=tip.charge_amount,
                currency=c,
                journal_kind=Journal.Kind.TIP_DISPUTE,
            )
        else:
            ledger.journal_post(
                kind=Journal.Kind.TIP_DISPUTE,
                currency=c,
                idempotency_key=f"tip-dispute:{tip.uuid}",
                description=f"dispute on tip {tip.uuid}",
                stripe_charge_id=tip.stripe_charge_id,
                lines=[
                    Line(ledger.account(Kind.PLATFORM_BALANCE, c), -tip.charge_amount),
                    Line(ledger.account(Kind.DISPUTES, c), tip.charge_amount),
                ],
            )
        audit(tip, "disputed", from_status=previous, to_status=tip.status)
    return tip


def tip_refund(*, tip: Tip, actor: User, reason: str = "") -> Tip:
    """Staff refund a tip in full, or retry a refund that failed or was canceled. The refund is
    booked when it succeeds (now if the provider says so, else from its webhook); until then
    admin shows it pending. Each attempt has its own key: a failed refund is final at Stripe,
    so a retry is a new request, while a replay of the same attempt returns the same refund."""
    if tip.status != Tip.Status.SUCCEEDED or not tip.stripe_payment_intent_id:
        raise Conflict("Only a succeeded tip can be refunded.", code="illegal_transition")
    refunds = ChargeRefund.objects.filter(stripe_charge_id=tip.stripe_charge_id or "-")
    if refunds.filter(status=ChargeRefund.Status.PENDING).exists():
        raise Conflict("A refund of this tip is pending at Stripe.", code="refund_pending")
    attempt = refunds.filter(status__in=ChargeRefund.FINAL).count()
    key = f"tip-refund-{tip.uuid}" + (f"-{attempt + 1}" if attempt else "")
    refund = get_provider().refund_create(payment_intent=tip.stripe_payment_intent_id,
                                          idempotency_key=key)  # fmt: skip
    with transaction.atomic():
        refund_events_apply(refund=refund, charge_kind="tip")
        audit(tip, "refund_requested", actor=actor, note=f"{refund['id']} {refund.get('status')}",
              reason=reason)  # fmt: skip
    tip.refresh_from_db()
    return tip


# --- tips as a kind of charge (registered by PayoutsConfig.ready) -----------------------------


def _tip_refund_changed(tip: Tip, refund: dict[str, Any], change: RefundChange) -> None:
    charge_id = change.refund.stripe_charge_id
    if change.booked and refunded_booked(charge_id) >= tip.charge_amount:
        tip_mark_refunded(tip=tip, refund_id=change.refund.stripe_refund_id, charge_id=charge_id)
    elif change.reversed:
        tip_mark_refund_reversed(tip=tip, refund_id=change.refund.stripe_refund_id,
                                 reason=change.refund.status)  # fmt: skip


def _tip_disputed(tip: Tip, dispute: dict[str, Any]) -> None:
    tip_mark_disputed(tip=tip, dispute_id=str(dispute["id"]), charge_id=str(dispute["charge"]))


def _tip_refund_retry(tip: Tip, refund: ChargeRefund, actor: Any, reason: str = "") -> None:
    tip_refund(tip=tip, actor=actor, reason=reason)


TIP_CHARGES = ChargeKind(
    model=Tip,
    sale=_tip_sale,
    on_paid=_notify_creator,
    refund_changed=_tip_refund_changed,
    disputed=_tip_disputed,
    settled_late=_notify_sender,
    refund_retry=_tip_refund_retry,
    refund_journal_kind=Journal.Kind.TIP_REFUND,
    dispute_journal_kind=Journal.Kind.TIP_DISPUTE,
)
