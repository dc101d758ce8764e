"""Idempotent setup run after every migrate: database guards and the beat schedules.

The schedules are created once by name and never overwritten, so staff edits in admin
(Periodic tasks) survive deploys. ``manage.py payouts_setup`` runs the same thing by hand.
"""

from __future__ import annotations

from typing import Any

STIPENDS_TASK_NAME = "payouts: monthly stipends (1st of the month)"
RECONCILE_TASK_NAME = "payouts: daily reconciliation"


def ensure_periodic_tasks() -> None:
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    monthly, _ = CrontabSchedule.objects.get_or_create(
        minute="5", hour="0", day_of_month="1", month_of_year="*", day_of_week="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=STIPENDS_TASK_NAME,
        defaults={"task": "payouts.tasks.stipends_pay_due_task", "crontab": monthly},
    )
    daily, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="3", day_of_month="*", month_of_year="*", day_of_week="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=RECONCILE_TASK_NAME,
        defaults={"task": "payouts.tasks.reconcile_task", "crontab": daily},
    )


def payouts_post_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    from payouts.ledger import install_database_guards

    install_database_guards(using)
    ensure_periodic_tasks()
