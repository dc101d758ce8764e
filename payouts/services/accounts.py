"""What deleting an account means for money (accounts' delete guard and deleting hook).

Money records stay: tips, tickets, subscriptions, stipends, payouts and ledger entries keep
pointing at the anonymised user row (their foreign keys are PROTECT on purpose). What a real
product must not do is take money away from a creator or leave it in limbo, so deletion is
refused, with a stable code the client shows, while:

- their connected account still holds money from us (`account_delete_balance_pending`: the
  creator payable is positive; it goes to zero when Stripe pays it out to their bank),
- a stipend payment to them is not settled yet (`account_delete_payout_pending`),
- members still pay them for a club (`account_delete_paid_club`: disable the club's paid plan
  first; the subscriptions end and members stop being charged).

Otherwise the creator program ends with the account (no further stipend is due), and every
live subscription the person pays is canceled at the provider after commit.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from django.db import transaction

from clubhouse.errors import Conflict
from payouts import ledger
from payouts.audit import audit
from payouts.models import ClubSubscription, CreatorProgram, PaymentCustomer, StipendPayment
from payouts.services.memberships import club_subscriptions_end_for_non_member

if TYPE_CHECKING:
    from accounts.models import User


class BalancePending(Conflict):
    code = "account_delete_balance_pending"
    default_message = (
        "Money you earned is still on its way to your bank. You can delete your account once "
        "it has been paid out."
    )


class PayoutPending(Conflict):
    code = "account_delete_payout_pending"
    default_message = (
        "A stipend payment to you is not settled yet. You can delete your account once it is."
    )


class PaidClub(Conflict):
    code = "account_delete_paid_club"
    default_message = (
        "Members pay you for a club. Turn off the club's paid membership first, so nobody is "
        "charged for it any more."
    )


def payouts_account_delete_guard(*, user: User) -> None:
    """accounts' delete guard: refuse while money is owed to or through the person."""
    if any(amount > 0 for amount in ledger.creator_balances(user).values()):
        raise BalancePending()
    if (
        StipendPayment.objects.filter(creator=user)
        .exclude(status=StipendPayment.Status.PAID)
        .exists()
    ):
        raise PayoutPending()
    if ClubSubscription.objects.filter(creator=user, status__in=ClubSubscription.LIVE).exists():
        raise PaidClub()


def payouts_account_deleting(*, user: User) -> None:
    """accounts' deleting hook (inside the deletion's transaction)."""
    for program in CreatorProgram.objects.select_for_update().filter(user=user, active=True):
        program.active = False
        program.send_money_enabled = False
        program.save(update_fields=["active", "send_money_enabled"])
        audit(program, "ended_account_deleted", actor=user)
    # The saved card's description is personal data; the customer id stays for refunds.
    PaymentCustomer.objects.filter(user=user).update(
        default_payment_method_id="", card_brand="", card_last4=""
    )
    club_ids = set(
        ClubSubscription.objects.filter(user=user, status__in=ClubSubscription.LIVE)
        .exclude(club__isnull=True)
        .values_list("club_id", flat=True)
    )
    for club_id in sorted(club_ids):
        transaction.on_commit(partial(club_subscriptions_end_for_non_member, club_id, user.pk))
