"""The Redis side of eviction: drop many windows at once, measure the hot tier, pick LRU victims.

Which conversations leave, and their tier in Postgres, is decided by sessions_app.lifecycle.eviction;
this module only touches Redis. Every function raises RedisUnavailable when Redis fails.
"""

from __future__ import annotations

from . import keys, lru
from .cluster import queue_delete
from .redis_client import guarded

SAMPLE_KEYS = 256

Member = tuple[int, str]  # (tenant id, conversation id)


def windows_drop_many(members: list[Member]) -> None:
    """Delete the windows (and context headers) of ``members`` and their LRU entries in one pipeline."""
    with guarded("evict_many") as client:
        pipe = client.pipeline(transaction=False)
        for tenant_id, conversation_id in members:
            queue_delete(pipe, keys.conversation_key_patterns(tenant_id, conversation_id))
            lru.forget(pipe, tenant_id, conversation_id)
        pipe.execute()


def _forget_windowless(client, members: list[Member]) -> list[Member]:
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


def lru_oldest_windows(*, limit: int, before: float) -> list[tuple[int, str, float]]:
    """(tenant id, conversation id, last access) of the least recently used entries older than ``before``
    that still hold a window, oldest first; entries without one are forgotten on the way."""
    with guarded("lru_oldest") as client:
        oldest = lru.oldest(client, limit, before=before)
        present = set(_forget_windowless(client, [(t, cid) for t, cid, _ in oldest]))
    return [(t, cid, score) for t, cid, score in oldest if (t, cid) in present]


def _usage_of(client, members: list[Member]) -> list[int]:
    """MEMORY USAGE (all nested values counted) of each conversation's window and meta keys."""
    pipe = client.pipeline(transaction=False)
    for tenant_id, conversation_id in members:
        pipe.memory_usage(keys.window(tenant_id, conversation_id), samples=0)
        pipe.memory_usage(keys.window_meta(tenant_id, conversation_id), samples=0)
    sizes = pipe.execute()
    return [(sizes[i] or 0) + (sizes[i + 1] or 0) for i in range(0, len(sizes), 2)]


def hot_usage() -> dict:
    """Bytes the hot windows use in Redis: exact for up to SAMPLE_KEYS conversations, else sampled and scaled.

    ``{"conversations": n, "bytes": estimate, "sampled": conversations measured}``.
    """
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


def lru_victims(*, limit: int = 64) -> list[tuple[int, str, int]] | None:
    """(tenant id, conversation id, bytes) of the least recently used windows, oldest first, for the budget.

    LRU entries without a window (expired, or left by a read of an absent one) are forgotten on the way.
    None when the LRU index is empty.
    """
    with guarded("lru_oldest") as client:
        batch = lru.oldest(client, limit)
        if not batch:
            return None
        sizes = _usage_of(client, [(t, cid) for t, cid, _ in batch])
        _forget_windowless(client, [(t, cid) for (t, cid, _), size in zip(batch, sizes) if not size])
    return [(t, cid, size) for (t, cid, _), size in zip(batch, sizes) if size]
