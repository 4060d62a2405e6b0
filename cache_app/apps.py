from django.apps import AppConfig


class CacheAppConfig(AppConfig):
    name = "cache_app"
    verbose_name = "Hot tier and caches"
    default_auto_field = "django.db.models.BigAutoField"
