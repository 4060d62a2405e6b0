"""The API-key cache in the hot Redis layer: a key's entry (tenant row, key id, expiry) by the SHA-256 of the key.

The entry is one JSON string under one key, so it is either whole or absent; a value that is not a
complete entry is treated as absent (Postgres answers and the entry is written again). Authentication
reads it in the same round trip as the per-key rate counter and any tenant-scoped keys a view asks for;
only a key with an entry is counted, so an unknown key's request writes nothing.
"""

from __future__ import annotations

import json
import logging
import time

from . import keys
from .redis_client import RedisUnavailable, evalsha, guarded, pipeline_run, queries_run

logger = logging.getLogger(__name__)

CACHE_SECONDS = 60
RATE_WINDOW_SECONDS = 60
ENTRY_FIELDS = ("key_id", "tenant", "expires_at")


def _entry(value) -> dict | None:
    try:
        entry = json.loads(value) if value else None
    except ValueError:
        return None
    if not isinstance(entry, dict) or any(name not in entry for name in ENTRY_FIELDS) or not isinstance(entry["tenant"], dict):
        return None
    if not isinstance(entry["key_id"], int) or not isinstance(entry["tenant"].get("id"), int):
        return None
    return entry


def key_entry_read(key_hash: str, queries=()) -> tuple[dict | None, list, int | None]:
    """(cached entry or None, replies of each of ``queries`` (redis_client.Query), this minute's request count
    or None) in one round trip.

    The count moves only when the entry exists (cache_app/lua/auth_count.lua): a key that is unknown,
    revoked or expired writes nothing to Redis. Without an entry the count is None; the caller reads
    Postgres and, for a valid key, counts the request with ``key_entry_store(…, count=True)``. When Redis
    is unavailable the answer is ``(None, [], None)``: no query was answered. A query whose command failed
    (a damaged key) answers None and leaves the key's own reply standing: its reader reads it again.
    """
    window = int(time.time() // RATE_WINDOW_SECONDS)

    def count(pipe):
        evalsha(pipe, "auth_count", [keys.api_key(key_hash), keys.api_key_rate(key_hash, window)], [RATE_WINDOW_SECONDS * 2])

    try:
        with guarded("auth_get") as client:
            (counted,), replies = queries_run(client, queries, before=count, optional=True)
    except RedisUnavailable:
        return None, [], None
    entry, count = counted or (None, None)
    return _entry(entry), replies, count


def key_entry_store(key_hash: str, entry: dict, *, count: bool = False) -> int | None:
    """Cache ``entry`` ({key_id, tenant: {field: value}, expires_at: epoch seconds or None}) for CACHE_SECONDS,
    or until the key expires if that is sooner; with ``count``, also count one request this minute and
    return the count (None when Redis is unavailable). Only for a key Postgres has just found valid.
    """
    window = int(time.time() // RATE_WINDOW_SECONDS)
    ttl_ms = CACHE_SECONDS * 1000
    if entry.get("expires_at") is not None:
        ttl_ms = min(ttl_ms, int((entry["expires_at"] - time.time()) * 1000))

    def build(pipe):
        if ttl_ms > 0:
            pipe.set(keys.api_key(key_hash), json.dumps(entry), px=ttl_ms)
        if count:
            rate_key = keys.api_key_rate(key_hash, window)
            pipe.incr(rate_key)
            pipe.expire(rate_key, RATE_WINDOW_SECONDS * 2)

    try:
        with guarded("auth_set") as client:
            values = pipeline_run(client, build)
    except RedisUnavailable:
        return None
    return values[-2] if count else None


def key_entry_forget(key_hash: str) -> None:
    """Drop a key's entry (revocation, tenant change). If Redis is down the entry expires within CACHE_SECONDS."""
    try:
        with guarded("auth_forget") as client:
            client.delete(keys.api_key(key_hash))
    except RedisUnavailable:
        logger.warning("could not drop cached API key; it expires within %ss", CACHE_SECONDS)
