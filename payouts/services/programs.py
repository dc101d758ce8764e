"""Staff's changes to a creator's program: the stipend's terms, a pause, an end.

Every change takes effect next month: the month under way is paid on the terms it began with,
whether or not its run has made the creator's row yet (CreatorProgram's docstring says how the
fields carry that). Each change is locked, refused with a clear error when it makes no sense,
and audited with who did it, why, and the terms before and after.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from accounts.services import NotificationKind, notification_create
from clubhouse.errors import Conflict, InvalidInput
from clubhouse.money import Money, normalize_currency
from payouts import selectors
from payouts.audit import audit
from payouts.models import CreatorProgram

if TYPE_CHECKING:
    from accounts.models import User


@dataclass(frozen=True)
class StipendTerms:
    amount: int  # minor units; 0 when there is no stipend (Send Money only)
    currency: str
    start_month: date | None
    end_month: date | None  # None: until staff end it


def month_of(today: date | None = None) -> date:
    return (today or timezone.now().date()).replace(day=1)


def month_after(month: date) -> date:
    return (month.replace(day=1) + timedelta(days=32)).replace(day=1)


def stipend_terms_clean(
    *, amount: int, currency: str, start_month: date | None, end_month: date | None
) -> StipendTerms:
    """The terms as stored (months on their first day), or InvalidInput naming each field that
    is wrong (the admin forms show them beside the field)."""
    errors: dict[str, list[str]] = {}
    start = start_month.replace(day=1) if start_month else None
    end = end_month.replace(day=1) if end_month else None
    try:
        code = normalize_currency(currency or "")
    except ValueError:
        errors["stipend_currency"] = ["A three-letter ISO 4217 code (USD, EUR, JPY…)."]
        code = ""
    if start is None:
        if end is not None:
            errors["stipend_end_month"] = ["A last month needs a first month."]
        amount = 0  # no months, no stipend: Send Money only
    else:
        if amount <= 0:
            errors["stipend_amount"] = ["A stipend is a positive amount (in minor units)."]
        if end is not None and end < start:
            errors["stipend_end_month"] = ["The last month cannot be before the first month."]
    if errors:
        raise InvalidInput("The program's terms are not valid.", code="stipend_terms_invalid",
                           fields=errors)  # fmt: skip
    return StipendTerms(amount=amount, currency=code, start_month=start, end_month=end)


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Say why: the reason is kept in the program's history.",
                           code="reason_required", fields={"reason": ["Say why."]})  # fmt: skip
    return reason


def program_terms_describe(program: CreatorProgram) -> str:
    """The terms in one line, as the audit history keeps them."""
    parts = [f"Send Money {'on' if program.send_money_enabled else 'off'}"]
    start, end = program.stipend_start_month, program.stipend_end_month
    if start is None or (program.stipend_amount <= 0 and not program.stipend_next_amount):
        parts.append("no stipend")
    else:
        money = Money(program.stipend_amount, program.stipend_currency)
        parts.append(f"stipend {money} a month from {start:%Y-%m} "
                     f"{f'to {end:%Y-%m}' if end else 'until ended'}")  # fmt: skip
    if program.stipend_next_from:
        nxt = Money(program.stipend_next_amount or 0, program.stipend_next_currency or "USD")
        parts.append(f"{nxt} a month from {program.stipend_next_from:%Y-%m}")
    if program.stipend_paused_from:
        resumes = program.stipend_resumes_month
        parts.append(f"paused from {program.stipend_paused_from:%Y-%m}"
                     + (f" to {resumes:%Y-%m} (exclusive)" if resumes else ""))  # fmt: skip
    if not program.active:
        parts.append("program ended")
    return "; ".join(parts)


def _locked(program: CreatorProgram, this_month: date) -> CreatorProgram:
    """The program, locked, with a pending change already in force folded into its terms."""
    locked = CreatorProgram.objects.select_for_update().get(pk=program.pk)
    if not locked.active:
        raise Conflict("This creator's program has ended.", code="creator_program_inactive")
    if locked.stipend_next_from and locked.stipend_next_from <= this_month:
        locked.stipend_amount = locked.stipend_next_amount or 0
        locked.stipend_currency = locked.stipend_next_currency or locked.stipend_currency
        locked.stipend_next_amount, locked.stipend_next_currency = None, ""
        locked.stipend_next_from = None
    return locked


def _save(program: CreatorProgram, action: str, actor: User, reason: str, before: str) -> None:
    program.save()
    audit(program, action, actor=actor,
          note=f"{reason}\nbefore: {before}\nafter: {program_terms_describe(program)}")  # fmt: skip
    # The creator learns that their terms changed (the page with the terms is theirs to read);
    # staff's reason stays in the history.
    data = {"event": "creator_terms_changed", "change": action}
    recipient = program.user
    transaction.on_commit(lambda: notification_create(
        recipient=recipient, kind=NotificationKind.MONEY, data=data))  # fmt: skip


def _paused_in(program: CreatorProgram, month: date) -> bool:
    paused_from, resumes = program.stipend_paused_from, program.stipend_resumes_month
    return bool(paused_from and paused_from <= month and (resumes is None or resumes > month))


def creator_program_terms_change(
    *,
    program: CreatorProgram,
    actor: User,
    reason: str,
    send_money_enabled: bool,
    stipend_amount: int,
    stipend_currency: str,
    stipend_start_month: date | None,
    stipend_end_month: date | None,
    today: date | None = None,
) -> CreatorProgram:
    """New terms from next month. Send Money on or off applies at once (it moves no money of
    the platform's); the stipend's amount and currency apply from next month when this month
    is paid; a stipend that has begun keeps its first month, and a last month is this month or
    later (this month: it ends after this month)."""
    reason = _reason(reason)
    terms = stipend_terms_clean(amount=stipend_amount, currency=stipend_currency,
                                start_month=stipend_start_month, end_month=stipend_end_month)  # fmt: skip
    this = month_of(today)
    nxt = month_after(this)
    with transaction.atomic():
        p = _locked(program, this)
        before = program_terms_describe(p)
        start, end = p.stipend_start_month, p.stipend_end_month
        running = start is not None and start <= this and (end is None or end >= this)
        errors: dict[str, list[str]] = {}
        if running:
            if terms.start_month != start:
                errors["stipend_start_month"] = [
                    f"The stipend began in {start:%Y-%m}: its first month stays (end it instead)."
                ]
            if terms.end_month is not None and terms.end_month < this:
                errors["stipend_end_month"] = [
                    f"This month ({this:%Y-%m}) is paid as agreed: the last month is "
                    f"{this:%Y-%m} or later."
                ]
        elif terms.start_month is not None and terms.start_month < nxt:
            errors["stipend_start_month"] = [
                f"Changes take effect next month: the first month is {nxt:%Y-%m} or later."
            ]
        if errors:
            raise InvalidInput("The program's terms are not valid.",
                               code="stipend_terms_invalid", fields=errors)  # fmt: skip
        paid_this_month = selectors.program_stipend_for_month(p, this) is not None
        p.send_money_enabled = send_money_enabled
        p.stipend_start_month, p.stipend_end_month = terms.start_month, terms.end_month
        new_money = (terms.amount, terms.currency)
        if paid_this_month and new_money != (p.stipend_amount, p.stipend_currency):
            p.stipend_next_amount, p.stipend_next_currency = new_money
            p.stipend_next_from = nxt
        else:
            p.stipend_amount, p.stipend_currency = new_money
            p.stipend_next_amount, p.stipend_next_currency, p.stipend_next_from = None, "", None
        _save(p, "terms_changed", actor, reason, before)
    return p


def creator_program_stipend_pause(
    *, program: CreatorProgram, actor: User, reason: str, today: date | None = None
) -> CreatorProgram:
    """No stipend from next month until resumed. Already paused from next month on: nothing
    changes (and nothing is audited)."""
    reason = _reason(reason)
    this = month_of(today)
    nxt = month_after(this)
    with transaction.atomic():
        p = _locked(program, this)
        if p.stipend_start_month is None:
            raise Conflict("This creator has no stipend to pause.", code="creator_no_stipend")
        if _paused_in(p, nxt) and p.stipend_resumes_month is None:
            return p
        before = program_terms_describe(p)
        if _paused_in(p, this):
            p.stipend_resumes_month = None  # paused already: the planned resumption is off
        else:
            p.stipend_paused_from, p.stipend_resumes_month = nxt, None
        _save(p, "stipend_paused", actor, reason, before)
    return p


def creator_program_stipend_resume(
    *, program: CreatorProgram, actor: User, reason: str, today: date | None = None
) -> CreatorProgram:
    """The stipend again from next month (a pause that had not begun is simply called off)."""
    reason = _reason(reason)
    this = month_of(today)
    nxt = month_after(this)
    with transaction.atomic():
        p = _locked(program, this)
        if not _paused_in(p, nxt):
            if p.stipend_resumes_month == nxt:
                return p  # resuming next month already
            raise Conflict(
                "This creator's stipend is not paused.", code="creator_stipend_not_paused"
            )
        before = program_terms_describe(p)
        assert p.stipend_paused_from is not None
        if p.stipend_paused_from >= nxt:
            p.stipend_paused_from, p.stipend_resumes_month = None, None
        else:
            p.stipend_resumes_month = nxt
        _save(p, "stipend_resumed", actor, reason, before)
    return p


def creator_program_stipend_end(
    *, program: CreatorProgram, actor: User, reason: str, today: date | None = None
) -> CreatorProgram:
    """The stipend's last month becomes this month (a stipend that has not begun is called
    off). Send Money and the program stay."""
    reason = _reason(reason)
    this = month_of(today)
    with transaction.atomic():
        p = _locked(program, this)
        start, end = p.stipend_start_month, p.stipend_end_month
        if start is None:
            raise Conflict("This creator has no stipend to end.", code="creator_no_stipend")
        if end is not None and end <= this:
            raise Conflict(f"This stipend already ends with {end:%Y-%m}.",
                           code="creator_stipend_already_ended")  # fmt: skip
        before = program_terms_describe(p)
        if start <= this:
            p.stipend_end_month = this
        else:
            p.stipend_start_month = p.stipend_end_month = None
            p.stipend_amount = 0
            p.stipend_paused_from = p.stipend_resumes_month = None
        p.stipend_next_amount, p.stipend_next_currency, p.stipend_next_from = None, "", None
        _save(p, "stipend_ended", actor, reason, before)
    return p
