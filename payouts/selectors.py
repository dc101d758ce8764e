"""Every read about money, including the seams other apps call (tickets, club access)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db.models import Case, Count, Exists, F, OuterRef, Q, QuerySet, Sum, When
from django.utils import timezone
from djstripe.models import Event, WebhookEventTrigger

from accounts.selectors import (
    feature_access,
    person_ref,
    user_blocked_by_count,
    user_follower_ids,
    user_reports_received_counts,
    users_follower_ids,
)
from clubhouse.attention import Attention
from clubhouse.audit import StaffAction, StaffActionFilter, staff_window
from clubhouse.money import Money
from clubs.selectors import club_premium_access, clubs_led_by
from payouts import conf, ledger, ticket_selectors
from payouts.models import (
    AuditEntry,
    ChargeRefund,
    ClubSubscription,
    ConnectedAccount,
    ConnectedPayout,
    CreatorApplication,
    CreatorProgram,
    Discrepancy,
    Entry,
    Journal,
    LedgerAccount,
    PaymentCustomer,
    StipendPayment,
    StipendRun,
    Ticket,
    Tip,
)
from rooms import selectors as room_selectors

if TYPE_CHECKING:
    from accounts.models import User
else:
    User = get_user_model()


def month_start(day: date) -> date:
    return day.replace(day=1)


# --- audience figures for the review screen ---------------------------------------------------


def user_followers_count(user: User) -> int:
    return user_follower_ids(followee=user).count()


def user_rooms_hosted_last_30_days(user: User) -> int:
    return room_selectors.rooms_hosted_count(user=user, days=30)


def user_listeners_reached_last_30_days(user: User) -> int:
    """Distinct people (other than the host) who were in rooms the user started in 30 days."""
    return room_selectors.listeners_reached_count(user=user, days=30)


def creator_audience(user: User) -> dict[str, int]:
    return {
        "followers": user_followers_count(user),
        "rooms_hosted_30d": user_rooms_hosted_last_30_days(user),
        "listeners_reached_30d": user_listeners_reached_last_30_days(user),
    }


def creator_applicant_profile(user: User) -> dict[str, Any]:
    """Who an applicant (or a creator) is, as staff review them: the profile, the audience
    over 30 and 90 days, tips received, reports and blocks against them, clubs they lead.
    Each figure comes from the app that owns it, through its selectors."""
    tips = (
        Tip.objects.filter(creator=user, status=Tip.Status.SUCCEEDED)
        .values("currency")
        .annotate(count=Count("id"), total=Sum("amount"))
        .order_by("currency")
    )
    return {
        "user": user,
        "followers": user_followers_count(user),
        "rooms_hosted": {d: room_selectors.rooms_hosted_count(user=user, days=d) for d in (30, 90)},
        "listeners_reached": {
            d: room_selectors.listeners_reached_count(user=user, days=d) for d in (30, 90)
        },
        "tips_received": [
            {
                "currency": t["currency"],
                "count": int(t["count"]),
                "total": int(t["total"]),
                "money": Money(int(t["total"]), t["currency"]),
            }
            for t in tips
        ],
        "reports": user_reports_received_counts(user),
        "blocked_by": user_blocked_by_count(user),
        "clubs_led": clubs_led_by(user=user),
        "applications": list(CreatorApplication.objects.filter(user=user).order_by("-created")),
    }


def creator_application_latest(user: User) -> CreatorApplication | None:
    """The member's newest application to the creator program (their status page)."""
    return CreatorApplication.objects.filter(user=user).order_by("-created", "-pk").first()


def creator_program_audit(program: CreatorProgram) -> QuerySet[AuditEntry]:
    """What staff did to a program and to the applications behind it, newest first."""
    applications = CreatorApplication.objects.filter(user_id=program.user_id)
    ids = [str(pk) for pk in applications.values_list("pk", flat=True)]
    return (
        AuditEntry.objects.filter(
            Q(subject_type="CreatorProgram", subject_id=str(program.pk))
            | Q(subject_type="CreatorApplication", subject_id__in=ids)
        )
        .select_related("actor")
        .order_by("-created", "-pk")
    )


def creator_application_audit(application: CreatorApplication) -> QuerySet[AuditEntry]:
    return (
        AuditEntry.objects.filter(subject_type="CreatorApplication", subject_id=str(application.pk))
        .select_related("actor")
        .order_by("-created", "-pk")
    )


def users_shared_room_recently(a: User, b: User, *, days: int = 10) -> bool:
    """Did `a` and `b` share a room in the last `days` days? The Send Money eligibility
    alternative to following.

    Both were in the same room, and that room was live at some point in the last `days` days
    (still live, or ended since). Presence in the same room, not necessarily at the same minute.
    """
    return room_selectors.users_shared_room_recently(a, b, days=days)


# --- seams for ticketed rooms and paid clubs ----------------------------------------------------


def ticket_holder(user: User, room_or_event: Any) -> bool:
    """True when `user` holds a paid, unrefunded ticket for a priced room or event (for a
    room, a ticket for the event it was started from counts). See payouts/ticket_selectors.py;
    rooms calls it at join through rooms/tickets_bridge.py."""
    return ticket_selectors.ticket_holder(user, room_or_event)


def club_membership_active(user: User, club: Any) -> bool:
    """True when `user`'s paid membership of an exclusive `club` grants access now.

    Contract: active and trialing grant access; past_due grants access during the grace period
    (CLUBS_PREMIUM_GRACE_DAYS); canceled, unpaid and incomplete do not.
    The one rule lives in clubs (`club_premium_access`); subscription webhooks feed it through
    `clubs.services.premium_membership_sync` (payouts/services/memberships/).
    """
    return club_premium_access(user, club)


# --- creators, tips, wallet ------------------------------------------------------------------


def creator_program_get(user: User) -> CreatorProgram | None:
    return CreatorProgram.objects.filter(user=user, active=True).first()


def connected_account_get(user: User) -> ConnectedAccount | None:
    return ConnectedAccount.objects.filter(user=user).first()


# The feature flag that gates sending money (accounts.selectors.feature_access): off, a beta
# cohort, or everyone; staff set it in admin (Feature flags).
SEND_MONEY_FEATURE = "send_money"


def creator_receive_money_reason(user: User) -> str | None:
    """Why `user` cannot receive money (None when they can): `not_in_program`,
    `turned_off_by_staff`, `turned_off_by_creator`, `payouts_not_set_up`."""
    program = creator_program_get(user)
    if program is None:
        return "not_in_program"
    if not program.send_money_enabled:
        return "turned_off_by_staff"
    if not program.creator_send_money_on:
        return "turned_off_by_creator"
    account = connected_account_get(user)
    if account is None or not account.transfers_active:
        return "payouts_not_set_up"
    return None


def creator_can_receive_money(user: User) -> bool:
    return creator_receive_money_reason(user) is None


def send_money_for_profile(*, user: User, viewer: Any) -> dict[str, Any]:
    """What a profile says about money, as `viewer` sees `user`'s (accounts'
    PROFILE_VIEWER_SECTIONS): whether `user` can receive (and, to themselves only, why not),
    whether `viewer` may send to them (and why not), and whether Send Money is a beta for
    `viewer`. The tip service checks all of it again (and more: a follow, the limits)."""
    receive_reason = creator_receive_money_reason(user)
    is_self = bool(viewer is not None and viewer.is_authenticated and viewer.pk == user.pk)
    send_reason: str | None
    access = feature_access(SEND_MONEY_FEATURE, viewer)
    if is_self:
        send_reason = "self"
    elif receive_reason is not None:
        send_reason = "creator_cannot_receive"
    elif not access.allowed:
        send_reason = access.reason
    else:
        send_reason = None
    return {
        "can_receive_money": receive_reason is None,
        "receive_money_reason": receive_reason if is_self else None,
        "can_send_money": send_reason is None,
        "send_money_reason": send_reason,
        "send_money_beta": access.beta,
    }


def creator_send_money_settings(*, user: User) -> dict[str, Any]:
    """The creator's own switch for their settings page (accounts' SETTINGS_SECTIONS)."""
    program = creator_program_get(user)
    if program is None:
        return {"in_program": False}
    return {
        "in_program": True,
        "on": program.creator_send_money_on,
        "staff_enabled": program.send_money_enabled,
        "can_receive_money": creator_can_receive_money(user),
        "receive_money_reason": creator_receive_money_reason(user),
    }


def program_creator_follower_ids(on: date | None = None) -> QuerySet[Any, int]:
    """The people who follow a creator of the program (a beta cohort rule)."""
    creators = CreatorProgram.objects.filter(active=True).values_list("user_id", flat=True)
    return users_follower_ids(followee_ids=creators)


def tips_sent_in_last_day(sender: User, currency: str) -> int:
    since = timezone.now() - timedelta(days=1)
    total = Tip.objects.filter(
        sender=sender,
        currency=currency,
        created__gte=since,
        status__in=[Tip.Status.CREATED, Tip.Status.REQUIRES_ACTION, Tip.Status.SUCCEEDED],
    ).aggregate(total=Sum("amount"))["total"]
    return int(total or 0)


def stipend_run_progress(run: StipendRun) -> dict[str, int]:
    counts = run.payments.aggregate(
        total=Count("id"),
        **{s.value: Count("id", filter=Q(status=s.value)) for s in StipendPayment.Status},
    )
    return {k: int(v or 0) for k, v in counts.items()}


# --- what /metrics shows about money (payouts/metrics.py) -------------------------------------


def stipend_run_latest_progress() -> tuple[date, dict[str, int]] | None:
    """The latest month's run and its rows by status (`stipend_run_progress`), or None."""
    run = StipendRun.objects.order_by("-month").first()
    if run is None:
        return None
    return run.month, stipend_run_progress(run)


def stipend_payments_failed_count() -> int:
    """Stipend rows of any month that failed and wait for staff (admin retries them)."""
    S = StipendPayment.Status
    return StipendPayment.objects.filter(status__in=[S.FAILED, S.FAILED_INSUFFICIENT_FUNDS]).count()


def discrepancies_open_by_kind() -> dict[str, int]:
    """Reconciliation discrepancies not yet resolved by staff, by kind (every kind, 0 or more)."""
    counts = dict.fromkeys(Discrepancy.Kind.values, 0)
    open_ = Discrepancy.objects.filter(resolved=False).values("kind").annotate(n=Count("id"))
    for row in open_:
        counts[row["kind"]] = int(row["n"])
    return counts


def webhook_events_unprocessed() -> list[datetime]:
    """When each stored webhook delivery that is still unprocessed arrived, oldest first (see
    `webhook_deliveries_unprocessed`)."""
    return [created for _, created in webhook_deliveries_unprocessed()]


def webhook_deliveries_unprocessed() -> list[tuple[int, datetime]]:
    """Each stored webhook delivery that is still unprocessed, as (dj-stripe's
    WebhookEventTrigger id, when it arrived), oldest first: its signature verified, its handling
    failed (dj-stripe kept the delivery with the exception), and no later delivery of the same
    event succeeded (that one stored the event itself)."""
    failed = list(
        WebhookEventTrigger.objects.filter(valid=True, processed=False)
        .order_by("created")
        .values_list("pk", "created", "body")
    )
    if not failed:
        return []
    rows = [(pk, created, _event_id(body)) for pk, created, body in failed]
    named = [event_id for _, _, event_id in rows if event_id]
    stored = set(Event.objects.filter(id__in=named).values_list("id", flat=True))
    return [(pk, created) for pk, created, event_id in rows if event_id not in stored]


def _event_id(body: str) -> str | None:
    try:
        event_id = json.loads(body).get("id")
    except (ValueError, AttributeError):
        return None
    return str(event_id) if event_id else None


def _stipend_not_in_flight(now: Any = None) -> Q:
    """Rows no worker is paying right now: a `processing` row whose claim was released after
    an unknown outcome or is older than PAYOUTS_STIPEND_STALE_AFTER, and a `pending` row that
    long untouched (the run that created it stopped)."""
    before = (now or timezone.now()) - timedelta(seconds=conf.stipend_stale_after_seconds())
    S = StipendPayment.Status
    return (
        Q(status=S.PROCESSING, claimed_at__isnull=True)
        | Q(status=S.PROCESSING, claimed_at__lt=before)
        | Q(status=S.PENDING, updated__lt=before)
    )


def stipend_payments_to_sweep(now: Any = None) -> QuerySet[StipendPayment]:
    """What the sweep looks up and retries (same key): every month's rows left unresolved."""
    return StipendPayment.objects.filter(_stipend_not_in_flight(now)).order_by("month", "pk")


def stipend_payments_needing_attention(now: Any = None) -> QuerySet[StipendPayment]:
    """What staff see flagged in admin: failed rows (they wait for staff) and stuck ones."""
    S = StipendPayment.Status
    failed = Q(status__in=[S.FAILED, S.FAILED_INSUFFICIENT_FUNDS])
    return StipendPayment.objects.filter(failed | _stipend_not_in_flight(now)).order_by(
        "month", "pk"
    )


def _stipend_due_q(month: date) -> Q:
    """The program's terms cover `month` (CreatorProgram's docstring): within its months and
    not paused. The amount is checked separately (it may change from a month on)."""
    paused = Q(stipend_paused_from__lte=month) & (
        Q(stipend_resumes_month__isnull=True) | Q(stipend_resumes_month__gt=month)
    )
    return (
        Q(stipend_start_month__lte=month)
        & (Q(stipend_end_month__isnull=True) | Q(stipend_end_month__gte=month))
        & ~paused
    )


def creators_due_stipend(month: date) -> QuerySet[CreatorProgram]:
    """Programs owed `month`'s stipend, annotated with the amount and currency in force that
    month (`due_amount`, `due_currency`)."""
    takes_next = Q(stipend_next_from__isnull=False, stipend_next_from__lte=month)
    return (
        CreatorProgram.objects.filter(
            _stipend_due_q(month),
            active=True,
            user__connected_account__transfers_active=True,
        )
        .annotate(
            due_amount=Case(
                When(takes_next, then=F("stipend_next_amount")), default=F("stipend_amount")
            ),
            due_currency=Case(
                When(takes_next, then=F("stipend_next_currency")), default=F("stipend_currency")
            ),
        )
        .filter(due_amount__gt=0)
        .select_related("user__connected_account")
        .order_by("user_id")
    )


def program_stipend_for_month(program: CreatorProgram, month: date) -> tuple[int, str] | None:
    """The stipend `program`'s terms give for `month` (amount, currency), or None: the same
    rule as `creators_due_stipend`, for one program already in memory (staff's pages)."""
    start, end = program.stipend_start_month, program.stipend_end_month
    if not program.active or start is None or start > month or (end and end < month):
        return None
    paused_from, resumes = program.stipend_paused_from, program.stipend_resumes_month
    if paused_from and paused_from <= month and (resumes is None or resumes > month):
        return None
    if program.stipend_next_from and program.stipend_next_from <= month:
        amount, currency = program.stipend_next_amount or 0, program.stipend_next_currency
    else:
        amount, currency = program.stipend_amount, program.stipend_currency
    return (amount, currency) if amount > 0 else None


def platform_balance(currency: str) -> int:
    return ledger.balance_of(LedgerAccount.Kind.PLATFORM_BALANCE, currency)


def topup_journal(topup_id: str) -> Journal | None:
    """The `funding` journal that booked the Stripe top-up `topup_id`, if it is booked."""
    return Journal.objects.filter(idempotency_key=f"topup:{topup_id}").first()


def user_by_username(username: str) -> User | None:
    """Staff naming a person in a back-office form (a correcting journal's creator)."""
    return User.objects.filter(username=username.strip()).first() if username.strip() else None


# --- paid clubs and the wallet ---------------------------------------------------------------

# Which journal kinds a creator's figures come from (their creator-payable movements).
_WALLET_FIGURES: dict[str, tuple[str, ...]] = {
    "tips": ("tip",),
    "tickets": ("ticket",),
    "memberships": ("membership",),
    "stipends": ("stipend", "stipend_reversal"),
    "refunds": ("tip_refund", "ticket_refund", "refund", "refund_reversed"),  # net of reversals
    "paid_out": ("creator_payout", "creator_payout_failed"),
    "corrections": ("correction",),
}


def _blank_figures() -> dict[str, int]:
    return {"balance": 0, "disputes": 0, **dict.fromkeys(_WALLET_FIGURES, 0)}


def wallet_summary(user: User) -> dict[str, Any]:
    """Everything a creator's wallet shows, in a constant number of queries (one per block),
    whatever the number of tips, invoices or payouts. Amounts are sums over the ledger."""
    figures: dict[str, dict[str, int]] = {}
    rows = (
        Entry.objects.filter(
            account__kind=LedgerAccount.Kind.CREATOR_PAYABLE, account__creator=user
        )
        .values("currency", "journal__kind")
        .annotate(total=Sum("amount"))
    )
    for row in rows:
        money = figures.setdefault(row["currency"], _blank_figures())
        money["balance"] += int(row["total"])
        name = next((k for k, kinds in _WALLET_FIGURES.items() if row["journal__kind"] in kinds),
                    "corrections")  # fmt: skip
        money[name] += int(row["total"])
    # Chargebacks on this creator's charges (the platform absorbs them; shown for information).
    their_charges = Journal.objects.filter(
        kind__in=["tip", "ticket", "membership"],
        entries__account__kind=LedgerAccount.Kind.CREATOR_PAYABLE,
        entries__account__creator=user,
    ).values("stripe_charge_id")
    disputes = (
        Entry.objects.filter(
            account__kind=LedgerAccount.Kind.DISPUTES,
            journal__stripe_charge_id__in=their_charges,
        )
        .exclude(journal__stripe_charge_id="")
        .values("currency")
        .annotate(total=Sum("amount"))
    )
    for dispute_row in disputes:
        money = figures.setdefault(dispute_row["currency"], _blank_figures())
        money["disputes"] = int(dispute_row["total"])
    live = list(ClubSubscription.LIVE)
    clubs = list(
        ClubSubscription.objects.filter(creator=user, status__in=live)
        .values("club_id", "club__slug", "club__name", "currency")
        .annotate(subscribers=Count("id"), monthly=Sum("amount"))
        .order_by("club__name")
    )
    return {
        "program": CreatorProgram.objects.filter(user=user, active=True).first(),
        "account": ConnectedAccount.objects.filter(user=user).first(),
        "figures": figures,
        "tips_received": list(
            Tip.objects.filter(creator=user, status__in=["succeeded", "refunded", "disputed"])
            .select_related("sender")
            .order_by("-created")[:20]
        ),
        "stipends": list(StipendPayment.objects.filter(creator=user).order_by("-month")[:24]),
        "clubs": clubs,
        "payouts": list(ConnectedPayout.objects.filter(creator=user).order_by("-created")[:10]),
    }


def club_subscriptions_for(user: User) -> QuerySet[Any]:
    return ClubSubscription.objects.filter(user=user).select_related("club").order_by("-created")


def payouts_account_export(*, user: User) -> dict[str, Any]:
    """The data export's money section: everything paid by or to the person. The other side of
    a payment appears as a `person_ref` only."""

    def when(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    def tip(t: Tip) -> dict[str, Any]:
        return {
            "id": str(t.uuid),
            "sender": person_ref(t.sender),
            "creator": person_ref(t.creator),
            "amount": t.amount,
            "fee": t.fee,
            "currency": t.currency,
            "status": t.status,
            "created": when(t.created),
        }

    def ticket(t: Ticket) -> dict[str, Any]:
        return {
            "id": str(t.uuid),
            "title": t.title,
            "buyer": person_ref(t.buyer),
            "creator": person_ref(t.creator),
            "amount": t.amount,
            "currency": t.currency,
            "status": t.status,
            "created": when(t.created),
            "paid_at": when(t.paid_at),
        }

    card = PaymentCustomer.objects.filter(user=user).first()
    program = CreatorProgram.objects.filter(user=user).first()
    account = ConnectedAccount.objects.filter(user=user).first()
    return {
        "payment_card": (
            {"brand": card.card_brand, "last4": card.card_last4} if card is not None else None
        ),
        "tips_sent": [
            tip(t) for t in Tip.objects.filter(sender=user).select_related("sender", "creator")
        ],
        "tips_received": [
            tip(t) for t in Tip.objects.filter(creator=user).select_related("sender", "creator")
        ],
        "tickets_bought": [
            ticket(t) for t in Ticket.objects.filter(buyer=user).select_related("buyer", "creator")
        ],
        "tickets_sold": [
            ticket(t)
            for t in Ticket.objects.filter(creator=user).select_related("buyer", "creator")
        ],
        "club_subscriptions": [
            {
                "club_id": s.club_id,
                "amount": s.amount,
                "currency": s.currency,
                "status": s.status,
                "created": when(s.created),
                "current_period_end": when(s.current_period_end),
            }
            for s in ClubSubscription.objects.filter(user=user)
        ],
        "creator_applications": [
            {"status": a.status, "pitch": a.pitch, "created": when(a.created)}
            for a in CreatorApplication.objects.filter(user=user)
        ],
        "creator_program": (
            {
                "active": program.active,
                "stipend_amount": program.stipend_amount,
                "stipend_currency": program.stipend_currency,
                "stipend_start_month": when(program.stipend_start_month),
                "stipend_end_month": when(program.stipend_end_month),
            }
            if program is not None
            else None
        ),
        "connected_account": account.stripe_account_id if account is not None else None,
        "balances": ledger.creator_balances(user),
        "stipends": [
            {"month": when(p.month), "amount": p.amount, "currency": p.currency, "status": p.status}
            for p in StipendPayment.objects.filter(creator=user)
        ],
        "payouts": [
            {
                "amount": p.amount,
                "currency": p.currency,
                "status": p.status,
                "created": when(p.created),
                "arrival_date": when(p.arrival_date),
            }
            for p in ConnectedPayout.objects.filter(creator=user)
        ],
    }


# --- the staff home (clubhouse/admin/) ---------------------------------------------------------
# Each figure comes with the admin list filter that shows exactly the rows counted.


def creator_applications_waiting() -> Attention:
    """Applications (and staff nominations) no curator has approved or rejected yet."""
    status = CreatorApplication.Status.PENDING
    count = CreatorApplication.objects.filter(status=status).count()
    return Attention(count=count, filters={"status__exact": status})


def discrepancies_waiting() -> Attention:
    """Reconciliation discrepancies staff have not resolved (with a correcting journal)."""
    return Attention(
        count=Discrepancy.objects.filter(resolved=False).count(),
        filters={"resolved__exact": "0"},
    )


def stipend_payments_waiting() -> Attention:
    """Stipend rows of any month that failed or are stuck (`stipend_payments_needing_attention`;
    the list's "needs attention" filter)."""
    return Attention(
        count=stipend_payments_needing_attention().count(), filters={"attention": "yes"}
    )


_STIPEND_FAILED = (
    StipendPayment.Status.FAILED,
    StipendPayment.Status.FAILED_INSUFFICIENT_FUNDS,
)


def stipend_run_summary(month: date, *, failures_shown: int = 10) -> dict[str, Any]:
    """A month's stipend run as the staff home shows it: whether it has started, its rows by
    state (paid, failed, processing, pending; each with the list filter of its rows) and the
    failed rows, oldest first, with the creator and the provider's reason."""
    month = month_start(month)
    run = StipendRun.objects.filter(month=month).first()
    by_month = {"month": month.isoformat()}
    S = StipendPayment.Status
    states: dict[str, tuple[str, ...]] = {
        "paid": (S.PAID,),
        "failed": _STIPEND_FAILED,
        "processing": (S.PROCESSING,),
        "pending": (S.PENDING,),
    }
    counts = stipend_run_progress(run) if run is not None else {}
    figures = {
        name: Attention(
            count=sum(counts.get(status, 0) for status in statuses),
            filters={**by_month, "status__in": ",".join(statuses)},
        )
        for name, statuses in states.items()
    }
    failed = (
        StipendPayment.objects.filter(month=month, status__in=_STIPEND_FAILED)
        .select_related("creator")
        .order_by("updated", "pk")
    )
    return {
        "month": month,
        "started": run is not None,
        "total": Attention(count=counts.get("total", 0), filters=by_month),
        **figures,
        "failures": [
            {
                "id": payment.pk,
                "name": payment.creator.display_name or payment.creator.username,
                "username": payment.creator.username,
                "amount": payment.amount,
                "currency": payment.currency,
                "status": payment.get_status_display(),
                "reason": payment.error or payment.get_status_display(),
            }
            for payment in failed[:failures_shown]
        ],
        "failures_more": max(0, figures["failed"].count - failures_shown),
    }


def charge_refunds_needing_attention(now: datetime | None = None) -> QuerySet[ChargeRefund]:
    """Refunds that need a person: failed or canceled at the provider and not retried since (no
    later refund of the same charge), or still pending after PAYOUTS_REFUND_STUCK_AFTER."""
    before = (now or timezone.now()) - timedelta(seconds=conf.refund_stuck_after())
    retried = ChargeRefund.objects.filter(
        stripe_charge_id=OuterRef("stripe_charge_id"), pk__gt=OuterRef("pk")
    )
    return ChargeRefund.objects.alias(retried=Exists(retried)).filter(
        Q(status__in=ChargeRefund.FINAL, retried=False)
        | Q(status=ChargeRefund.Status.PENDING, created__lt=before)
    )


def tickets_refund_needing_attention(now: datetime | None = None) -> QuerySet[Ticket]:
    """Tickets whose refund failed (waiting for staff to retry), or is still requested after
    the sweep should have retried it (PAYOUTS_TICKET_REFUND_RETRY_AFTER, twice over)."""
    before = (now or timezone.now()) - timedelta(seconds=2 * conf.ticket_refund_retry_after())
    S = Ticket.Status
    return Ticket.objects.filter(
        Q(status=S.REFUND_FAILED) | Q(status=S.REFUND_PENDING, updated__lt=before)
    )


def refunds_waiting() -> dict[str, Attention]:
    """The staff home's refund figures: every kind of charge's refunds (Charge refunds), and
    tickets, whose refund can also fail before the provider made one (no refund row then)."""
    return {
        "charge_refunds": Attention(
            count=charge_refunds_needing_attention().count(), filters={"attention": "yes"}
        ),
        "tickets": Attention(
            count=tickets_refund_needing_attention().count(), filters={"attention": "yes"}
        ),
    }


def webhooks_waiting() -> dict[str, Any]:
    """Stored Stripe deliveries whose handling failed and was not redone (dj-stripe's webhook
    event triggers, by id: the list shows exactly those), and when the oldest arrived."""
    rows = webhook_deliveries_unprocessed()
    ids = ",".join(str(pk) for pk, _ in rows)
    return {
        "deliveries": Attention(count=len(rows), filters={"id__in": ids} if rows else {}),
        "oldest": rows[0][1] if rows else None,
    }


# --- staff actions (the staff audit list, an object's history) -----------------------------


def _audit_action(entry: AuditEntry) -> StaffAction:
    moved = f"{entry.from_status} → {entry.to_status}" if entry.from_status else entry.to_status
    return StaffAction(
        when=entry.created,
        actor=entry.actor,
        action=entry.action,
        source="payouts",
        app_label="payouts",
        model=entry.subject_type.lower(),
        object_id=entry.subject_id,
        subject=f"{entry.subject_type} #{entry.subject_id}",
        reason=entry.reason,
        detail="; ".join(part for part in (moved, entry.note) if part),
    )


def staff_actions(wanted: StaffActionFilter) -> list[StaffAction]:
    """Money moved or decided by a staff member: retries, refunds, corrections, top-ups booked,
    creators approved or rejected (the entries whose actor is staff)."""
    entries = AuditEntry.objects.filter(actor__is_staff=True).select_related("actor")
    return [
        _audit_action(e)
        for e in staff_window(entries, wanted, actor="actor", when="created", action="action")
    ]


def staff_action_names() -> list[str]:
    entries = AuditEntry.objects.filter(actor__is_staff=True)
    return sorted(set(entries.values_list("action", flat=True).distinct()))


def audit_history_for(obj: Any) -> list[StaffAction]:
    """Every audit entry about `obj` (a stipend row, a tip, a discrepancy...), staff's and the
    system's, newest first."""
    entries = AuditEntry.objects.filter(subject_type=type(obj).__name__, subject_id=str(obj.pk))
    return [_audit_action(e) for e in entries.select_related("actor").order_by("-pk")[:100]]
