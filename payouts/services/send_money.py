"""Send Money around the tip itself: the creator's own switch and the beta's feedback.

Who may send is decided in `tips._eligibility` (the feature flag, the creator's switches); this
module holds the two writes the beta adds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction

from accounts.selectors import feature_access
from accounts.services import feature_feedback_create, feature_flag_ensure
from clubhouse.errors import InvalidInput, NotFound, PermissionDenied
from payouts import selectors
from payouts.audit import audit
from payouts.models import CreatorProgram, Tip

if TYPE_CHECKING:
    from accounts.models import User


class SendMoneyNotInProgram(PermissionDenied):
    code = "not_a_creator"


# Where in the Send Money dialog something went wrong (or `done` after a tip), as the client
# reports it with its feedback.
FEEDBACK_STEPS = ("amount", "quote", "card", "authentication", "payment", "done")


def send_money_flag_ensure() -> None:
    """The Send Money flag exists for staff to find in admin (post_migrate). It is created
    open to everyone, so a deploy changes nothing; staff turn "everyone" off to start the beta."""
    feature_flag_ensure(key=selectors.SEND_MONEY_FEATURE, name="Send Money", everyone=True)


def creator_send_money_set(*, user: User, on: bool) -> CreatorProgram:
    """The creator turns Send Money on or off for themselves. Staff's `send_money_enabled`
    still forces it off; this switch cannot turn it back on. Idempotent."""
    with transaction.atomic():
        program = CreatorProgram.objects.select_for_update().filter(user=user, active=True).first()
        if program is None:
            raise SendMoneyNotInProgram("Only creators in the program can receive money.")
        if program.creator_send_money_on == on:
            return program
        program.creator_send_money_on = on
        program.save(update_fields=["creator_send_money_on"])
        audit(program, "creator_send_money_on" if on else "creator_send_money_off", actor=user)
    return program


def send_money_feedback_send(
    *,
    user: User,
    rating: int,
    text: str = "",
    tip_uuid: str | None = None,
    step: str = "",
    error_code: str = "",
    client: str = "",
) -> Any:
    """A Send Money beta member's feedback, with its context: the tip it is about (the
    sender's own), that tip's state and failure, the step that failed and its error code."""
    access = feature_access(selectors.SEND_MONEY_FEATURE, user)
    if not access.allowed:
        raise PermissionDenied(
            "Only people with Send Money can send feedback on it.",
            code="send_money_not_in_beta" if access.reason != "feature_off" else "send_money_off",
        )
    if step and step not in FEEDBACK_STEPS:
        raise InvalidInput("Unknown step.", code="feedback_step",
                           fields={"step": [f"one of {', '.join(FEEDBACK_STEPS)}"]})  # fmt: skip
    context: dict[str, Any] = {"step": step, "error_code": error_code[:64], "client": client[:200]}
    if tip_uuid:
        tip = Tip.objects.filter(uuid=tip_uuid, sender=user).select_related("creator").first()
        if tip is None:
            raise NotFound("No such tip of yours.", code="tip_not_found")
        context.update({
            "tip": str(tip.uuid),
            "tip_status": tip.status,
            "tip_failure_code": tip.failure_code,
            "amount": tip.amount,
            "currency": tip.currency,
            "creator": tip.creator.username,
        })  # fmt: skip
    context["beta"] = access.beta
    send_money_flag_ensure()
    return feature_feedback_create(key=selectors.SEND_MONEY_FEATURE, user=user, rating=rating,
                                   text=text, context=context)  # fmt: skip
