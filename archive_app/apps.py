from django.apps import AppConfig


class ArchiveAppConfig(AppConfig):
    name = "archive_app"
    verbose_name = "Archive, summaries and memories"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import signals  # noqa: F401  (Django's idiom: receivers connect once the app registry is ready)
