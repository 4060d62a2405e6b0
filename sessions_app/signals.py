"""Keep the API-key cache honest: tenant settings or key changes drop the cached entries."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from cache_app.api_keys import key_entry_forget

from .models import ApiKey, Tenant
from .services.tenants import api_keys_forget


@receiver(post_save, sender=Tenant)
@receiver(post_delete, sender=Tenant)
def tenant_changed(sender, instance, **kwargs):
    api_keys_forget(instance)


@receiver(post_save, sender=ApiKey)
@receiver(post_delete, sender=ApiKey)
def api_key_changed(sender, instance, **kwargs):
    key_entry_forget(instance.key_hash)
