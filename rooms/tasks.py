"""Celery tasks: thin wrappers around services."""

from __future__ import annotations

from celery import shared_task

from rooms.schedule_services import event_reminders_send
from rooms.services import room_visits_expire

REMINDERS_TASK = "rooms.tasks.event_reminders_send_task"


@shared_task(name=REMINDERS_TASK)
def event_reminders_send_task() -> int:
    """Run every minute by celery beat (registered by migration rooms 0002)."""
    return event_reminders_send()


VISITS_EXPIRE_TASK = "rooms.tasks.room_visits_expire_task"


@shared_task(name=VISITS_EXPIRE_TASK)
def room_visits_expire_task() -> int:
    """Run daily by celery beat (registered by migration rooms 0007)."""
    return room_visits_expire()
