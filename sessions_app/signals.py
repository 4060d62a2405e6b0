"""Keep the API-key cache honest: tenant settings or key changes drop the cached entries."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import ApiKey, Tenant


@receiver(post_save, sender=Tenant)
@receiver(post_delete, sender=Tenant)
def tenant_changed(sender, instance, **kwargs):
    from .auth import forget_tenant_keys

    forget_tenant_keys(instance)


@receiver(post_save, sender=ApiKey)
@receiver(post_delete, sender=ApiKey)
def api_key_changed(sender, instance, **kwargs):
    from .auth import forget_cached_key

    forget_cached_key(instance.key_hash)
