"""Payouts data, by topic (mirroring services/): the append-only ledger, the creator program,
charges, tips, stipends and payouts, tickets, paid clubs.

State machines follow the house style: a ``Status`` and its allowed transitions live next to
the model; the one service per transition (payouts/services/) locks, checks and audits.
"""

from payouts.models.charges import (
    CardCharge,
    ChargeRefund,
    PaymentCustomer,
    PaymentStatuses,
)
from payouts.models.creators import (
    ConnectedAccount,
    CreatorApplication,
    CreatorProgram,
)
from payouts.models.ledger import (
    AppendOnlyModel,
    AppendOnlyQuerySet,
    AuditEntry,
    Discrepancy,
    Entry,
    HandledEvent,
    Journal,
    LedgerAccount,
    LedgerImmutable,
)
from payouts.models.memberships import (
    ClubPlan,
    ClubSubscription,
    MembershipInvoice,
)
from payouts.models.payouts import (
    ConnectedPayout,
    StipendPayment,
    StipendRun,
)
from payouts.models.tickets import (
    Ticket,
    TicketPrice,
)
from payouts.models.tips import (
    Tip,
)

__all__ = [
    "AppendOnlyModel",
    "AppendOnlyQuerySet",
    "AuditEntry",
    "CardCharge",
    "ChargeRefund",
    "ClubPlan",
    "ClubSubscription",
    "ConnectedAccount",
    "ConnectedPayout",
    "CreatorApplication",
    "CreatorProgram",
    "Discrepancy",
    "Entry",
    "HandledEvent",
    "Journal",
    "LedgerAccount",
    "LedgerImmutable",
    "MembershipInvoice",
    "PaymentCustomer",
    "PaymentStatuses",
    "StipendPayment",
    "StipendRun",
    "Ticket",
    "TicketPrice",
    "Tip",
]
