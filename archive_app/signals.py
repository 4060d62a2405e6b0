"""Signals of archive_app: lifecycle events feed Prometheus; a new summary drops the cached context header."""

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from cache_app.context_cache import header_forget

from .models import LifecycleEvent, Summary


@receiver(post_save, sender=LifecycleEvent)
def lifecycle_event_recorded(sender, instance, created, **kwargs):
    if created:
        instance.metrics_count()


@receiver(post_save, sender=Summary)
def summary_written(sender, instance, created, **kwargs):
    """A new summary changes what context assembly picks: drop the cached context header after commit."""
    conversation = instance.conversation
    transaction.on_commit(
        lambda: header_forget(tenant_id=conversation.tenant_id, conversation_id=conversation.conversation_id)
    )
