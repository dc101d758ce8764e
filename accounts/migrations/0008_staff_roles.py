# The staff roles (accounts.roles): groups with only the permissions each role needs.

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

from accounts.roles import ROLES, roles_sync


def create_roles(apps, schema_editor):
    # Permissions are normally created after every migration has run (post_migrate); the
    # groups need them now, so create them from this migration's state of every app.
    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, apps=apps)
    roles_sync(apps, existing_only=True)  # later models' permissions: 0011 on


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_feature_flags"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        # The roles hold these apps' permissions: their models must be in this state.
        ("payouts", "0012_staff_permissions_audit_reason"),
        ("clubs", "0003_periodic_premium_expiry"),
        ("rooms", "0007_periodic_visit_retention"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="accountevent",
            options={
                "ordering": ["-created", "-id"],
                "permissions": [("view_staff_audit", "Can see the staff audit list")],
            },
        ),
        migrations.AlterModelOptions(
            name="user",
            options={"permissions": [("ban_user", "Can ban a member (disable the account)")]},
        ),
        migrations.RunPython(create_roles, remove_roles),
    ]
