"""Conversations waiting to be embedded for recall: a Redis set the append pipeline adds to and a drainer takes from.

The append's own pipeline (hot_window.window_extend) adds the conversation, so freshness costs no extra
round trip. The set is derived state like everything in Redis: if it is lost, or Redis is down when a
turn is stored, the periodic embed sweep still finds the turn (it compares Memory rows with items).
"""

from __future__ import annotations

from . import keys
from .redis_client import guarded


def mark(pipe, tenant_id: int, conversation_id: str) -> None:
    """Queue the conversation on ``pipe`` (an append's pipeline)."""
    pipe.sadd(keys.embed_pending(), keys.lru_member(tenant_id, conversation_id))


def forget(pipe, tenant_id: int, conversation_id: str) -> None:
    """Drop the conversation from the queue on ``pipe`` (it was deleted)."""
    pipe.srem(keys.embed_pending(), keys.lru_member(tenant_id, conversation_id))


def mark_now(*, tenant_id: int, conversation_id: str) -> None:
    """Queue the conversation in its own round trip (a new summary); raises RedisUnavailable."""
    with guarded("embed_mark") as client:
        client.sadd(keys.embed_pending(), keys.lru_member(tenant_id, conversation_id))


def take(limit: int = 64) -> list[tuple[int, str]]:
    """Up to ``limit`` queued conversations (tenant id, conversation id), removed from the set; raises RedisUnavailable."""
    with guarded("embed_take") as client:
        members = client.spop(keys.embed_pending(), limit) or []
    taken = []
    for member in members:
        tenant, _, conversation_id = member.decode("utf-8").partition(":")
        taken.append((int(tenant), conversation_id))
    return taken


def pending() -> int:
    """How many conversations are queued; raises RedisUnavailable."""
    with guarded("embed_pending") as client:
        return client.scard(keys.embed_pending())
