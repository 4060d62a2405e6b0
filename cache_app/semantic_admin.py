"""Semantic cache deletion, purges (conversation, tenant), counters, and the deferred writes of lookups.

Deletes and purges are driven by per-tenant indexes (no SCAN). A lookup answers after ONE round trip:
what it has to write afterwards (hit/miss/store counters, a hit's LRU + hit-count bump, sweeping expired
entries it saw) is queued in this process, coalesced, and sent in the pipeline of a later call
(``run_pipeline``): a store, ``counters``, deletes and purges always send it first; a lookup sends it
when the oldest queued write is older than FLUSH_AFTER_S.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict

from redis.exceptions import NoScriptError

from convostore.errors import NotFound, ServiceUnavailable

from . import embedding_cache, keys
from .redis_client import RedisUnavailable, guarded, script
from .semantic_index import TABLES

ALIAS = "semantic"
EVENTS = ("hits", "misses", "stores", "evictions")
SCRIPTS = ("semantic_lookup", "semantic_store", "semantic_delete", "semantic_hit")
_CHUNK = 1000
_MAX_DEFERRED_SCRIPTS = 1000  # sweeps queued at most; hits are coalesced per entry
FLUSH_AFTER_S = 0.1

_lock = threading.Lock()
_deferred_counts: dict[tuple[str, str], int] = defaultdict(int)
_deferred_hits: dict[tuple, list] = {}  # (body, lru, hits keys, member) -> [latest now, count]
_deferred_scripts: list[tuple[str, list, list]] = []
_oldest = {"at": None}


def _mark() -> None:
    if _oldest["at"] is None:
        _oldest["at"] = time.monotonic()


def defer_count(tenant_id: int, namespace: str | None, event: str, amount: int = 1) -> None:
    """Queue counter increments (global total, tenant total, tenant × namespace) for the next pipeline."""
    if not amount:
        return
    with _lock:
        _deferred_counts[(keys.semantic_counters(), event)] += amount
        _deferred_counts[(keys.semantic_counters(tenant_id), event)] += amount
        if namespace is not None:
            _deferred_counts[(keys.semantic_counters(tenant_id), f"{event}|{namespace}")] += amount
        _mark()


def defer_hit(scope_keys_: list, member: str, now: float) -> None:
    """Queue a hit's LRU bump and hit count (semantic_hit.lua); repeated hits on an entry coalesce."""
    with _lock:
        slot = _deferred_hits.setdefault((scope_keys_[3], scope_keys_[4], scope_keys_[6], member), [now, 0])
        slot[0], slot[1] = max(slot[0], now), slot[1] + 1
        _mark()


def defer_script(name: str, keys_: list, args: list) -> None:
    """Queue a Lua script call (hit bump, expired sweep) for the next pipeline; dropped beyond a bound."""
    with _lock:
        if len(_deferred_scripts) < _MAX_DEFERRED_SCRIPTS:
            _deferred_scripts.append((name, keys_, args))
            _mark()


def _take_deferred(force: bool):
    global _deferred_counts, _deferred_hits, _deferred_scripts
    at = _oldest["at"]
    if at is None or not force and time.monotonic() - at < FLUSH_AFTER_S:
        return {}, {}, []
    with _lock:
        taken = _deferred_counts, _deferred_hits, _deferred_scripts
        _deferred_counts, _deferred_hits, _deferred_scripts = defaultdict(int), {}, []
        _oldest["at"] = None
    return taken


def run_pipeline(client, build, *, force: bool = True) -> list:
    """One round trip: the deferred writes (all, or with ``force=False`` only once they are
    FLUSH_AFTER_S old), then the commands ``build(pipe)`` queues; returns the latter's results.

    Scripts go as plain EVALSHA; any that Redis lost (restart, SCRIPT FLUSH) are loaded and only the
    failed commands re-sent. If the pipeline fails the deferred writes are lost (counters are best effort).
    """
    counts, hits, scripts = _take_deferred(force)
    pipe = client.pipeline(transaction=False)
    hit_sha = script("semantic_hit", ALIAS).sha
    for (body_key, lru_key, hits_key, member), (now, times) in hits.items():
        pipe.evalsha(hit_sha, 3, body_key, lru_key, hits_key, member, now, times)
    for name, keys_, args in scripts:
        pipe.evalsha(script(name, ALIAS).sha, len(keys_), *keys_, *args)
    for (key, field), amount in counts.items():
        pipe.hincrby(key, field, amount)
    skip = len(hits) + len(scripts) + len(counts)
    build(pipe)
    stack = list(pipe.command_stack)
    results = pipe.execute(raise_on_error=False)
    lost = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
    if lost:
        for name in SCRIPTS:
            client.script_load(script(name, ALIAS).script)
        retry = client.pipeline(transaction=False)
        for i in lost:
            retry.execute_command(*stack[i][0], **stack[i][1])
        for i, result in zip(lost, retry.execute(raise_on_error=False)):
            results[i] = result
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results[skip:]


def flush_deferred() -> None:
    """Send this process's deferred writes now (counters, deletes and purges call it first)."""
    with guarded("semantic_flush", ALIAS) as client:
        run_pipeline(client, lambda pipe: None)


def _scope_keys(tenant_id: int, scope_id: str) -> list[str]:
    from .semantic import scope_keys

    return scope_keys(tenant_id, scope_id)


def _not_found(entry: str) -> NotFound:
    return NotFound(f"No semantic cache entry '{entry}'.", param="entry_id")


def entry_delete(*, tenant_id: int, entry_id: str) -> dict:
    """Delete one entry; another tenant's id or an unknown one is NotFound."""
    from .semantic import parse_entry_id

    parsed = parse_entry_id(entry_id)
    if parsed is None:
        raise _not_found(entry_id)
    scope_id, member = parsed
    try:
        with guarded("semantic_entry_delete", ALIAS) as client:
            skeys = _scope_keys(tenant_id, scope_id)
            (removed,) = run_pipeline(client, lambda pipe: pipe.evalsha(script("semantic_delete", ALIAS).sha, len(skeys), *skeys, TABLES, member))
    except RedisUnavailable as exc:
        raise ServiceUnavailable("The semantic cache is unavailable.", code="cache_unavailable") from exc
    if not removed:
        raise _not_found(entry_id)
    return {"id": entry_id, "deleted": True}


def namespace_delete(*, tenant_id: int, namespace: str) -> int:
    """Delete every scope of a namespace (all contexts); the number of live entries removed."""
    namespace_id = keys.semantic_namespace_id(tenant_id, namespace)
    index = keys.semantic_namespace_scopes(tenant_id, namespace_id)
    now = time.time()
    try:
        with guarded("semantic_namespace_delete", ALIAS) as client:
            run_pipeline(client, lambda pipe: None)
            scope_ids = [s.decode() for s in client.smembers(index)]
            pipe = client.pipeline(transaction=False)
            for scope_id in scope_ids:
                pipe.zcount(keys.semantic_scope(tenant_id, scope_id, "exp"), f"({now}", "+inf")
            for scope_id in scope_ids:
                pipe.unlink(*_scope_keys(tenant_id, scope_id))
            if scope_ids:
                pipe.srem(keys.semantic_tenant_scopes(tenant_id), *scope_ids)
            pipe.unlink(index)
            pipe.srem(keys.semantic_tenant_namespaces(tenant_id), namespace_id)
            results = pipe.execute()
    except RedisUnavailable as exc:
        raise ServiceUnavailable("The semantic cache is unavailable.", code="cache_unavailable") from exc
    return sum(results[: len(scope_ids)])


def purge_conversations(*, tenant_id: int, conversation_ids) -> int:
    """Delete the entries stored with these conversations; the number removed. Raises RedisUnavailable."""
    hashes = [keys.semantic_conversation_id(tenant_id, c) for c in conversation_ids]
    if not hashes:
        return 0
    index_keys = [keys.semantic_conversation_entries(tenant_id, h) for h in hashes]
    with guarded("semantic_purge_conversations", ALIAS) as client:
        run_pipeline(client, lambda pipe: None)
        pipe = client.pipeline(transaction=False)
        for key in index_keys:
            pipe.smembers(key)
        by_scope: dict[str, list[str]] = defaultdict(list)
        for members in pipe.execute():
            for raw in members:
                value = raw.decode()
                by_scope[value[:16]].append(value[16:])
        pipe = client.pipeline(transaction=False)
        calls = 0
        for scope_id, members in by_scope.items():
            for start in range(0, len(members), _CHUNK):
                script("semantic_delete", ALIAS)(
                    keys=_scope_keys(tenant_id, scope_id), args=[TABLES, *members[start : start + _CHUNK]], client=pipe
                )
                calls += 1
        pipe.unlink(*index_keys)
        pipe.srem(keys.semantic_tenant_conversations(tenant_id), *hashes)
        results = pipe.execute()
    return sum(results[:calls])


def purge_tenant(*, tenant_id: int) -> int:
    """Delete every semantic-cache key of a tenant (and its embedding cache); the number of entries removed.

    Raises RedisUnavailable when the semantic layer is down.
    """
    index_keys = [keys.semantic_tenant_scopes(tenant_id), keys.semantic_tenant_conversations(tenant_id), keys.semantic_tenant_namespaces(tenant_id)]
    with guarded("semantic_purge_tenant", ALIAS) as client:
        run_pipeline(client, lambda pipe: None)
        pipe = client.pipeline(transaction=False)
        for key in index_keys:
            pipe.smembers(key)
        scopes, conversations, namespaces = ([m.decode() for m in members] for members in pipe.execute())
        pipe = client.pipeline(transaction=False)
        for scope_id in scopes:
            pipe.hlen(keys.semantic_scope(tenant_id, scope_id, "vec"))
        for scope_id in scopes:
            pipe.unlink(*_scope_keys(tenant_id, scope_id))
        doomed = [keys.semantic_conversation_entries(tenant_id, h) for h in conversations]
        doomed += [keys.semantic_namespace_scopes(tenant_id, n) for n in namespaces]
        doomed += index_keys + [keys.semantic_counters(tenant_id)]
        for start in range(0, len(doomed), _CHUNK):
            pipe.unlink(*doomed[start : start + _CHUNK])
        results = pipe.execute()
    try:
        embedding_cache.purge_tenant(tenant_id=tenant_id)
    except RedisUnavailable:
        pass  # its own layer; entries there expire within the embedding TTL
    return sum(results[: len(scopes)])


def counters(*, tenant_id: int | None = None) -> dict:
    """hits/misses/stores/evictions totals (all tenants, or one tenant with per-namespace rows).

    Never raises: when Redis is down the totals are zero and ``available`` is False.
    """
    body = {event: 0 for event in EVENTS}
    namespaces: dict[str, dict[str, int]] = {}
    try:
        with guarded("semantic_counters", ALIAS) as client:
            (raw,) = run_pipeline(client, lambda pipe: pipe.hgetall(keys.semantic_counters(tenant_id)))
        body["available"] = True
    except RedisUnavailable:
        raw = {}
        body["available"] = False
    for field, value in raw.items():
        event, sep, namespace = field.decode("utf-8").partition("|")
        if event not in body:
            continue
        if sep:
            namespaces.setdefault(namespace, {e: 0 for e in EVENTS})[event] = int(value)
        else:
            body[event] = int(value)
    if tenant_id is not None:
        body["namespaces"] = namespaces
    return body
