"""The API-key cache in the hot Redis layer: a key's entry (tenant row, key id, expiry) by the SHA-256 of the key.

The entry is one JSON string under one key, so it is either whole or absent; a value that is not a
complete entry is treated as absent (Postgres answers and the entry is written again). Authentication
reads it in the same round trip as the per-key rate counter and any tenant-scoped keys a view asks for.
"""

from __future__ import annotations

import json
import logging
import time

from . import keys
from .redis_client import RedisUnavailable, guarded

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


def key_entry_read(key_hash: str, extra_keys=()) -> tuple[dict | None, list, int | None]:
    """(cached entry or None, values of ``extra_keys``, this minute's request count) in one round trip.

    The count is an INCR of the key's per-minute counter; when Redis is unavailable the answer is
    ``(None, [None…], None)`` and the caller reads Postgres.
    """
    window = int(time.time() // RATE_WINDOW_SECONDS)
    rate_key = keys.counter(f"rate.{key_hash[:16]}.{window}")
    try:
        with guarded("auth_get") as client:
            pipe = client.pipeline(transaction=False)
            for name in [keys.api_key(key_hash), *extra_keys]:
                pipe.get(name)
            pipe.incr(rate_key)
            pipe.expire(rate_key, RATE_WINDOW_SECONDS * 2)
            values = pipe.execute()
    except RedisUnavailable:
        return None, [None] * len(extra_keys), None
    return _entry(values[0]), values[1 : 1 + len(extra_keys)], values[-2]


def key_entry_store(key_hash: str, entry: dict) -> None:
    """Cache ``entry`` ({key_id, tenant: {field: value}, expires_at: epoch seconds or None}) for CACHE_SECONDS."""
    try:
        with guarded("auth_set") as client:
            client.set(keys.api_key(key_hash), json.dumps(entry), ex=CACHE_SECONDS)
    except RedisUnavailable:
        pass


def key_entry_forget(key_hash: str) -> None:
    """Drop a key's entry (revocation, tenant change). If Redis is down the entry expires within CACHE_SECONDS."""
    try:
        with guarded("auth_forget") as client:
            client.delete(keys.api_key(key_hash))
    except RedisUnavailable:
        logger.warning("could not drop cached API key; it expires within %ss", CACHE_SECONDS)
