# The staff roles again (accounts.roles): the Send Money beta's flags, cohorts and feedback for
# Creator curators, its feedback (read) for Support, room reports for Trust & safety; and a report's resolution holds the whole
# reason staff give (the reason form takes 500 characters).

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

from accounts.roles import roles_sync


def resync_roles(apps, schema_editor):
    # As in 0008: the permissions must exist before post_migrate would create them.
    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, apps=apps)
    roles_sync(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0010_notification_kinds_merged"),
        ("media_relay", "0002_relay_view_permission"),
        ("rooms", "0008_room_report_pinned_link"),  # room reports, for Trust & safety
    ]

    operations = [
        migrations.AlterField(
            model_name="report",
            name="resolution",
            field=models.CharField(blank=True, max_length=500),
        ),
        # Going back leaves the groups as they are (0008's reverse removes them).
        migrations.RunPython(resync_roles, migrations.RunPython.noop),
    ]
