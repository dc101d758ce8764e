"""Idempotent setup run after every migrate: database guards and the beat schedules.

The schedules are created once by name and never overwritten, so staff edits in admin
(Periodic tasks) survive deploys. ``manage.py payouts_setup`` runs the same thing by hand.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask
from djstripe.models import Account, APIKey, WebhookEndpoint

from accounts.services import feature_flag_ensure
from payouts import conf
from payouts.ledger import install_database_guards
from payouts.provider import STANDIN_API_KEY
from payouts.selectors import SEND_MONEY_FEATURE

STIPENDS_TASK_NAME = "payouts: stipends (daily: the month's, late onboarders included)"
# The entry's name and schedule before stipends ran daily (renamed, if staff left it as it was).
STIPENDS_MONTHLY_TASK_NAME = "payouts: monthly stipends (1st of the month)"
STIPENDS_SWEEP_TASK_NAME = "payouts: stipends with an unknown outcome (looked up, retried)"
RECONCILE_TASK_NAME = "payouts: daily reconciliation"
TICKET_REFUNDS_TASK_NAME = "payouts: retry stuck ticket refunds"
STUCK_CHARGES_TASK_NAME = "payouts: settle payments with no answer from the provider"
# The same sweep's entry before it settled tickets too (moved, if staff left it as it was).
STUCK_TIPS_TASK_NAME = "payouts: settle tips with no answer from the provider"


def ensure_periodic_tasks() -> None:
    every_day_0005, _ = CrontabSchedule.objects.get_or_create(
        minute="5", hour="0", day_of_month="*", month_of_year="*", day_of_week="*", timezone="UTC"
    )
    # Stipends used to run on the 1st only, so a creator onboarded later missed the month: the
    # old entry, if still as created, becomes the daily one. An entry staff edited stays theirs
    # next to the daily one (a second run of a month pays nothing twice).
    as_created = PeriodicTask.objects.filter(
        name=STIPENDS_MONTHLY_TASK_NAME,
        task="payouts.tasks.stipends_pay_due_task",
        crontab__minute="5",
        crontab__hour="0",
        crontab__day_of_month="1",
        crontab__month_of_year="*",
        crontab__day_of_week="*",
    )
    for entry in as_created:  # one at most; saved and deleted one by one so beat hears of it
        if PeriodicTask.objects.filter(name=STIPENDS_TASK_NAME).exists():
            entry.delete()
        else:
            entry.name, entry.crontab = STIPENDS_TASK_NAME, every_day_0005
            entry.save()
    PeriodicTask.objects.get_or_create(
        name=STIPENDS_TASK_NAME,
        defaults={"task": "payouts.tasks.stipends_pay_due_task", "crontab": every_day_0005},
    )
    daily, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="3", day_of_month="*", month_of_year="*", day_of_week="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=RECONCILE_TASK_NAME,
        defaults={"task": "payouts.tasks.reconcile_task", "crontab": daily},
    )
    # The sweeps: stuck ticket refunds, payments (tips, tickets) and stipends with no answer
    # from the provider. The payments sweep settled tips only before: its entry, if still as
    # created, becomes the new one.
    _ensure_every(15, TICKET_REFUNDS_TASK_NAME, "payouts.tasks.tickets_refund_sweep_task")
    for entry in PeriodicTask.objects.filter(
        name=STUCK_TIPS_TASK_NAME, task="payouts.tasks.tips_settle_stuck_task"
    ):  # one at most; saved one by one so beat hears of it
        if PeriodicTask.objects.filter(name=STUCK_CHARGES_TASK_NAME).exists():
            entry.delete()
        else:
            entry.name = STUCK_CHARGES_TASK_NAME
            entry.task = "payouts.tasks.charges_settle_stuck_task"
            entry.save()
    _ensure_every(5, STUCK_CHARGES_TASK_NAME, "payouts.tasks.charges_settle_stuck_task")
    _ensure_every(15, STIPENDS_SWEEP_TASK_NAME, "payouts.tasks.stipends_sweep_task")


def _ensure_every(minutes: int, name: str, task: str) -> None:
    every, _ = IntervalSchedule.objects.get_or_create(
        every=minutes, period=IntervalSchedule.MINUTES
    )
    PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "interval": every})


def standin_webhook_endpoint() -> Any:
    """The dj-stripe endpoint row the stand-in (and a local `stripe listen`) posts to; its
    secret is DJSTRIPE_WEBHOOK_SECRET. With real Stripe, create the endpoint through dj-stripe
    (admin) instead, so Stripe generates the secret."""
    # dj-stripe attributes every stored event to an owner account found through an API key; in
    # stand-in mode both exist locally so that dj-stripe never calls out to resolve them.
    platform, _ = Account.objects.get_or_create(
        id="acct_clubhouse_standin",
        defaults={"livemode": False, "stripe_data": {"id": "acct_clubhouse_standin",
                                                     "object": "account"}},
    )  # fmt: skip
    APIKey.objects.get_or_create(
        secret=STANDIN_API_KEY,
        defaults={"type": "secret", "livemode": False, "djstripe_owner_account": platform},
    )
    endpoint, _ = WebhookEndpoint.objects.get_or_create(
        id="we_clubhouse_standin",
        defaults={
            "djstripe_owner_account": platform,
            "livemode": False,
            "enabled_events": ["*"],
            "secret": conf.webhook_secret(),
            "status": "enabled",
            "url": "http://127.0.0.1:8000/stripe/webhook/",
            "api_version": settings.STRIPE_API_VERSION,
        },
    )
    return endpoint


def payouts_post_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    install_database_guards(using)
    ensure_periodic_tasks()
    # The Send Money flag, for staff to find in admin: open to everyone, so a deploy changes
    # nothing; staff turn "everyone" off to start the beta (payouts/services/send_money.py).
    feature_flag_ensure(key=SEND_MONEY_FEATURE, name="Send Money", everyone=True)


def standin_connected_account(account_id: str) -> Any:
    """In stand-in mode, a Connect event (one with `account`) makes dj-stripe look the account
    up, and it would ask Stripe for an unknown one: mirror the connected account locally, as
    `standin_webhook_endpoint` does for the platform. With real Stripe, dj-stripe fetches it."""
    account, _ = Account.objects.get_or_create(
        id=account_id,
        defaults={"livemode": False, "stripe_data": {"id": account_id, "object": "account"}},
    )
    return account
