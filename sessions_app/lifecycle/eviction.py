"""Eviction: idle conversations and, over the hot-tier budget, the least recently used ones leave Redis (hot → warm)."""

from __future__ import annotations

import logging
from collections import defaultdict

from django.conf import settings
from django.utils import timezone

from archive_app.models import LifecycleEvent
from cache_app import eviction, hot_window
from cache_app.redis_client import RedisUnavailable

from ..models import Conversation, Tenant
from . import selectors

logger = logging.getLogger(__name__)
BATCH = 500
CHUNK = 100


def conversation_evict(*, conversation: Conversation) -> bool:
    """Drop the conversation's hot window and LRU entry, then mark it warm.

    Redis first, Postgres second: killed in between, the conversation is still ``hot`` and the next sweep
    drops it again (dropping is idempotent). Returns True once the conversation is out of Redis and not
    ``hot`` (also when it already was warm or cold); False when Redis is unavailable (the sweep retries later).
    """
    try:
        hot_window.window_drop(tenant_id=conversation.tenant_id, conversation_id=conversation.conversation_id, forget_lru=True)
    except RedisUnavailable:
        return False
    if Conversation.objects.filter(pk=conversation.pk, tier=Conversation.Tier.HOT).update(tier=Conversation.Tier.WARM):
        conversation.tier = Conversation.Tier.WARM
    return True


def evict_idle(*, now=None, idle_seconds: int | None = None, tenant: Tenant | None = None, progress=None) -> int:
    """Evict conversations idle longer than their tenant's ``evict_after_seconds`` (or ``idle_seconds``).

    Idle means no write since the cutoff (``last_active_at``, the activity Postgres records). Windows that
    reads rebuilt for already-warm or cold conversations are dropped too once idle in the LRU index.
    Batched: one Redis pipeline and one UPDATE per CHUNK conversations. ``now`` injects the clock;
    ``progress(n)`` is called after each batch (a tqdm bar's update). Returns conversations evicted.
    """
    now = now or timezone.now()
    done: dict[int, list[Conversation]] = defaultdict(list)
    idle = selectors.idle_conversations(now=now, idle_seconds=idle_seconds, tenant=tenant).order_by("pk")
    after, seen = 0, set()
    while True:
        candidates = list(idle.filter(pk__gt=after)[:BATCH])
        if not candidates:
            break
        after = candidates[-1].pk
        seen.update(c.pk for c in candidates)
        if not _evict_chunks(candidates, done, progress):
            break
    _evict_chunks(_idle_in_lru(now, idle_seconds, tenant, seen), done, progress)
    _record(done, LifecycleEvent.Kind.EVICT)
    return sum(len(group) for group in done.values())


def _evict_chunks(work: list[Conversation], done: dict, progress) -> bool:
    for start in range(0, len(work), CHUNK):
        chunk = work[start : start + CHUNK]
        if not _evict_many(chunk):
            return False  # Redis failed: the next sweep picks these up again
        for conversation in chunk:
            done[conversation.tenant_id].append(conversation)
        if progress:
            progress(len(chunk))
    return True


def _evict_many(conversations: list[Conversation]) -> bool:
    """conversation_evict for a batch: one Redis pipeline for the windows and LRU entries, one UPDATE for the tiers."""
    try:
        eviction.windows_drop_many([(c.tenant_id, c.conversation_id) for c in conversations])
    except RedisUnavailable:
        return False
    pks = [c.pk for c in conversations if c.tier == Conversation.Tier.HOT]
    Conversation.objects.filter(pk__in=pks, tier=Conversation.Tier.HOT).update(tier=Conversation.Tier.WARM)
    for c in conversations:
        if c.tier == Conversation.Tier.HOT:
            c.tier = Conversation.Tier.WARM
    return True


def _idle_in_lru(now, idle_seconds: int | None, tenant: Tenant | None, seen: set[int]) -> list[Conversation]:
    """Warm or cold conversations whose window a read rebuilt, idle in the LRU index past their tenant's cutoff."""
    latest = now.timestamp() - (idle_seconds if idle_seconds is not None else 0)
    try:
        oldest = [(t, cid, score) for t, cid, score in eviction.lru_oldest_windows(limit=BATCH, before=latest)
                  if tenant is None or t == tenant.pk]
    except RedisUnavailable:
        return []
    cutoffs = selectors.evict_cutoffs([t for t, _, _ in oldest], now, idle_seconds)
    found = []
    for tenant_id, conversation_id, score in oldest:
        if score >= cutoffs.get(tenant_id, float("inf")):
            continue
        conversation = Conversation.objects.filter(tenant_id=tenant_id, conversation_id=conversation_id).first()
        if conversation is None:
            _drop_orphan(tenant_id, conversation_id)
        elif conversation.pk not in seen and conversation.tier != Conversation.Tier.HOT:
            found.append(conversation)
    return found


def _drop_orphan(tenant_id: int, conversation_id: str) -> bool:
    """A window or LRU entry whose conversation no longer exists (deleted while Redis was away)."""
    try:
        hot_window.window_drop(tenant_id=tenant_id, conversation_id=conversation_id, forget_lru=True)
        return True
    except RedisUnavailable:
        return False


def _record(done: dict[int, list[Conversation]], kind: str) -> None:
    for tenant_id, group in done.items():
        LifecycleEvent.objects.create(
            kind=kind,
            tenant_id=tenant_id,
            conversations=len(group),
            items=sum(c.item_count for c in group),
            raw_bytes=sum(c.byte_count for c in group),
        )


# --- the hot-tier budget -------------------------------------------------------------------------


def hot_usage() -> dict:
    """Bytes the hot windows use in Redis (cache_app.eviction.hot_usage); raises RedisUnavailable."""
    return eviction.hot_usage()


def enforce_hot_budget(*, max_bytes: int | None = None) -> int:
    """While the hot windows use more than ``max_bytes`` (default CONVOSTORE["HOT_MAX_BYTES"]), evict LRU-first.

    Usage is measured from Redis (MEMORY USAGE), victims come from the sharded LRU index, oldest access
    first, and each one's measured size is subtracted as it goes. Returns conversations evicted.
    """
    limit = settings.CONVOSTORE["HOT_MAX_BYTES"] if max_bytes is None else max_bytes
    try:
        usage = eviction.hot_usage()["bytes"]
    except RedisUnavailable:
        return 0
    done: dict[int, list[Conversation]] = defaultdict(list)
    freed = 0
    while usage > limit:
        try:
            victims = eviction.lru_victims(limit=64)
        except RedisUnavailable:
            break
        if victims is None:
            break
        for tenant_id, conversation_id, size in victims:
            if usage <= limit:
                break
            conversation = Conversation.objects.filter(tenant_id=tenant_id, conversation_id=conversation_id).first()
            if conversation is None:
                evicted = _drop_orphan(tenant_id, conversation_id)
            else:
                evicted = conversation_evict(conversation=conversation)
                if evicted:
                    done[tenant_id].append(conversation)
            if not evicted:
                return _finish_budget(done, freed)  # Redis failed mid-way: stop, the next sweep resumes
            usage -= size
            freed += size
    return _finish_budget(done, freed)


def _finish_budget(done: dict[int, list[Conversation]], freed: int) -> int:
    _record(done, LifecycleEvent.Kind.EVICT)
    if freed:
        logger.info("hot budget: evicted %d conversations, freed ~%d bytes", sum(map(len, done.values())), freed)
    return sum(len(group) for group in done.values())
