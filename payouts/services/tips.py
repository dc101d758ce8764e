"""Send Money: tips where the sender pays the processing fees on top.

A tip is a destination charge to the creator's connected account with
``application_fee_amount`` = the fees collected, and a transfer group per tip. Its state follows
the payment intent: the synchronous answer first, then webhooks (which may arrive twice or out
of order: every transition returns early once the tip is at or past its target).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from accounts.permissions import user_require_verified_member
from accounts.selectors import user_follows, user_is_blocked_between
from clubhouse.errors import Conflict, InvalidInput, PermissionDenied
from clubhouse.money import Money
from payouts import conf, fees, ledger, selectors
from payouts.audit import audit, require_transition
from payouts.ledger import Kind, Line
from payouts.models import ConnectedAccount, CreatorProgram, Journal, PaymentCustomer, Tip
from payouts.provider import CardDeclined, ProviderError, ProviderUnavailable, get_provider
from payouts.services.cards import PaymentMethodRequired, payment_method_save

logger = logging.getLogger(__name__)


class TipNotAllowed(PermissionDenied):
    code = "tip_not_allowed"


def _eligibility(sender: User, creator: User, amount: Money) -> ConnectedAccount:
    if sender.pk == creator.pk:
        raise TipNotAllowed("You cannot send money to yourself.", code="tip_self")
    if user_is_blocked_between(sender, creator):
        raise TipNotAllowed("You cannot send money to this person.", code="tip_blocked")
    program = CreatorProgram.objects.filter(user=creator, active=True).first()
    if program is None or not program.send_money_enabled:
        raise TipNotAllowed("This person cannot receive money.", code="tip_creator_not_eligible")
    account = ConnectedAccount.objects.filter(user=creator).first()
    if account is None or not account.transfers_active:
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
    try:
        intent = get_provider().payment_intent_create(
            amount=tip.charge_amount,
            currency=tip.currency,
            customer=customer.stripe_customer_id,
            payment_method=customer.default_payment_method_id,
            application_fee_amount=tip.fee,
            destination=tip.destination_account_id,
            transfer_group=tip.transfer_group,
            metadata={"tip": str(tip.uuid), "kind": "tip"},
            idempotency_key=f"tip-{tip.uuid}",
        )
    except CardDeclined as exc:
        tip_mark_failed(tip=tip, code=str(exc.extra.get("decline_code") or exc.code))
        raise
    except ProviderUnavailable:
        # Unknown outcome: the tip stays `created`; the payment intent's webhooks decide, or,
        # if none comes, `tips_settle_stuck` asks the provider once the tip is old enough.
        raise
    except ProviderError as exc:
        tip_mark_failed(tip=tip, code=exc.code)
        raise
    return tip_apply_payment_intent(tip=tip, intent=intent)


def _replay(tip: Tip, creator: User, amount: Money) -> Tip:
    if (tip.creator_id, tip.amount, tip.currency) != (creator.pk, amount.amount, amount.currency):
        raise Conflict(
            "This request key was already used for another tip.", code="tip_request_key_reused"
        )
    if tip.status == Tip.Status.REQUIRES_ACTION and tip.stripe_payment_intent_id:
        intent = get_provider().payment_intent_retrieve(tip.stripe_payment_intent_id)
        tip.client_secret = intent.get("client_secret")  # type: ignore[attr-defined]
    tip.replayed = True  # type: ignore[attr-defined]
    return tip


def tip_apply_payment_intent(*, tip: Tip, intent: dict[str, Any]) -> Tip:
    with transaction.atomic():
        locked = Tip.objects.select_for_update().get(pk=tip.pk)
        if not locked.stripe_payment_intent_id:
            locked.stripe_payment_intent_id = intent["id"]
            locked.save(update_fields=["stripe_payment_intent_id", "updated"])
    status = intent.get("status")
    if status == "succeeded":
        tip = tip_mark_succeeded(tip=tip, charge_id=str(intent.get("latest_charge") or ""))
    elif status == "requires_action":
        tip = tip_mark_requires_action(tip=tip)
    elif status in {"requires_payment_method", "canceled"}:
        error = intent.get("last_payment_error") or {}
        tip = tip_mark_failed(tip=tip, code=str(error.get("code") or status))
    tip.client_secret = intent.get("client_secret")  # type: ignore[attr-defined]
    return tip


# --- tips whose provider call got no answer ------------------------------------------------

# How far before the tip's row the provider's clock may have stamped its payment intent.
_LISTING_MARGIN_SECONDS = 3600


def tips_settle_stuck(*, older_than_seconds: int | None = None, limit: int = 200) -> list[str]:
    """Settle tips still `created` after `PAYOUTS_TIP_STUCK_AFTER` seconds: their charge got no
    answer (a timeout, a 5xx after stripe-python's retries) and no webhook has settled them.
    Younger tips are left alone: their request may still be in flight. Returns the states
    reached; a tip the provider cannot be asked about now stays for the next run."""
    age = conf.tip_stuck_after() if older_than_seconds is None else older_than_seconds
    cutoff = timezone.now() - timedelta(seconds=age)
    stuck = Tip.objects.filter(status=Tip.Status.CREATED, created__lt=cutoff).order_by("created")
    states = []
    for tip in stuck[:limit]:
        try:
            settled = tip_settle_from_provider(tip=tip)
        except ProviderError as exc:  # unavailable or refusing: ask again next run
            logger.warning("tip %s: the provider could not be asked (%s)", tip.uuid, exc.code)
            continue
        if settled.status != Tip.Status.CREATED:
            states.append(settled.status)
    return states


def tip_settle_from_provider(*, tip: Tip) -> Tip:
    """Settle one `created` tip from the provider's payment intent, found by its id or, when the
    creation's answer was lost, by the tip's uuid in its metadata. If the provider never saw
    the request, the tip fails with `provider_no_record`: nothing was charged, and the key
    `tip-<uuid>` is never sent again (the sweep only lists). The sender is told the outcome."""
    intent = _payment_intent_of(tip)
    if intent is None:
        tip = tip_mark_failed(tip=tip, code="provider_no_record",
                              note="the provider has no payment for this tip")  # fmt: skip
    elif intent.get("status") in {"processing", "requires_confirmation"}:
        return tip  # the provider is still working on it; its webhook or the next run settles it
    else:
        tip = tip_apply_payment_intent(tip=tip, intent=intent)
    if tip.status in {Tip.Status.SUCCEEDED, Tip.Status.FAILED}:
        _notify_sender(tip, event=f"tip_{tip.status}")
    return tip


def _payment_intent_of(tip: Tip) -> dict[str, Any] | None:
    provider = get_provider()
    if tip.stripe_payment_intent_id:
        return provider.payment_intent_retrieve(tip.stripe_payment_intent_id)
    customer = PaymentCustomer.objects.filter(user_id=tip.sender_id).first()
    if customer is None:
        return None
    intents = provider.payment_intent_list(
        customer=customer.stripe_customer_id,
        created_gte=int(tip.created.timestamp()) - _LISTING_MARGIN_SECONDS,
    )
    uuid = str(tip.uuid)
    return next((pi for pi in intents if (pi.get("metadata") or {}).get("tip") == uuid), None)


def _notify_sender(tip: Tip, *, event: str) -> None:
    """The sender learns how a tip they were told is processing ended."""
    from accounts.models import Notification
    from accounts.services import notification_create

    def send() -> None:
        notification_create(
            recipient=tip.sender,
            kind=Notification.Kind.MONEY,
            actor=tip.creator,
            data={"tip": str(tip.uuid), "event": event, "amount": tip.amount,
                  "currency": tip.currency},
        )  # fmt: skip

    transaction.on_commit(send)


def tip_mark_requires_action(*, tip: Tip) -> Tip:
    with transaction.atomic():
        tip = Tip.objects.select_for_update().get(pk=tip.pk)
        if tip.status != Tip.Status.CREATED:
            return tip  # already there or past it
        require_transition(tip, Tip.Status.REQUIRES_ACTION)
        tip.status = Tip.Status.REQUIRES_ACTION
        tip.save(update_fields=["status", "updated"])
        audit(tip, "requires_action", from_status=Tip.Status.CREATED, to_status=tip.status)
    return tip


def tip_mark_succeeded(*, tip: Tip, charge_id: str = "") -> Tip:
    with transaction.atomic():
        tip = Tip.objects.select_for_update().get(pk=tip.pk)
        if tip.status in {Tip.Status.SUCCEEDED, Tip.Status.REFUNDED, Tip.Status.DISPUTED}:
            return tip
        require_transition(tip, Tip.Status.SUCCEEDED)
        previous = tip.status
        tip.status = Tip.Status.SUCCEEDED
        tip.stripe_charge_id = tip.stripe_charge_id or charge_id
        tip.save(update_fields=["status", "stripe_charge_id", "updated"])
        # The sender's card pays amount + fee; the creator's connected account receives the tip;
        # the whole fee (the application fee) pays Stripe's processing fee.
        ledger.destination_sale_post(
            kind=Journal.Kind.TIP,
            currency=tip.currency,
            idempotency_key=f"tip:{tip.uuid}",
            description=f"tip {tip.uuid} from {tip.sender_id} to {tip.creator_id}",
            stripe_payment_intent_id=tip.stripe_payment_intent_id,
            stripe_charge_id=tip.stripe_charge_id,
            charged=tip.charge_amount,
            creator=tip.creator_id,
            creator_share=tip.amount,
            application_fee=tip.fee,
            processing_fee=tip.fee,
        )
        audit(tip, "succeeded", from_status=previous, to_status=tip.status)
    _notify_tip(tip)
    return tip


def _notify_tip(tip: Tip) -> None:
    from accounts.models import Notification
    from accounts.services import notification_create

    def send() -> None:
        notification_create(
            recipient=tip.creator,
            kind=Notification.Kind.MONEY,
            actor=tip.sender,
            data={"tip": str(tip.uuid), "amount": tip.amount, "currency": tip.currency},
        )

    transaction.on_commit(send)


def tip_mark_failed(*, tip: Tip, code: str = "", note: str = "") -> Tip:
    with transaction.atomic():
        tip = Tip.objects.select_for_update().get(pk=tip.pk)
        if tip.status != Tip.Status.CREATED and tip.status != Tip.Status.REQUIRES_ACTION:
            return tip  # failed already, or a success overtook this (out of order) event
        previous = tip.status
        tip.status = Tip.Status.FAILED
        tip.failure_code = code[:64]
        tip.save(update_fields=["status", "failure_code", "updated"])
        audit(tip, "failed", from_status=previous, to_status=tip.status,
              note=f"{code}: {note}" if note else code)  # fmt: skip
    return tip


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
            from payouts.services.charges import dispute_funds_withdrawn_book

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


def tip_refund(*, tip: Tip, actor: User) -> Tip:
    """Staff refund a tip in full, or retry a refund that failed or was canceled. The refund is
    booked when it succeeds (now if the provider says so, else from its webhook); until then
    admin shows it pending. Each attempt has its own key: a failed refund is final at Stripe,
    so a retry is a new request, while a replay of the same attempt returns the same refund."""
    from payouts.models import ChargeRefund
    from payouts.services.charges import refund_events_apply

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
        audit(tip, "refund_requested", actor=actor, note=f"{refund['id']} {refund.get('status')}")
    tip.refresh_from_db()
    return tip
