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

from payouts.services.memberships._common import PREMIUM_STATUS, ClubPlanError
from payouts.services.memberships.invoices import (
    MEMBERSHIP_CHARGES,
    membership_invoice_paid,
    membership_invoice_refund,
)
from payouts.services.memberships.plans import club_owner, club_plan_disable, club_plan_set
from payouts.services.memberships.subscriptions import (
    club_subscribe,
    club_subscription_apply,
    club_subscription_cancel,
    club_subscription_resume,
    club_subscription_sync,
    club_subscriptions_end_for_non_member,
    membership_invoice_failed,
)

__all__ = [
    "MEMBERSHIP_CHARGES",
    "PREMIUM_STATUS",
    "ClubPlanError",
    "club_owner",
    "club_plan_disable",
    "club_plan_set",
    "club_subscribe",
    "club_subscription_apply",
    "club_subscription_cancel",
    "club_subscription_resume",
    "club_subscription_sync",
    "club_subscriptions_end_for_non_member",
    "membership_invoice_failed",
    "membership_invoice_paid",
    "membership_invoice_refund",
]
