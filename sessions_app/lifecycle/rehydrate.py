"""Rehydrating: segments back into Item rows (exactly as they were), then the hot window rebuilt."""

from __future__ import annotations

from django.db import transaction

from archive_app import storage
from archive_app.models import ArchiveSegment, LifecycleEvent
from archive_app.segments import segment_items
from cache_app import lru
from cache_app.redis_client import RedisUnavailable, guarded

from ..models import Conversation
from ..selectors import context_entries, window_refresh
from ..services.writes import items_restore


def conversation_rehydrate(*, conversation: Conversation) -> int:
    """Turn a conversation's segments back into Item rows (exactly as they were), then rebuild its hot window.

    One transaction under the row lock (rows inserted, segments deleted, archived_upto_seq reset, tier warm);
    after commit the window is rebuilt and the tier becomes hot when Redis took it. Returns items restored.
    """
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().select_related("tenant").get(pk=conversation.pk)
        segments = list(ArchiveSegment.objects.filter(conversation=locked).order_by("first_seq"))
        items = [item for segment in segments for item in segment_items(segment)]
        items_restore(conversation_pk=locked.pk, items=items)
        for segment in segments:
            storage.payload_forget(segment)
        ArchiveSegment.objects.filter(pk__in=[s.pk for s in segments]).delete()
        Conversation.objects.filter(pk=locked.pk).update(archived_upto_seq=0, tier=Conversation.Tier.WARM)
        if segments:
            LifecycleEvent.objects.create(
                kind=LifecycleEvent.Kind.REHYDRATE,
                tenant_id=locked.tenant_id,
                conversations=1,
                items=len(items),
                raw_bytes=sum(s.raw_bytes for s in segments),
                stored_bytes=sum(s.stored_bytes for s in segments),
            )
    conversation.archived_upto_seq, conversation.tier = 0, Conversation.Tier.WARM
    if _window_restore(conversation):
        Conversation.objects.filter(pk=conversation.pk, tier=Conversation.Tier.WARM).update(tier=Conversation.Tier.HOT)
        conversation.tier = Conversation.Tier.HOT
    return len(items)


def _window_restore(conversation: Conversation) -> bool:
    """Rebuild the hot window from the rows just restored and touch the LRU index; False when Redis is away."""
    fresh = Conversation.objects.select_related("tenant").get(pk=conversation.pk)
    window_refresh(fresh.tenant, fresh, context_entries(fresh, fresh.last_seq))
    try:
        with guarded("lru_touch") as client:
            pipe = client.pipeline(transaction=False)
            lru.touch(pipe, fresh.tenant_id, fresh.conversation_id)
            pipe.execute()
    except RedisUnavailable:
        return False
    return True
