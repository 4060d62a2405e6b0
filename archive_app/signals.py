"""Lifecycle runs feed Prometheus: every LifecycleEvent row counts conversations and archived bytes."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from convostore import metrics

from .models import LifecycleEvent


@receiver(post_save, sender=LifecycleEvent)
def lifecycle_event_recorded(sender, instance, created, **kwargs):
    if not created:
        return
    metrics.lifecycle_conversations.labels(kind=instance.kind).inc(instance.conversations)
    if instance.kind == LifecycleEvent.Kind.ARCHIVE:
        metrics.archived_bytes.labels(form="raw").inc(instance.raw_bytes)
        metrics.archived_bytes.labels(form="stored").inc(instance.stored_bytes)
