"""Semantic cache deletes and purges (entry, namespace, conversations, tenant) and its counters.

Deletes and purges are driven by per-tenant indexes (no SCAN) and always send this process's deferred
writes first (semantic_deferred), so a purge never leaves a queued hit bump to recreate what it removed.
"""

from __future__ import annotations

import time
from collections import defaultdict

from convostore.errors import NotFound, ServiceUnavailable

from . import embedding_cache, keys
from .cluster import queue_delete
from .redis_client import RedisUnavailable, evalsha, guarded, pipeline_run
from .semantic_deferred import ALIAS, run_pipeline
from .semantic_index import TABLES

EVENTS = ("hits", "misses", "stores", "evictions")
_CHUNK = 1000


def _not_found(entry: str) -> NotFound:
    return NotFound(f"No semantic cache entry '{entry}'.", param="entry_id")


def entry_delete(*, tenant_id: int, entry_id: str) -> dict:
    """Delete one entry; another tenant's id or an unknown one is NotFound."""
    parsed = keys.semantic_entry_parse(entry_id)
    if parsed is None:
        raise _not_found(entry_id)
    scope_id, member = parsed
    try:
        with guarded("semantic_entry_delete", ALIAS) as client:
            skeys = keys.semantic_scope_keys(tenant_id, scope_id)
            (removed,) = run_pipeline(client, lambda pipe: evalsha(pipe, "semantic_delete", skeys, [TABLES, member], ALIAS))
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
                queue_delete(pipe, keys.semantic_scope_keys(tenant_id, scope_id), unlink=True)
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
        chunks = [
            (scope_id, members[start : start + _CHUNK])
            for scope_id, members in by_scope.items()
            for start in range(0, len(members), _CHUNK)
        ]

        def build(pipe):
            for scope_id, chunk in chunks:
                evalsha(pipe, "semantic_delete", keys.semantic_scope_keys(tenant_id, scope_id), [TABLES, *chunk], ALIAS)
            queue_delete(pipe, index_keys, unlink=True)  # one slot per tenant: {t<tenant>}
            pipe.srem(keys.semantic_tenant_conversations(tenant_id), *hashes)

        results = pipeline_run(client, build)
        calls = len(chunks)
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
            queue_delete(pipe, keys.semantic_scope_keys(tenant_id, scope_id), unlink=True)
        doomed = [keys.semantic_conversation_entries(tenant_id, h) for h in conversations]
        doomed += [keys.semantic_namespace_scopes(tenant_id, n) for n in namespaces]
        doomed += index_keys + [keys.semantic_counters(tenant_id)]
        for start in range(0, len(doomed), _CHUNK):
            queue_delete(pipe, doomed[start : start + _CHUNK], unlink=True)
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
