"""The invalidation outbox sweep and the clean-up of expired idempotency records and tombstones."""

from __future__ import annotations

import logging

from django.utils import timezone

from cache_app import hot_window, semantic_purge
from cache_app.redis_client import RedisUnavailable

from ..models import IdempotencyRecord, InvalidationOutbox, Tombstone

logger = logging.getLogger(__name__)


def outbox_apply(*, limit: int = 1000) -> int:
    """Drop the Redis copies named in the outbox; rows are removed only once Redis confirmed. Returns rows applied."""
    applied = 0
    for record in InvalidationOutbox.objects.order_by("pk")[:limit]:
        try:
            hot_window.window_drop(
                tenant_id=record.tenant_id_value, conversation_id=record.conversation_id, response_ids=record.response_ids,
                forget_lru=record.reason.startswith("delete"),
            )
            if record.reason.startswith("delete"):
                semantic_purge.purge_conversations(tenant_id=record.tenant_id_value, conversation_ids=[record.conversation_id])
        except RedisUnavailable:
            InvalidationOutbox.objects.filter(pk=record.pk).update(attempts=record.attempts + 1)
            break
        InvalidationOutbox.objects.filter(pk=record.pk).delete()
        applied += 1
    return applied


def expired_records_delete() -> int:
    now = timezone.now()
    removed, _ = IdempotencyRecord.objects.filter(expires_at__lte=now).delete()
    gone, _ = Tombstone.objects.filter(expires_at__lte=now).delete()
    return removed + gone
