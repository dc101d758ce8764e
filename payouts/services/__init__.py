"""Every write about money. Services own their transactions; provider calls are idempotent."""

from payouts.services.creators import (
    connected_account_ensure,
    connected_account_onboarding_link,
    connected_account_sync,
    creator_application_approve,
    creator_application_reject,
    creator_apply,
    creator_nominate,
)
from payouts.services.stipends import (
    stipend_mark_paid,
    stipend_pay,
    stipend_retry,
    stipend_run_month,
    stipends_pay_due,
)
from payouts.services.tips import (
    payment_customer_ensure,
    payment_method_save,
    setup_intent_create,
    tip_mark_disputed,
    tip_mark_failed,
    tip_mark_refunded,
    tip_mark_succeeded,
    tip_refund,
    tip_send,
)

__all__ = [
    "connected_account_ensure",
    "connected_account_onboarding_link",
    "connected_account_sync",
    "creator_application_approve",
    "creator_application_reject",
    "creator_apply",
    "creator_nominate",
    "payment_customer_ensure",
    "payment_method_save",
    "setup_intent_create",
    "stipend_mark_paid",
    "stipend_pay",
    "stipend_retry",
    "stipend_run_month",
    "stipends_pay_due",
    "tip_mark_disputed",
    "tip_mark_failed",
    "tip_mark_refunded",
    "tip_mark_succeeded",
    "tip_refund",
    "tip_send",
]
