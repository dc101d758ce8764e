"""One lifecycle for every kind of card charge: tips, tickets, club membership invoices.

**Payment.** A row of a kind (a ``CardCharge`` model: ``Tip``, ``Ticket``,
``MembershipInvoice``) follows its payment intent through one state machine, named in each
kind's own statuses by ``Model.PAYMENT``: pending -> requires_action -> paid | failed (a
payment confirmed after a failure still wins). Every transition locks the row, returns early
when the row is at or past its target (webhooks repeat and arrive out of order), writes an audit
entry and runs the kind's hook. The sale journal is posted by the lifecycle itself when the row
is paid, from the terms the kind gives (``ChargeKind.sale``).

* ``charge_create`` sends the payment intent (the row's own idempotency key and metadata);
  a refusal fails the row, no answer leaves it pending.
* **Unknown outcomes** are settled the same way for every kind whose payments we create (tips,
  tickets): the payer asking again more than ``UNANSWERED_AFTER_SECONDS`` later re-sends the
  same request under the same key (``charge_refresh_for_payer``), and the sweep
  (``charges_settle_stuck``) looks pending rows up at the provider, by id or by their metadata,
  and fails those the provider never saw (``provider_no_record``: nothing was charged).
* News of an earlier attempt (a ticket's buyer tried again after a decline) is recorded and
  changes nothing (``_is_current``).

**Refunds and disputes**, generic over what was charged. A charge says what it paid for in its
metadata (``kind`` = ``tip`` / ``membership`` / ``ticket``); the money side is the same for
every kind and is derived from the original payment journal (found by charge id):

* **Refund**: one ``ChargeRefund`` per provider refund, booked when it has succeeded (never
  from ``amount_refunded``, which counts pending refunds) and reversed by a new journal if it
  fails or is canceled after that (``refund_apply``). The transfer to the connected account is
  reversed in proportion to the cumulative net refunded, ``share(S, R, C)``, and the rest of the
  refund comes out of the platform balance (the application fee, refunded in proportion;
  Stripe keeps its processing fee), so refunds booked one by one add up exactly.
* **Dispute, funds withdrawn**: ``platform_balance -A``, ``disputes +A`` (the platform absorbs
  chargebacks; recovering them from a creator is a staff correction).
* **Dispute, funds reinstated** (won): the reverse. Reinstating implies the withdrawal, which is
  booked first if its event has not been seen.
* **Dispute fee**: Stripe's fee on the dispute's balance transactions, a platform expense
  (``dispute_fees``), returned when the dispute is won.

**Kinds.** Each kind registers a ``ChargeKind`` from ``PayoutsConfig.ready``: its sale terms
and what its own state does when paid, failed, refunded or disputed. This module imports no
kind: the kinds import it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from clubhouse.errors import Conflict, PermissionDenied
from payouts import conf, fees, ledger
from payouts.audit import audit, require_transition
from payouts.ledger import Kind, Line
from payouts.models import (
    CardCharge,
    ChargeRefund,
    Discrepancy,
    Entry,
    Journal,
    PaymentCustomer,
)
from payouts.provider import CardDeclined, ProviderError, ProviderUnavailable, get_provider

logger = logging.getLogger(__name__)

PAYMENT_KINDS = (Journal.Kind.TIP, Journal.Kind.TICKET, Journal.Kind.MEMBERSHIP)
REFUND_KINDS = (Journal.Kind.TIP_REFUND, Journal.Kind.TICKET_REFUND, Journal.Kind.REFUND)
DISPUTE_KINDS = (Journal.Kind.TIP_DISPUTE, Journal.Kind.TICKET_DISPUTE, Journal.Kind.DISPUTE)

# A pending row with no payment intent this old was not just created by a request still waiting
# for the provider's answer: that call went unanswered, and asking again is safe.
UNANSWERED_AFTER_SECONDS = 30
# How far before the row the provider's clock may have stamped its payment intent.
_LISTING_MARGIN_SECONDS = 3600

C = TypeVar("C", bound=CardCharge)


@dataclass(frozen=True)
class Sale:
    """The sale journal of a paid row (``ledger.destination_sale_post``)."""

    journal_kind: str
    idempotency_key: str
    description: str
    creator_id: int
    creator_share: int
    processing_fee: int


@dataclass(frozen=True)
class RefundChange:
    refund: ChargeRefund
    booked: bool = False  # this call booked it (it succeeded)
    reversed: bool = False  # this call reversed its booking (it failed after succeeding)


@dataclass(frozen=True)
class ChargeKind:
    """A kind of charge: its model and its hooks. Every hook is idempotent; hooks that take a
    row get the kind's own row (``Tip``, ``Ticket``, ``MembershipInvoice``)."""

    model: type[CardCharge]
    sale: Callable[[Any], Sale]  # the ledger lines when paid
    on_paid: Callable[[Any], None] | None = None  # in the paid transition's transaction
    on_failed: Callable[[Any], None] | None = None  # in the failed transition's transaction
    # (row, refund object, change): one of the charge's refunds changed (booked, reversed).
    refund_changed: Callable[[Any, dict[str, Any], RefundChange], None] | None = None
    disputed: Callable[[Any, dict[str, Any]], None] | None = None  # (row, dispute)
    settled_late: Callable[[Any], None] | None = None  # the sweep settled it: tell the payer
    # (row, refund, staff, staff's reason)
    refund_retry: Callable[[Any, ChargeRefund, Any, str], None] | None = None
    # Replaces the generic "the charge is paid, so its row is": a kind whose rows the provider
    # creates (membership invoices) books the payment from the provider's own object.
    ensure_paid: Callable[[dict[str, Any]], None] | None = None
    refund_journal_kind: str = Journal.Kind.REFUND
    dispute_journal_kind: str = Journal.Kind.DISPUTE

    @property
    def name(self) -> str:
        return self.model.CHARGE_KIND


CHARGE_KINDS: dict[str, ChargeKind] = {}


def charge_kind_register(kind: ChargeKind) -> None:
    """Called by `PayoutsConfig.ready()`; registering again replaces (ready() may run twice)."""
    CHARGE_KINDS[kind.name] = kind


def charge_kind_of(row: CardCharge) -> ChargeKind:
    try:
        return CHARGE_KINDS[row.CHARGE_KIND]
    except KeyError:
        raise LookupError(
            f"No charge kind {row.CHARGE_KIND!r} is registered: PayoutsConfig.ready() "
            "registers them."
        ) from None


# --- finding a charge's row -------------------------------------------------------------------


def charge_owner(kind: ChargeKind, obj: dict[str, Any]) -> Any:
    """The row of `kind` that a provider object (a payment intent, charge or refund) is about:
    by the kind's metadata key, else by charge id, else by payment intent id. None if none."""
    model = kind.model
    key, field = model.OWNER_KEY
    named = (obj.get("metadata") or {}).get(key)
    manager = model._default_manager
    if named:
        try:
            row = manager.filter(**{field: str(named)}).first()
        except ValidationError:  # not a uuid: not one of ours
            row = None
        if row is not None:
            return row
    object_type, object_id = obj.get("object"), str(obj.get("id") or "")
    if object_type == "charge":
        charge_id = object_id
    else:
        charge_id = str(obj.get("charge") or obj.get("latest_charge") or "")
    if charge_id:
        row = manager.filter(stripe_charge_id=charge_id).first()
        if row is not None:
            return row
    intent = object_id if object_type == "payment_intent" else obj.get("payment_intent")
    if isinstance(intent, dict):
        intent = intent.get("id")
    return manager.filter(stripe_payment_intent_id=str(intent)).first() if intent else None


def payment_journal_for_charge(charge_id: str) -> Journal | None:
    if not charge_id:
        return None
    return Journal.objects.filter(stripe_charge_id=charge_id, kind__in=PAYMENT_KINDS).first()


def _kind_of(charge: dict[str, Any]) -> ChargeKind | None:
    """By the object's `kind` metadata; an unlabelled charge (or one whose metadata could not
    be fetched) by its payment journal, whose kind names the charge kind (tip, ticket,
    membership)."""
    name = str((charge.get("metadata") or {}).get("kind") or "")
    if not name:
        payment = payment_journal_for_charge(str(charge.get("id") or ""))
        name = payment.kind if payment is not None else ""
    return CHARGE_KINDS.get(name)


def charge_find(obj: dict[str, Any]) -> tuple[ChargeKind, Any] | None:
    """(kind, row) for a provider object: the kind its metadata names, else the first kind that
    has a row for it (payment intents made before they were labelled)."""
    kind = _kind_of(obj)
    kinds: Iterable[ChargeKind] = [kind] if kind is not None else CHARGE_KINDS.values()
    for candidate in kinds:
        row = charge_owner(candidate, obj)
        if row is not None:
            return candidate, row
    return None


# --- the payment state machine ----------------------------------------------------------------


def _locked(row: C) -> C:
    return type(row)._default_manager.select_for_update().get(pk=row.pk)


def charge_mark_requires_action(row: C) -> C:
    P = row.PAYMENT
    with transaction.atomic():
        row = _locked(row)
        if row.status != P.pending:
            return row  # already there or past it
        require_transition(row, P.requires_action)
        row.status = P.requires_action
        row.save(update_fields=["status", "updated"])
        audit(row, "requires_action", from_status=P.pending, to_status=row.status)
    return row


def charge_mark_paid(row: C, *, charge_id: str = "") -> C:
    """The charge succeeded: the row is paid and its sale is booked, once."""
    P = row.PAYMENT
    kind = charge_kind_of(row)
    with transaction.atomic():
        row = _locked(row)
        if row.status in P.settled:
            return row
        require_transition(row, P.paid)
        previous = row.status
        row.status = P.paid
        row.stripe_charge_id = row.stripe_charge_id or charge_id
        row.save(update_fields=["status", "stripe_charge_id", "updated"])
        sale = kind.sale(row)
        ledger.destination_sale_post(
            kind=sale.journal_kind,
            currency=row.currency,
            idempotency_key=sale.idempotency_key,
            description=sale.description,
            stripe_payment_intent_id=row.stripe_payment_intent_id,
            stripe_charge_id=row.stripe_charge_id,
            charged=row.charged_amount,
            creator=sale.creator_id,
            creator_share=sale.creator_share,
            application_fee=row.application_fee_amount,
            processing_fee=sale.processing_fee,
        )
        audit(row, P.paid, from_status=previous, to_status=row.status)
        if kind.on_paid is not None:
            kind.on_paid(row)
    return row


def charge_mark_failed(row: C, *, code: str = "", payment_intent: str = "", note: str = "") -> C:
    """The current attempt failed. `payment_intent` is the declined intent when the provider
    named it: recorded, so that a retry cancels it first."""
    P = row.PAYMENT
    kind = charge_kind_of(row)
    with transaction.atomic():
        row = _locked(row)
        if row.status not in {P.pending, P.requires_action} or row.status == P.failed:
            return row  # failed already, or a success overtook this (out of order) event
        previous = row.status
        row.status = P.failed
        row.failure_code = code[:64]
        row.stripe_payment_intent_id = row.stripe_payment_intent_id or payment_intent
        row.save(update_fields=["status", "failure_code", "stripe_payment_intent_id", "updated"])
        audit(row, "failed", from_status=previous, to_status=row.status,
              note=f"{code}: {note}" if note else code)  # fmt: skip
        if kind.on_failed is not None:
            kind.on_failed(row)
    return row


def _is_current(row: CardCharge, intent: dict[str, Any]) -> bool:
    """Whether a payment intent is the row's current attempt. Caller holds the lock."""
    if row.stripe_payment_intent_id:
        return str(intent.get("id") or "") == row.stripe_payment_intent_id
    # The current attempt's answer is not known yet (a webhook first, or an unanswered call):
    # its intent names the attempt, where the kind has attempts. Intents made before attempts
    # were numbered are taken as the current one.
    expected = row.intent_metadata().get("attempt")
    got = (intent.get("metadata") or {}).get("attempt")
    return expected is None or got is None or str(got) == expected


def _record_stale(row: CardCharge, intent: dict[str, Any]) -> None:
    status = str(intent.get("status") or "")
    attempt = (intent.get("metadata") or {}).get("attempt")
    current = row.intent_metadata().get("attempt")
    audit(row, "stale_attempt_event",
          note=f"{intent.get('id')} {status} (attempt {attempt}; current attempt {current})")  # fmt: skip
    if status == "succeeded":
        # Cannot happen when the retry canceled it; if a provider ever lets it through, the
        # payer paid twice: staff refund it from the provider's dashboard.
        logger.error("an earlier attempt %s of %s succeeded", intent.get("id"), row)


def charge_apply_payment_intent(row: C, intent: dict[str, Any]) -> C:
    """A payment intent of this row (the provider's answer or a webhook's object) moves the
    row, if it is the current attempt's. The row comes back with `client_secret` set (what the
    client needs to finish 3-D Secure), None for an earlier attempt's news."""
    with transaction.atomic():
        locked = _locked(row)
        if not _is_current(locked, intent):
            _record_stale(locked, intent)
            locked.client_secret = None  # type: ignore[attr-defined]
            return locked
        if not locked.stripe_payment_intent_id:
            locked.stripe_payment_intent_id = str(intent["id"])
            locked.save(update_fields=["stripe_payment_intent_id", "updated"])
    status = intent.get("status")
    if status == "succeeded":
        row = charge_mark_paid(row, charge_id=str(intent.get("latest_charge") or ""))
    elif status == "requires_action":
        row = charge_mark_requires_action(row)
    elif status in {"requires_payment_method", "canceled"}:
        error = intent.get("last_payment_error") or {}
        row = charge_mark_failed(row, code=str(error.get("code") or status))
    else:
        row = type(row)._default_manager.get(pk=row.pk)
    row.client_secret = intent.get("client_secret")  # type: ignore[attr-defined]
    return row


def payment_intent_apply(*, intent: dict[str, Any]) -> Any:
    """A `payment_intent.*` event: the row it pays for, whichever kind, moves. An intent that
    pays for nothing of ours (an invoice's: its invoice events book it) changes nothing."""
    found = charge_find({**intent, "object": "payment_intent"})
    if found is None:
        return None
    kind, row = found
    if kind.model.PAYER_FIELD == "":
        return row  # the provider drives these rows' payments (their own events book them)
    return charge_apply_payment_intent(row, intent)


# --- creating the payment, and payments whose request got no answer -------------------------


def charge_create(row: C, customer: PaymentCustomer) -> C:
    """Send the row's payment intent: a destination charge to the creator's connected account,
    the platform's part as the application fee, the row's key and metadata. A refusal fails the
    row and is raised; no answer (`ProviderUnavailable`) leaves it pending and is raised."""
    try:
        intent = get_provider().payment_intent_create(
            amount=row.charged_amount,
            currency=row.currency,
            customer=customer.stripe_customer_id,
            payment_method=customer.default_payment_method_id,
            application_fee_amount=row.application_fee_amount,
            destination=row.destination_account_id,  # type: ignore[attr-defined]
            transfer_group=row.transfer_group,  # type: ignore[attr-defined]
            metadata=row.intent_metadata(),
            idempotency_key=row.payment_idempotency_key,  # type: ignore[attr-defined]
        )
    except CardDeclined as exc:
        charge_mark_failed(row, code=str(exc.extra.get("decline_code") or exc.code),
                           payment_intent=exc.payment_intent_id)  # fmt: skip
        raise
    except ProviderUnavailable:
        raise  # unknown outcome: stays pending; asked again with the same key, or swept
    except ProviderError as exc:
        if exc.code == "idempotency_error":
            # The key was used before with other parameters (the card saved in between
            # changed): that earlier request made this attempt's intent, which may well have
            # charged the card. Never a failure (a new attempt could charge twice): find it.
            made = _payment_intent_of(row)
            if made is not None:
                return charge_apply_payment_intent(row, made)
            raise ProviderUnavailable() from exc
        charge_mark_failed(row, code=exc.code)
        raise
    return charge_apply_payment_intent(row, intent)


def _payer_customer(row: CardCharge) -> PaymentCustomer | None:
    payer = getattr(row, f"{row.PAYER_FIELD}_id", None) if row.PAYER_FIELD else None
    return PaymentCustomer.objects.filter(user_id=payer).first() if payer else None


def _payment_intent_of(row: CardCharge) -> dict[str, Any] | None:
    """The row's payment intent at the provider: by its id or, when the creation's answer was
    lost, by the row's metadata among the payer's recent intents. None if the provider has
    none."""
    provider = get_provider()
    if row.stripe_payment_intent_id:
        return provider.payment_intent_retrieve(row.stripe_payment_intent_id)
    customer = _payer_customer(row)
    if customer is None:
        return None
    intents = provider.payment_intent_list(
        customer=customer.stripe_customer_id,
        created_gte=int(row.created.timestamp()) - _LISTING_MARGIN_SECONDS,
    )
    wanted = row.intent_metadata().items()
    return next((pi for pi in intents if wanted <= {**(pi.get("metadata") or {})}.items()), None)


def charge_refresh_for_payer(row: C) -> C:
    """The payer asks again about a payment in flight (a repeated request, a double tap): a
    3-D Secure step still open comes back with its client secret, one finished meanwhile is
    applied; a request that got no answer more than `UNANSWERED_AFTER_SECONDS` ago is sent again
    under the same key, which returns the payment intent it made, or makes it once."""
    P = row.PAYMENT
    if row.status == P.requires_action and row.stripe_payment_intent_id:
        intent = get_provider().payment_intent_retrieve(row.stripe_payment_intent_id)
        if intent.get("status") == "requires_action":
            row.client_secret = intent.get("client_secret")  # type: ignore[attr-defined]
            return row
        return charge_apply_payment_intent(row, intent)
    if row.status == P.pending and not row.stripe_payment_intent_id:
        age = (timezone.now() - row.created).total_seconds()
        customer = _payer_customer(row)
        if age > UNANSWERED_AFTER_SECONDS and customer is not None:
            return charge_create(row, customer)
    return row


def charge_settle_from_provider(row: C) -> C:
    """Settle one pending row from the provider's payment intent. If the provider never saw the
    request, the row fails with `provider_no_record`: nothing was charged, and the sweep never
    sends the request again (it only looks). The payer is told how it ended."""
    P = row.PAYMENT
    intent = _payment_intent_of(row)
    if intent is None:
        row = charge_mark_failed(row, code="provider_no_record",
                                 note="the provider has no payment for this")  # fmt: skip
    elif intent.get("status") in {"processing", "requires_confirmation"}:
        return row  # the provider is still working on it; its webhook or the next run settles it
    else:
        row = charge_apply_payment_intent(row, intent)
    kind = charge_kind_of(row)
    if row.status in {P.paid, P.failed} and kind.settled_late is not None:
        kind.settled_late(row)
    return row


def charges_settle_stuck(
    *, older_than_seconds: int | None = None, limit: int = 200, kinds: Iterable[str] = ()
) -> list[str]:
    """The sweep: rows still pending after `PAYOUTS_TIP_STUCK_AFTER` seconds, of every kind whose
    payments we create (`kinds` to narrow it), are settled from the provider. Younger rows are
    left alone: their request may still be in flight. Returns the states reached; a row the
    provider cannot be asked about now stays for the next run."""
    age = conf.tip_stuck_after() if older_than_seconds is None else older_than_seconds
    cutoff = timezone.now() - timedelta(seconds=age)
    wanted = set(kinds)
    states: list[str] = []
    for kind in list(CHARGE_KINDS.values()):
        if not kind.model.PAYER_FIELD or (wanted and kind.name not in wanted):
            continue
        P = kind.model.PAYMENT
        # Each kind's own `status` field (the abstract model has none to type-check against).
        manager: Any = kind.model._default_manager
        stuck = manager.filter(status=P.pending, created__lt=cutoff)
        for row in stuck.order_by("created")[:limit]:
            try:
                settled = charge_settle_from_provider(row)
            except ProviderError as exc:  # unavailable or refusing: ask again next run
                logger.warning("%s: the provider could not be asked (%s)", row, exc.code)
                continue
            except Exception:  # one row's bug never stops the sweep for the rows after it
                logger.exception("%s: could not be settled; left for the next run", row)
                continue
            if settled.status != P.pending:
                states.append(settled.status)
    return states


# --- refunds and disputes -----------------------------------------------------------------------


def _entries_total(journal: Journal, account_kind: str) -> tuple[int, int | None]:
    """(sum, creator id) of a journal's entries on one kind of account."""
    rows = list(
        Entry.objects.filter(journal=journal, account__kind=account_kind).values_list(
            "amount", "account__creator_id"
        )
    )
    return sum(r[0] for r in rows), (rows[0][1] if rows else None)


def refunded_booked(charge_id: str) -> int:
    """Net refunds booked for a charge: refund journals minus the reversals of failed ones."""
    total = Entry.objects.filter(
        journal__stripe_charge_id=charge_id,
        journal__kind__in=(*REFUND_KINDS, Journal.Kind.REFUND_REVERSED),
        account__kind=Kind.REFUNDS,
    ).aggregate(total=Sum("amount"))["total"]
    return int(total or 0)


def _refund_journal_post(
    *, payment: Journal, refund_id: str, amount: int, journal_kind: str
) -> Journal | None:
    """Book `amount` more of the charge's refunds. The creator's share reverses in proportion
    to the cumulative net refunded (as Stripe reverses the transfer), so refunds booked one by
    one add up exactly. Caller holds the payment journal's lock."""
    charge_id = payment.stripe_charge_id
    charged = -_entries_total(payment, Kind.CUSTOMER_PAYMENTS)[0]
    share, creator_id = _entries_total(payment, Kind.CREATOR_PAYABLE)
    booked = refunded_booked(charge_id)
    target = min(booked + int(amount), charged)
    if target <= booked:
        logger.error("refund %s of charge %s exceeds what was charged", refund_id, charge_id)
        return None
    creator_back = fees.proportional_share(share, target, charged) - fees.proportional_share(
        share, booked, charged
    )
    booked_now = target - booked
    c = payment.currency
    lines = [
        Line(ledger.account(Kind.REFUNDS, c), booked_now),
        Line(ledger.account(Kind.PLATFORM_BALANCE, c), -(booked_now - creator_back)),
    ]
    if creator_id is not None:
        lines.append(Line(ledger.account(Kind.CREATOR_PAYABLE, c, creator_id), -creator_back))
    return ledger.journal_post(
        kind=journal_kind,
        currency=c,
        idempotency_key=f"refund:{refund_id}",
        description=f"refund {refund_id} of {payment.kind} charge {charge_id}: {booked} -> {target}",
        stripe_payment_intent_id=payment.stripe_payment_intent_id,
        stripe_charge_id=charge_id,
        stripe_refund_id=refund_id,
        lines=lines,
    )


def _refund_reversal_post(booked: Journal, refund_id: str, reason: str) -> Journal:
    """The exact negation of a refund's journal: a new balanced journal, never an edit."""
    lines = [
        Line(e.account, -e.amount)
        for e in Entry.objects.filter(journal=booked).select_related("account")
    ]
    creator_back = sum(line.amount for line in lines if line.account.kind == Kind.CREATOR_PAYABLE)
    if creator_back:
        # Stripe returns a failed refund to the platform balance; whether the transfer reversal
        # made with it comes back to the connected account is Stripe's to say. Staff check it
        # and, if it did not, transfer the creator's share back (the ledger says it is owed).
        Discrepancy.objects.get_or_create(
            kind=Discrepancy.Kind.UNEXPECTED_REVERSAL, object_type="refund", external_id=refund_id,
            defaults={"ledger_amount": creator_back, "ledger_currency": booked.currency,
                      "detail": f"refund {refund_id} of charge {booked.stripe_charge_id} "
                      f"{reason} after it succeeded; its booking was reversed. Check that the "
                      f"creator's share ({creator_back}) came back to their connected account."},
        )  # fmt: skip
    return ledger.journal_post(
        kind=Journal.Kind.REFUND_REVERSED,
        currency=booked.currency,
        idempotency_key=f"refund:{refund_id}:reversed",
        description=f"refund {refund_id} {reason} after it was booked: reversed",
        stripe_payment_intent_id=booked.stripe_payment_intent_id,
        stripe_charge_id=booked.stripe_charge_id,
        stripe_refund_id=refund_id,
        lines=lines,
    )


def refund_apply(*, refund: dict[str, Any], charge_kind: str = "") -> RefundChange | None:
    """Move one provider refund's `ChargeRefund` to the status the provider reports, booking
    it when it succeeds and reversing that booking if it then fails or is canceled. Safe under
    replays and any order: `failed` / `canceled` are final, so a late `succeeded` is ignored.
    Returns None for an object that is not a refund of a charge."""
    refund_id = str(refund.get("id") or "")
    charge_id = str(refund.get("charge") or "")
    status = str(refund.get("status") or "")
    if not refund_id or not charge_id or status not in ChargeRefund.Status.values:
        return None
    R = ChargeRefund.Status
    with transaction.atomic():
        payment = payment_journal_for_charge(charge_id)
        if payment is not None:  # one refund booking per charge at a time
            list(Journal.objects.select_for_update().filter(pk=payment.pk).values_list("pk"))
        name = charge_kind or (payment.kind if payment is not None else "")
        row, _ = ChargeRefund.objects.get_or_create(
            stripe_refund_id=refund_id,
            defaults={
                "stripe_charge_id": charge_id,
                "charge_kind": name if name in CHARGE_KINDS else "",
                "amount": int(refund["amount"]),
                "currency": str(refund.get("currency") or "").upper(),
            },
        )
        row = ChargeRefund.objects.select_for_update().get(pk=row.pk)
        if status == row.status or status not in ChargeRefund.TRANSITIONS[row.status]:
            return RefundChange(row)  # a replay, or older news than what we know
        previous = row.status
        change = RefundChange(row)
        if status == R.SUCCEEDED:
            if payment is None:
                # The payment is not booked yet (its kind books it first, see refund_events_
                # apply); the row stays pending so the next news of it books it.
                logger.warning("refund %s of unknown charge %s not booked", refund_id, charge_id)
                return RefundChange(row)
            kind = CHARGE_KINDS.get(row.charge_kind)
            # Booked before this rule (key `refund:<charge>:<cumulative>`, with the refund id
            # on ticket and membership refunds): that journal is this refund's booking.
            legacy = Journal.objects.filter(
                stripe_refund_id=refund_id, kind__in=REFUND_KINDS
            ).first()
            row.booked = legacy or _refund_journal_post(
                payment=payment, refund_id=refund_id, amount=row.amount,
                journal_kind=kind.refund_journal_kind if kind else Journal.Kind.REFUND,
            )  # fmt: skip
            change = RefundChange(row, booked=True)
        else:  # failed or canceled
            row.failure_reason = str(refund.get("failure_reason") or status)[:255]
            if row.booked is not None:
                row.reversed_by = _refund_reversal_post(row.booked, refund_id, status)
                change = RefundChange(row, reversed=True)
        row.status = status
        row.save()
        audit(row, status, from_status=previous, to_status=status, note=row.failure_reason)
    return change


def _charge_stub(refund: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(refund.get("charge") or ""), "object": "charge",
            "payment_intent": refund.get("payment_intent"), "metadata": {}}  # fmt: skip


def _ensure_paid(kind: ChargeKind, charge: dict[str, Any]) -> None:
    """News of a refund or dispute proves the charge was paid: its row is paid (and its sale
    booked) first if the payment's own news is late."""
    if kind.ensure_paid is not None:
        kind.ensure_paid(charge)
        return
    row = charge_owner(kind, charge)
    if row is not None and row.status in row.PAYMENT.unsettled:
        charge_mark_paid(row, charge_id=str(charge.get("id") or ""))


def refund_events_apply(*, refund: dict[str, Any], charge_kind: str = "") -> RefundChange | None:
    """A refund object (the create answer, `refund.*` events, or fetched): the payment is
    booked first if its own event is late, then the money (refund_apply), then the kind's own
    state (a ticket's refund machine, a tip refunded or paid again)."""
    charge = _charge_stub(refund)
    kind = CHARGE_KINDS.get(charge_kind) or _kind_of(charge)
    if kind is not None and str(refund.get("status")) == "succeeded":
        _ensure_paid(kind, charge)
    change = refund_apply(refund=refund, charge_kind=charge_kind)
    if change is not None and kind is not None and kind.refund_changed is not None:
        row = charge_owner(kind, {**refund, "metadata": {}}) or charge_owner(kind, charge)
        if row is not None:
            kind.refund_changed(row, refund, change)
    return change


def charge_refunds_sync(*, charge: dict[str, Any]) -> None:
    """Apply every refund of a charge as the provider reports it now (`charge.refunded` says
    the charge's refunds changed; its `amount_refunded` also counts pending refunds, so it is
    never booked as such). Without the provider, the refunds the event carries are used."""
    charge_id = str(charge.get("id") or "")
    try:
        refunds = get_provider().charge_refund_list(charge_id)
    except ProviderError:
        refunds = list(((charge.get("refunds") or {}).get("data")) or [])
        logger.warning(
            "refunds of charge %s not listed; %d from the event", charge_id, len(refunds)
        )
    kind = _kind_of(charge)
    if kind is not None:
        _ensure_paid(kind, charge)
    name = kind.name if kind is not None else ""
    for refund in sorted(refunds, key=lambda r: (int(r.get("created") or 0), str(r["id"]))):
        refund_events_apply(refund={**refund, "charge": refund.get("charge") or charge_id},
                            charge_kind=name)  # fmt: skip


def dispute_funds_withdrawn_book(
    *,
    dispute_id: str,
    charge_id: str,
    amount: int,
    currency: str,
    journal_kind: str = Journal.Kind.DISPUTE,
) -> Journal:
    c = currency.upper()
    payment = payment_journal_for_charge(charge_id)
    return ledger.journal_post(
        kind=journal_kind,
        currency=c,
        idempotency_key=f"dispute:{dispute_id}:withdrawn",
        description=f"dispute {dispute_id} on charge {charge_id}: funds withdrawn",
        stripe_payment_intent_id=payment.stripe_payment_intent_id if payment else "",
        stripe_charge_id=charge_id,
        stripe_dispute_id=dispute_id,
        lines=[
            Line(ledger.account(Kind.PLATFORM_BALANCE, c), -amount),
            Line(ledger.account(Kind.DISPUTES, c), amount),
        ],
    )


def dispute_funds_reinstated_book(
    *,
    dispute_id: str,
    charge_id: str,
    amount: int,
    currency: str,
    withdrawn_journal_kind: str = Journal.Kind.DISPUTE,
) -> Journal:
    c = currency.upper()
    with transaction.atomic():
        withdrawn = Journal.objects.filter(
            idempotency_key=f"dispute:{dispute_id}:withdrawn"
        ).first()
        if withdrawn is None:  # the reinstatement overtook the withdrawal: it implies it
            dispute_funds_withdrawn_book(
                dispute_id=dispute_id,
                charge_id=charge_id,
                amount=amount,
                currency=c,
                journal_kind=withdrawn_journal_kind,
            )
        return ledger.journal_post(
            kind=Journal.Kind.DISPUTE_REINSTATED,
            currency=c,
            idempotency_key=f"dispute:{dispute_id}:reinstated",
            description=f"dispute {dispute_id} on charge {charge_id}: funds reinstated",
            stripe_charge_id=charge_id,
            stripe_dispute_id=dispute_id,
            lines=[
                Line(ledger.account(Kind.PLATFORM_BALANCE, c), amount),
                Line(ledger.account(Kind.DISPUTES, c), -amount),
            ],
        )


def dispute_fee_book(*, dispute: dict[str, Any], charge_id: str = "") -> None:
    """Stripe's dispute fee, charged to the platform when a dispute is opened and returned if
    it is won, as its own journals (a platform expense on `dispute_fees`). The amounts come
    from the dispute's balance transactions (`fee`: positive when charged, negative when
    returned); each is booked once per dispute."""
    dispute_id = str(dispute["id"])
    txns = [t for t in dispute.get("balance_transactions") or [] if isinstance(t, dict)]
    charged = sum(max(int(t.get("fee") or 0), 0) for t in txns)
    returned = sum(max(-int(t.get("fee") or 0), 0) for t in txns)
    c = str(dispute.get("currency") or (txns[0].get("currency") if txns else "")).upper()
    ids = {"stripe_charge_id": charge_id or str(dispute.get("charge") or ""),
           "stripe_dispute_id": dispute_id}  # fmt: skip
    with transaction.atomic():
        if charged:
            ledger.journal_post(
                kind=Journal.Kind.DISPUTE_FEE, currency=c,
                idempotency_key=f"dispute:{dispute_id}:fee",
                description=f"dispute {dispute_id}: Stripe's dispute fee", **ids,
                lines=[Line(ledger.account(Kind.PLATFORM_BALANCE, c), -charged),
                       Line(ledger.account(Kind.DISPUTE_FEES, c), charged)],
            )  # fmt: skip
        if returned:
            ledger.journal_post(
                kind=Journal.Kind.DISPUTE_FEE_RETURNED, currency=c,
                idempotency_key=f"dispute:{dispute_id}:fee_returned",
                description=f"dispute {dispute_id} won: Stripe's dispute fee returned", **ids,
                lines=[Line(ledger.account(Kind.PLATFORM_BALANCE, c), returned),
                       Line(ledger.account(Kind.DISPUTE_FEES, c), -returned)],
            )  # fmt: skip


# --- webhook entry points (charge.refunded, charge.dispute.*) ----------------------------------


def charge_refunded_apply(*, charge: dict[str, Any]) -> None:
    charge_refunds_sync(charge=charge)


def _charge_of_dispute(dispute: dict[str, Any]) -> dict[str, Any]:
    charge_id = str(dispute.get("charge") or "")
    try:
        return get_provider().charge_retrieve(charge_id)
    except ProviderError:
        # Without the charge's metadata the ledger still books the money; the payment journal
        # (found by charge id) keeps the link.
        return {"id": charge_id, "object": "charge", "metadata": {}}


def dispute_funds_withdrawn_apply(*, dispute: dict[str, Any]) -> None:
    charge = _charge_of_dispute(dispute)
    kind = _kind_of(charge)
    if kind is not None:
        _ensure_paid(kind, charge)
    dispute_funds_withdrawn_book(
        dispute_id=str(dispute["id"]),
        charge_id=str(charge["id"]),
        amount=int(dispute["amount"]),
        currency=str(dispute["currency"]),
        journal_kind=kind.dispute_journal_kind if kind else Journal.Kind.DISPUTE,
    )
    dispute_fee_book(dispute=dispute, charge_id=str(charge["id"]))
    if kind is not None and kind.disputed is not None:
        row = charge_owner(kind, charge)
        if row is not None:
            kind.disputed(row, {**dispute, "charge": str(charge["id"])})


def dispute_funds_reinstated_apply(*, dispute: dict[str, Any]) -> None:
    kind = _kind_of(_charge_of_dispute(dispute))
    dispute_funds_reinstated_book(
        dispute_id=str(dispute["id"]),
        charge_id=str(dispute.get("charge") or ""),
        amount=int(dispute["amount"]),
        currency=str(dispute["currency"]),
        withdrawn_journal_kind=kind.dispute_journal_kind if kind else Journal.Kind.DISPUTE,
    )
    dispute_fee_book(dispute=dispute)


# --- staff: pending and failed refunds of every kind (admin), the beat sweep ------------------


def charge_refund_refresh(*, refund: ChargeRefund) -> ChargeRefund:
    """Ask the provider where a refund stands and apply it (a lost webhook, a stuck pending
    refund). Idempotent."""
    refund_events_apply(refund=get_provider().refund_retrieve(refund.stripe_refund_id),
                        charge_kind=refund.charge_kind)  # fmt: skip
    refund.refresh_from_db()
    return refund


def charge_refunds_refresh_stale(*, older_than_seconds: int) -> list[str]:
    """The beat sweep: refunds still pending after a while are looked up at the provider.
    Returns their resulting states; an unreachable provider leaves them for the next run."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    states = []
    for row in ChargeRefund.objects.filter(status=ChargeRefund.Status.PENDING, updated__lt=cutoff):
        try:
            states.append(charge_refund_refresh(refund=row).status)
        except ProviderError:
            logger.warning("refund %s: provider unreachable, left pending", row.stripe_refund_id)
            states.append(row.status)
    return states


def charge_refund_retry(
    *, refund: ChargeRefund, actor: Any, reason: str = ""
) -> ChargeRefund | None:
    """Staff retry a failed or canceled refund: a new refund of the same amount of the same
    charge (a new request under a new key), through the service of the charge's kind. Returns
    the new refund's row, or None if the provider's answer named no refund."""
    if not getattr(actor, "is_staff", False):
        raise PermissionDenied("Only staff can refund.", code="staff_required")
    if refund.status not in ChargeRefund.FINAL:
        raise Conflict(
            "Only a failed or canceled refund can be retried.", code="illegal_transition"
        )
    charge_id = refund.stripe_charge_id
    kind = CHARGE_KINDS.get(refund.charge_kind)
    row = charge_owner(kind, {"id": charge_id, "object": "charge"}) if kind else None
    if kind is None or kind.refund_retry is None or row is None:
        raise Conflict("This refund's charge is not one of ours.", code="unknown_charge")
    before = set(
        ChargeRefund.objects.filter(stripe_charge_id=charge_id).values_list("pk", flat=True)
    )
    kind.refund_retry(row, refund, actor, reason)
    return ChargeRefund.objects.filter(stripe_charge_id=charge_id).exclude(pk__in=before).first()
