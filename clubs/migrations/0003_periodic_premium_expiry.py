"""Registers the premium-expiry job with django-celery-beat (DatabaseScheduler): every 15
minutes, `clubs.premium_expire_due` (idempotent), so whoever's premium lapses leaves the club's
members-only rooms. Staff may change the schedule in admin; re-running keeps their change."""

from django.db import migrations

TASK = "clubs.premium_expire_due"
NAME = "clubs: expire premium memberships"


def register(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_15_minutes, _ = IntervalSchedule.objects.get_or_create(every=15, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=NAME, defaults={"task": TASK, "interval": every_15_minutes, "enabled": True}
    )


def unregister(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("clubs", "0002_clubs_domain"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(register, unregister)]
