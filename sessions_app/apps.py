from django.apps import AppConfig


class SessionsAppConfig(AppConfig):
    name = "sessions_app"
    verbose_name = "Sessions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from convostore import schema  # noqa: F401  (registers the OpenAPI auth extension)

        from . import signals  # noqa: F401
        from .gateway import routes  # noqa: F401  (registers the default-route system check)
