"""Ticketed rooms and events: prices, purchases, refunds.

A ticket is a destination charge to the creator's connected account with
``application_fee_amount`` = the platform's cut (``PAYOUTS_TICKET_PLATFORM_FEE_BPS`` of the
price). One ticket per buyer per event or room (a unique constraint): buying twice returns the
existing ticket and never charges twice, because the payment intent's idempotency key is derived
from (buyer, event/room, attempt) and a new attempt exists only after a definitive decline.

State machine (``Ticket.TRANSITIONS``): pending → requires_action → paid | failed,
failed → pending (the buyer tries again), paid → refund_pending → refunded | refund_failed,
refund_failed → refund_pending (staff retry); paid and the refund states → disputed (a
chargeback). Every transition locks the row, returns early when the ticket is already at or past
its target (webhooks repeat and arrive out of order) and writes an audit entry. Provider calls
happen outside transactions, after the state they depend on has committed.

Tickets are a kind of charge (``kind=ticket`` in the charge's metadata; ``TICKET_CHARGES``,
registered by ``PayoutsConfig.ready``): their payment is the one lifecycle of every charge
(``services/charges.py``), and their refunds and chargebacks are booked there like every
charge's (``ticket_refund`` / ``ticket_dispute`` journals), which also moves the ticket.
"""

from payouts.services.charges import UNANSWERED_AFTER_SECONDS
from payouts.services.tickets._common import TicketNotAllowed, platform_fee
from payouts.services.tickets.prices import ticket_price_set, ticket_quote
from payouts.services.tickets.purchases import (
    ticket_apply_payment_intent,
    ticket_buy,
    ticket_mark_failed,
    ticket_mark_paid,
    ticket_mark_requires_action,
)
from payouts.services.tickets.refunds import (
    TICKET_CHARGES,
    ticket_apply_refund,
    ticket_for_charge,
    ticket_mark_disputed,
    ticket_mark_refund_failed,
    ticket_mark_refunded,
    ticket_refund,
    ticket_refund_execute,
    tickets_cancel_for_event,
    tickets_refund_sweep,
)

__all__ = [
    "TICKET_CHARGES",
    "UNANSWERED_AFTER_SECONDS",
    "TicketNotAllowed",
    "platform_fee",
    "ticket_apply_payment_intent",
    "ticket_apply_refund",
    "ticket_buy",
    "ticket_for_charge",
    "ticket_mark_disputed",
    "ticket_mark_failed",
    "ticket_mark_paid",
    "ticket_mark_refund_failed",
    "ticket_mark_refunded",
    "ticket_mark_requires_action",
    "ticket_price_set",
    "ticket_quote",
    "ticket_refund",
    "ticket_refund_execute",
    "tickets_cancel_for_event",
    "tickets_refund_sweep",
]
