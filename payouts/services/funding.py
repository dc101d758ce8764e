"""Platform top-ups: money the platform's bank adds to its Stripe balance, what stipends are
paid from. Booked from Stripe's `topup.succeeded` event, or by staff from admin (a top-up whose
event was lost), always through `topup_book`: one `funding` journal per top-up, key
`topup:<tu_id>`, `platform_balance +A`, `platform_funding -A`. A booked top-up that Stripe
reverses (`topup.reversed`) gets the exact negation, a new `funding_reversed` journal with key
`topup:<tu_id>:reversed`; the booked journal is never edited.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from clubhouse.errors import Conflict, InvalidInput, NotFound
from payouts import ledger, selectors
from payouts.audit import audit
from payouts.ledger import Kind, Line
from payouts.models import Journal, LedgerAccount
from payouts.provider import ProviderError, ProviderUnavailable, get_provider

logger = logging.getLogger(__name__)


class TopupNotSucceeded(Conflict):
    code = "topup_not_succeeded"
    default_message = "Only a top-up that has succeeded at Stripe is booked."


class TopupNotFound(NotFound):
    code = "topup_not_found"
    default_message = "Stripe has no top-up with this id."


class TopupInvalid(InvalidInput):
    code = "topup_invalid"
    default_message = "This is not a top-up that can be booked."


def _topup_key(topup_id: str) -> str:
    return f"topup:{topup_id}"


def _lock_funding(currency: str) -> None:
    """Top-ups of a currency are booked one at a time: the lock makes "is it booked already?"
    exact, so a top-up booked twice at once (its event and staff's form) is audited once."""
    acc = ledger.account(Kind.PLATFORM_FUNDING, currency)
    LedgerAccount.objects.select_for_update().filter(pk=acc.pk).first()


def _parsed(topup: dict[str, Any]) -> tuple[str, int, str]:
    topup_id = str(topup.get("id") or "")
    amount = topup.get("amount")
    currency = str(topup.get("currency") or "").upper()
    if not topup_id.startswith("tu_"):
        raise TopupInvalid(f"{topup_id or 'This object'} is not a Stripe top-up (tu_…).")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise TopupInvalid(f"Top-up {topup_id} has no positive amount in minor units.")
    if len(currency) != 3 or not currency.isalpha():
        raise TopupInvalid(f"Top-up {topup_id} has no ISO 4217 currency.")
    return topup_id, amount, currency


def _topup_book(*, topup: dict[str, Any], reason: str, actor: Any) -> tuple[Journal, bool]:
    topup_id, amount, currency = _parsed(topup)
    status = str(topup.get("status") or "")
    if status != "succeeded":
        raise TopupNotSucceeded(
            f"Top-up {topup_id} is {status or 'of unknown status'} at Stripe, not succeeded: "
            "nothing was booked."
        )
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Say why this top-up is booked.", fields={"reason": ["required"]})
    with transaction.atomic():
        _lock_funding(currency)
        existing = selectors.topup_journal(topup_id)
        if existing is not None:
            return existing, False
        journal = ledger.journal_post(
            kind=Journal.Kind.FUNDING,
            currency=currency,
            idempotency_key=_topup_key(topup_id),
            description=f"top-up {topup_id}: {reason}",
            stripe_topup_id=topup_id,
            lines=[
                Line(ledger.account(Kind.PLATFORM_BALANCE, currency), amount),
                Line(ledger.account(Kind.PLATFORM_FUNDING, currency), -amount),
            ],
        )
        audit(journal, "topup_booked", actor=actor,
              note=f"{topup_id} {amount} {currency}", reason=reason)  # fmt: skip
    return journal, True


def topup_book(*, topup: dict[str, Any], reason: str, actor: Any = None) -> Journal:
    """Book a succeeded Stripe top-up (the object as Stripe gives it) once; booking it again
    returns the first journal. A top-up in any other state is refused (`topup_not_succeeded`)."""
    journal, _ = _topup_book(topup=topup, reason=reason, actor=actor)
    return journal


def topup_book_from_provider(*, topup_id: str, reason: str, actor: Any) -> tuple[Journal, bool]:
    """Staff's form: book the top-up `topup_id` as Stripe has it now. Returns the journal and
    whether this call booked it (False: it was booked already, and Stripe was not asked).

    Raises `TopupNotFound` for an id Stripe does not know, `TopupNotSucceeded`,
    `ProviderUnavailable` when Stripe cannot be reached (nothing booked: try again)."""
    topup_id = topup_id.strip()
    if not reason.strip():
        raise InvalidInput("Say why this top-up is booked.", fields={"reason": ["required"]})
    existing = selectors.topup_journal(topup_id)
    if existing is not None:
        return existing, False
    try:
        topup = get_provider().topup_retrieve(topup_id)
    except ProviderUnavailable:
        raise
    except ProviderError as exc:
        if exc.extra.get("provider_code") == "resource_missing":
            raise TopupNotFound(f"Stripe has no top-up {topup_id}.") from exc
        raise
    if str(topup.get("id") or "") != topup_id:
        raise TopupNotFound(f"Stripe has no top-up {topup_id}.")
    return _topup_book(topup=topup, reason=reason, actor=actor)


def topup_reverse(*, topup: dict[str, Any], reason: str, actor: Any = None) -> Journal | None:
    """Stripe reversed a top-up: post the exact negation of its booked journal, once. A top-up
    that was never booked books nothing (None): there is nothing in the ledger to take back."""
    topup_id, _, currency = _parsed(topup)
    with transaction.atomic():
        _lock_funding(currency)
        booked = selectors.topup_journal(topup_id)
        if booked is None:
            logger.warning("top-up %s reversed at Stripe but never booked: nothing to reverse",
                           topup_id)  # fmt: skip
            return None
        key = f"{_topup_key(topup_id)}:reversed"
        existing = Journal.objects.filter(idempotency_key=key).first()
        if existing is not None:
            return existing
        journal = ledger.journal_post(
            kind=Journal.Kind.FUNDING_REVERSED,
            currency=booked.currency,
            idempotency_key=key,
            description=f"top-up {topup_id} reversed: {reason}",
            stripe_topup_id=topup_id,
            lines=[Line(entry.account, -entry.amount) for entry in booked.entries.all()],
        )
        audit(journal, "topup_reversed", actor=actor,
              note=f"{topup_id}: negates journal #{booked.pk}", reason=reason)  # fmt: skip
    return journal
