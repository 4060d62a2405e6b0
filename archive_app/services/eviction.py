"""Eviction: idle conversations and, over the hot-tier budget, the least recently used ones leave Redis (hot → warm)."""

from __future__ import annotations

import logging
from collections import defaultdict

from django.conf import settings
from django.utils import timezone

from archive_app import selectors
from archive_app.models import LifecycleEvent
from cache_app import hot_window, keys, lru
from cache_app.redis_client import RedisUnavailable, guarded
from sessions_app.models import Conversation, Tenant

logger = logging.getLogger(__name__)
BATCH = 500
CHUNK = 100
SAMPLE_KEYS = 256


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
        with guarded("evict_many") as client:
            pipe = client.pipeline(transaction=False)
            for c in conversations:
                pipe.delete(*keys.conversation_key_patterns(c.tenant_id, c.conversation_id))
                lru.forget(pipe, c.tenant_id, c.conversation_id)
            pipe.execute()
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
        with guarded("lru_oldest") as client:
            oldest = [(t, cid, score) for t, cid, score in lru.oldest(client, BATCH, before=latest)
                      if tenant is None or t == tenant.pk]
            cutoffs = selectors.evict_cutoffs([t for t, _, _ in oldest], now, idle_seconds)
            idle = [(t, cid) for t, cid, score in oldest if score < cutoffs.get(t, float("inf"))]
            wanted = _forget_windowless(client, idle)
    except RedisUnavailable:
        return []
    found = []
    for tenant_id, conversation_id in wanted:
        conversation = Conversation.objects.filter(tenant_id=tenant_id, conversation_id=conversation_id).first()
        if conversation is None:
            _drop_orphan(tenant_id, conversation_id)
        elif conversation.pk not in seen and conversation.tier != Conversation.Tier.HOT:
            found.append(conversation)
    return found


def _forget_windowless(client, members: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Members that still have a window; LRU entries left by reads of absent windows are just removed."""
    pipe = client.pipeline(transaction=False)
    for tenant_id, conversation_id in members:
        pipe.exists(keys.window_meta(tenant_id, conversation_id))
    present = pipe.execute() if members else []
    pipe = client.pipeline(transaction=False)
    for (tenant_id, conversation_id), exists in zip(members, present):
        if not exists:
            lru.forget(pipe, tenant_id, conversation_id)
    pipe.execute()
    return [member for member, exists in zip(members, present) if exists]


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


def _usage_of(client, members: list[tuple[int, str]]) -> list[int]:
    """MEMORY USAGE (all nested values counted) of each conversation's window and meta keys."""
    pipe = client.pipeline(transaction=False)
    for tenant_id, conversation_id in members:
        pipe.memory_usage(keys.window(tenant_id, conversation_id), samples=0)
        pipe.memory_usage(keys.window_meta(tenant_id, conversation_id), samples=0)
    sizes = pipe.execute()
    return [(sizes[i] or 0) + (sizes[i + 1] or 0) for i in range(0, len(sizes), 2)]


def hot_usage() -> dict:
    """Bytes the hot windows use in Redis: exact for up to SAMPLE_KEYS conversations, else sampled and scaled."""
    with guarded("hot_usage") as client:
        pipe = client.pipeline(transaction=False)
        for index in range(lru.bucket_count()):
            pipe.zcard(keys.lru_bucket(index))
        counts = pipe.execute()
        total = sum(counts)
        if not total:
            return {"conversations": 0, "bytes": 0, "sampled": 0}
        per_bucket = max(1, SAMPLE_KEYS // lru.bucket_count()) if total > SAMPLE_KEYS else None
        pipe = client.pipeline(transaction=False)
        for index, count in enumerate(counts):
            if count and per_bucket is None:
                pipe.zrange(keys.lru_bucket(index), 0, -1)
            elif count:
                pipe.zrandmember(keys.lru_bucket(index), per_bucket)
        members = []
        for rows in pipe.execute():
            for member in rows or []:
                tenant, _, conversation_id = member.decode("utf-8").partition(":")
                members.append((int(tenant), conversation_id))
        sizes = _usage_of(client, members)
    measured = sum(sizes)
    estimate = measured if per_bucket is None else round(measured / max(1, len(sizes)) * total)
    return {"conversations": total, "bytes": estimate, "sampled": len(sizes)}


def enforce_hot_budget(*, max_bytes: int | None = None) -> int:
    """While the hot windows use more than ``max_bytes`` (default CONVOSTORE["HOT_MAX_BYTES"]), evict LRU-first.

    Usage is measured from Redis (MEMORY USAGE), victims come from the sharded LRU index, oldest access
    first, and each one's measured size is subtracted as it goes. Returns conversations evicted.
    """
    limit = settings.CONVOSTORE["HOT_MAX_BYTES"] if max_bytes is None else max_bytes
    try:
        usage = hot_usage()["bytes"]
    except RedisUnavailable:
        return 0
    done: dict[int, list[Conversation]] = defaultdict(list)
    freed = 0
    while usage > limit:
        try:
            with guarded("lru_oldest") as client:
                batch = lru.oldest(client, 64)
                sizes = _usage_of(client, [(t, cid) for t, cid, _ in batch])
                # LRU entries without a window (expired, or left by a read of an absent one) are just forgotten.
                _forget_windowless(client, [(t, cid) for (t, cid, _), size in zip(batch, sizes) if not size])
        except RedisUnavailable:
            break
        victims = [(t, cid, size) for (t, cid, _), size in zip(batch, sizes) if size]
        if not batch:
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
