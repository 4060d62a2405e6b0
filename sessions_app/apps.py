from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class SessionsAppConfig(AppConfig):
    name = "sessions_app"
    verbose_name = "Sessions"
    default_auto_field = "django.db.models.BigAutoField"
    default = True

    def ready(self):
        from convostore import exposition, schema  # noqa: F401  (schema registers the OpenAPI auth extension)

        from . import signals  # noqa: F401  (Django's idiom: receivers connect once the app registry is ready)
        from . import tasks  # noqa: F401  (registers the tasks now, so their metric series exist in every process)
        from .gateway import routes  # noqa: F401  (registers the default-route system check)

        from .tier_metrics import TierCollector

        exposition.preinitialise()  # every documented series exists from the first scrape, in every process
        exposition.scrape_collector_add(TierCollector())


class ConvoStoreAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with ConvoStore's site (the dashboard page) as the default ``admin.site``."""

    default = False  # named explicitly in INSTALLED_APPS; SessionsAppConfig is this module's default
    default_site = "sessions_app.support.site.ConvoStoreAdminSite"
