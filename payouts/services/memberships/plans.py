"""The monthly price of an exclusive club, paid to its owner."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.db import transaction

from clubhouse.errors import InvalidInput, NotFound
from clubhouse.money import Money
from clubs.errors import leader_required
from clubs.selectors import club_can_manage_members, club_is_admin
from payouts import conf
from payouts.audit import audit
from payouts.models import ClubPlan, ConnectedAccount, CreatorProgram
from payouts.provider import get_provider
from payouts.services.memberships._common import ClubPlanError

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)


# --- the price ------------------------------------------------------------------------------------


def club_owner(club: Any) -> User | None:
    """The payee of a paid club: its creator, while still one of its admins."""
    if club.created_by_id is None:
        return None
    return club.created_by if club_is_admin(club=club, user_id=club.created_by_id) else None


def _payee_account(club: Any) -> tuple[User, ConnectedAccount]:
    owner = club_owner(club)
    if owner is None:
        raise ClubPlanError(
            "This club has no owner who can be paid.", code="club_plan_owner_missing"
        )
    if not CreatorProgram.objects.filter(user=owner, active=True).exists():
        raise ClubPlanError(
            "The club's owner is not an approved creator.", code="club_plan_owner_not_creator"
        )
    account = ConnectedAccount.objects.filter(user=owner).first()
    if account is None or not account.transfers_active:
        raise ClubPlanError(
            "The club's owner has not finished setting up payouts.",
            code="club_plan_owner_not_onboarded",
        )
    return owner, account


def club_plan_set(*, club: Any, actor: User, price: Money) -> ClubPlan:
    """A leader or admin of an exclusive club sets its monthly price. The same price again
    changes nothing; a new price applies to new subscriptions only."""
    if not club_can_manage_members(user=actor, club=club):
        raise leader_required()
    if not club.is_exclusive:
        raise ClubPlanError(
            "Only an exclusive club can charge for membership.", code="club_plan_not_exclusive"
        )
    if price.currency not in conf.club_currencies():
        raise InvalidInput(
            f"{price.currency} is not supported.",
            code="club_price_currency",
            fields={"currency": ["unsupported"]},
        )
    if price.amount < conf.club_price_min():
        raise InvalidInput(
            "That price is too low.", code="club_price_too_small", fields={"amount": ["too small"]}
        )
    if price.amount > conf.club_price_max():
        raise InvalidInput(
            "That price is too high.", code="club_price_too_large", fields={"amount": ["too large"]}
        )
    owner, account = _payee_account(club)
    current = ClubPlan.objects.filter(club=club).first()
    if (
        current is not None
        and current.active
        and (current.amount, current.currency, current.creator_id)
        == (price.amount, price.currency, owner.pk)
        and current.destination_account_id == account.stripe_account_id
    ):
        return current
    stripe_price = get_provider().price_create(
        amount=price.amount,
        currency=price.currency,
        product_name=f"{club.name} membership",
        metadata={"club": str(club.pk), "kind": "membership"},
        idempotency_key=f"club-price-{club.pk}-{price.currency}-{price.amount}",
    )
    with transaction.atomic():
        plan, _ = ClubPlan.objects.select_for_update().update_or_create(
            club=club,
            defaults={
                "creator": owner,
                "amount": price.amount,
                "currency": price.currency,
                "destination_account_id": account.stripe_account_id,
                "stripe_price_id": stripe_price["id"],
                "active": True,
                "set_by": actor,
            },
        )
        audit(plan, "price_set", actor=actor, note=f"{price.amount} {price.currency}/month")
    return plan


def club_plan_disable(*, club: Any, actor: User) -> ClubPlan:
    """Stop selling memberships; running subscriptions continue until canceled."""
    if not club_can_manage_members(user=actor, club=club):
        raise leader_required()
    with transaction.atomic():
        plan = ClubPlan.objects.select_for_update().filter(club=club).first()
        if plan is None:
            raise NotFound("This club has no price.", code="club_plan_missing")
        if plan.active:
            plan.active = False
            plan.save(update_fields=["active", "updated"])
            audit(plan, "price_disabled", actor=actor)
    return plan
