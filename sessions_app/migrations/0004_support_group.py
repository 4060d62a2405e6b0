"""The `support` group: view permissions on conversation data and the safe actions; no purge, no key creation."""

from django.db import migrations

SUPPORT_GROUP = "support"

# (app label, codename); the API key view shows prefixes and timestamps only, never key material.
SUPPORT_PERMISSIONS = [
    ("sessions_app", "view_tenant"),
    ("sessions_app", "view_apikey"),
    ("sessions_app", "view_conversation"),
    ("sessions_app", "view_response"),
    ("sessions_app", "run_safe_actions"),
    ("archive_app", "view_archivesegment"),
    ("archive_app", "view_codetable"),
    ("archive_app", "view_summary"),
    ("archive_app", "view_memory"),
    ("archive_app", "view_lifecycleevent"),
]


def _ensure_permissions(apps):
    """Permissions are normally created after every migration ran; create them now so the group can hold them."""
    from django.contrib.auth.management import create_permissions

    for label in {app for app, _ in SUPPORT_PERMISSIONS}:
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None


def create_support_group(apps, schema_editor):
    _ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=SUPPORT_GROUP)
    for app_label, codename in SUPPORT_PERMISSIONS:
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def delete_support_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=SUPPORT_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("sessions_app", "0003_auditlogentry"),
        ("archive_app", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_support_group, delete_support_group)]
