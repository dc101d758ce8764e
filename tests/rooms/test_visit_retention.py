"""RoomVisit retention (issue #12, Accounts): who was in which room is forgotten after
ROOM_VISIT_RETENTION_DAYS (90 by default, never below 30), by a daily beat job."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from clubhouse.celery import app
from rooms.models import RoomVisit
from rooms.services import room_visits_expire
from rooms.tasks import room_visits_expire_task
from tests.factories import UserFactory
from tests.rooms.factories import RoomFactory

pytestmark = pytest.mark.django_db


def _visit(days_ago: int) -> RoomVisit:
    visit = RoomVisit.objects.create(room=RoomFactory(), user=UserFactory())
    RoomVisit.objects.filter(pk=visit.pk).update(
        first_joined_at=timezone.now() - timedelta(days=days_ago)
    )
    return visit


def test_visits_older_than_the_retention_are_deleted_and_recent_ones_kept() -> None:
    old, edge, recent = _visit(91), _visit(89), _visit(1)

    assert room_visits_expire() == 1

    assert set(RoomVisit.objects.values_list("pk", flat=True)) == {edge.pk, recent.pk}
    assert old.pk not in RoomVisit.objects.values_list("pk", flat=True)
    assert room_visits_expire() == 0  # idempotent


def test_the_retention_is_a_setting_and_never_below_30_days(settings) -> None:  # type: ignore[no-untyped-def]
    forty, twenty = _visit(40), _visit(20)
    settings.ROOM_VISIT_RETENTION_DAYS = 35
    assert room_visits_expire() == 1
    settings.ROOM_VISIT_RETENTION_DAYS = 7  # would break creators' 30-day figures: 30 is the floor
    assert room_visits_expire() == 0
    assert list(RoomVisit.objects.values_list("pk", flat=True)) == [twenty.pk]
    assert not RoomVisit.objects.filter(pk=forty.pk).exists()


def test_the_sweep_task_runs_the_service() -> None:
    _visit(120)
    assert room_visits_expire_task.delay().get() == 1
    assert not RoomVisit.objects.exists()


def test_the_sweep_is_on_the_beat_schedule_daily_once_and_keeps_staff_edits() -> None:
    migration = importlib.import_module("rooms.migrations.0007_periodic_visit_retention")
    migration.register(apps, None)
    task = PeriodicTask.objects.get(name=migration.NAME)
    assert task.task in app.tasks  # the name beat sends is a registered Celery task
    assert (task.interval.every, task.interval.period) == (1, "days")
    PeriodicTask.objects.filter(pk=task.pk).update(enabled=False)  # staff pause it in admin
    migration.register(apps, None)
    assert PeriodicTask.objects.filter(task=migration.TASK).count() == 1
    assert not PeriodicTask.objects.get(name=migration.NAME).enabled
