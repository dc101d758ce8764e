"""Every write about money. Services own their transactions; provider calls are idempotent."""

from payouts.services import charges as charges
from payouts.services import tickets as tickets
from payouts.services.bank_payouts import connected_payout_apply, platform_payout_failed
from payouts.services.cards import (
    PaymentMethodRequired,
    payment_customer_ensure,
    payment_method_save,
    setup_intent_create,
)
from payouts.services.corrections import CorrectionLine, correction_post
from payouts.services.creators import (
    connected_account_ensure,
    connected_account_onboarding_link,
    connected_account_sync,
    creator_application_approve,
    creator_application_reject,
    creator_apply,
    creator_nominate,
)
from payouts.services.funding import topup_book, topup_book_from_provider, topup_reverse
from payouts.services.memberships import (
    club_plan_disable,
    club_plan_set,
    club_subscribe,
    club_subscription_apply,
    club_subscription_cancel,
    club_subscription_resume,
    club_subscription_sync,
    membership_invoice_failed,
    membership_invoice_paid,
)
from payouts.services.send_money import (
    FEEDBACK_STEPS,
    creator_send_money_set,
    send_money_feedback_send,
    send_money_flag_ensure,
)
from payouts.services.stipends import (
    stipend_failures_report,
    stipend_mark_paid,
    stipend_pay,
    stipend_retry,
    stipend_run_month,
    stipends_pay_due,
    stipends_sweep,
)
from payouts.services.tips import (
    tip_mark_disputed,
    tip_mark_failed,
    tip_mark_refunded,
    tip_mark_succeeded,
    tip_refund,
    tip_send,
    tip_settle_from_provider,
    tips_settle_stuck,
)

__all__ = [
    "FEEDBACK_STEPS",
    "CorrectionLine",
    "PaymentMethodRequired",
    "charges",
    "club_plan_disable",
    "club_plan_set",
    "club_subscribe",
    "club_subscription_apply",
    "club_subscription_cancel",
    "club_subscription_resume",
    "club_subscription_sync",
    "connected_account_ensure",
    "connected_account_onboarding_link",
    "connected_account_sync",
    "connected_payout_apply",
    "correction_post",
    "creator_application_approve",
    "creator_application_reject",
    "creator_apply",
    "creator_nominate",
    "creator_send_money_set",
    "membership_invoice_failed",
    "membership_invoice_paid",
    "payment_customer_ensure",
    "payment_method_save",
    "platform_payout_failed",
    "send_money_feedback_send",
    "send_money_flag_ensure",
    "setup_intent_create",
    "stipend_failures_report",
    "stipend_mark_paid",
    "stipend_pay",
    "stipend_retry",
    "stipend_run_month",
    "stipends_pay_due",
    "stipends_sweep",
    "tickets",
    "tip_mark_disputed",
    "tip_mark_failed",
    "tip_mark_refunded",
    "tip_mark_succeeded",
    "tip_refund",
    "tip_send",
    "tip_settle_from_provider",
    "tips_settle_stuck",
    "topup_book",
    "topup_book_from_provider",
    "topup_reverse",
]
