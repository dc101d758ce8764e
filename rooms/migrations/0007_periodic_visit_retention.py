"""Registers the RoomVisit retention sweep with django-celery-beat (DatabaseScheduler): once a
day, `rooms.tasks.room_visits_expire_task` (idempotent) deletes visits older than
ROOM_VISIT_RETENTION_DAYS. Staff may change the schedule in admin; re-running keeps their
change."""

from django.db import migrations

TASK = "rooms.tasks.room_visits_expire_task"
NAME = "rooms: forget old room visits"


def register(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    daily, _ = IntervalSchedule.objects.get_or_create(every=1, period="days")
    PeriodicTask.objects.get_or_create(
        name=NAME, defaults={"task": TASK, "interval": daily, "enabled": True}
    )


def unregister(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("rooms", "0006_event_cohost_invites"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(register, unregister)]
