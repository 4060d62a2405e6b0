"""The context header in Redis: what a hot context read needs besides the window (pk, latest summary, fingerprint).

Only root conversations are cached (a fork's summary may come from an ancestor). The header has a
short fixed TTL and is dropped when a summary is written or the conversation is deleted, so a
header that missed an invalidation (Redis down at that moment) cannot outlive HEADER_TTL_SECONDS.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import keys, lru
from .hot_window import Window, window_parse, window_ttl
from .redis_client import Query, RedisUnavailable, evalsha, guarded, query_run

HEADER_TTL_SECONDS = 60


@dataclass(frozen=True)
class Header:
    pk: int
    fingerprint: str
    summary_upto: int  # -1: the conversation has no summary
    summary_tokens: int
    summary_text: str


def context_read_query(*, tenant_id: int, conversation_id: str) -> Query:
    """The window_read script, the header and the LRU touch."""
    window_keys = [keys.window(tenant_id, conversation_id), keys.window_meta(tenant_id, conversation_id)]

    def queue(pipe):
        evalsha(pipe, "window_read", window_keys, [window_ttl()])
        pipe.hgetall(keys.context_header(tenant_id, conversation_id))
        lru.touch(pipe, tenant_id, conversation_id)

    return Query(f"context_read {window_keys[0]}", queue)


def read_with_window(*, tenant_id: int, conversation_id: str, prefetched: dict | None = None) -> tuple[Window | None, Header | None]:
    """The hot window and the header in one round trip (with the LRU touch), or none when ``prefetched``
    holds context_read_query's replies (read with the API key)."""
    result, header, _ = query_run(context_read_query(tenant_id=tenant_id, conversation_id=conversation_id), prefetched)
    return window_parse(result), _header(header)


def _header(fields: dict) -> Header | None:
    try:
        return Header(
            int(fields[b"pk"]), fields[b"fp"].decode(), int(fields[b"su"]), int(fields[b"st"]), fields[b"sx"].decode("utf-8")
        )
    except (KeyError, ValueError):
        return None  # absent, or only partly written


def header_store(*, tenant_id: int, conversation_id: str, header: Header) -> None:
    key = keys.context_header(tenant_id, conversation_id)
    try:
        with guarded("context_header_store") as client:
            pipe = client.pipeline(transaction=True)
            pipe.hset(key, mapping={"pk": header.pk, "fp": header.fingerprint, "su": header.summary_upto,
                                    "st": header.summary_tokens, "sx": header.summary_text})
            pipe.expire(key, HEADER_TTL_SECONDS)
            pipe.execute()
    except RedisUnavailable:
        pass


def header_forget(*, tenant_id: int, conversation_id: str) -> None:
    try:
        with guarded("context_header_forget") as client:
            client.delete(keys.context_header(tenant_id, conversation_id))
    except RedisUnavailable:
        pass
