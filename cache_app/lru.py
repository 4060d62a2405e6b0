"""The LRU index: sorted sets of conversations by last access, sharded so no single key is hot."""

from __future__ import annotations

import time
import zlib

from django.conf import settings

from . import keys
from .redis_client import RedisUnavailable, guarded


def bucket_count() -> int:
    return settings.CONVOSTORE["LRU_BUCKETS"]


def bucket_of(tenant_id: int, conversation_id: str) -> int:
    return zlib.crc32(keys.lru_member(tenant_id, conversation_id).encode("utf-8", "surrogatepass")) % bucket_count()


def touch(pipe, tenant_id: int, conversation_id: str, at: float | None = None) -> None:
    """Record an access in the conversation's bucket (queued on ``pipe``)."""
    member = keys.lru_member(tenant_id, conversation_id)
    pipe.zadd(keys.lru_bucket(bucket_of(tenant_id, conversation_id)), {member: time.time() if at is None else at})


def forget(pipe, tenant_id: int, conversation_id: str) -> None:
    pipe.zrem(keys.lru_bucket(bucket_of(tenant_id, conversation_id)), keys.lru_member(tenant_id, conversation_id))


def oldest(client, limit: int, before: float | None = None) -> list[tuple[int, str, float]]:
    """The least recently used conversations across all buckets: (tenant id, conversation id, last access)."""
    pipe = client.pipeline(transaction=False)
    upper = "+inf" if before is None else before
    for index in range(bucket_count()):
        pipe.zrangebyscore(keys.lru_bucket(index), "-inf", upper, start=0, num=limit, withscores=True)
    merged = []
    for rows in pipe.execute():
        for member, score in rows:
            tenant, _, conversation_id = member.decode("utf-8").partition(":")
            merged.append((int(tenant), conversation_id, score))
    merged.sort(key=lambda row: row[2])
    return merged[:limit]


def forget_now(tenant_id: int, conversation_id: str) -> None:
    """Drop the conversation's member in one round trip: a read made before Postgres was asked (a prefetch,
    sessions_app.auth) touched it, and Postgres then found no such conversation or response. Nothing happens
    when Redis is unavailable (a member without a window is dropped by the eviction sweep anyway)."""
    try:
        with guarded("lru_forget") as client:
            forget(client, tenant_id, conversation_id)
    except RedisUnavailable:
        pass
