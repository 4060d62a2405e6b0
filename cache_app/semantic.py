"""The semantic response cache: per-scope entries bucketed by random-hyperplane signatures, scored with numpy.

A scope is (tenant, namespace, optional context digest). A lookup reads TABLES×PROBES candidate buckets
of one scope in one Lua call, which votes candidates down to a handful and returns their records and the
bodies of the most-voted; numpy scores them (work is O(candidates), not O(scope)). Hit or miss, that is
one round trip: counters and the hit's LRU bump ride the process's next call (semantic_deferred).
Vectors come from the caller (a gateway's embedding, or the server's embedder run by sessions_app).
See docs/semantic-cache.md for what a hit does and does not promise.
"""

from __future__ import annotations

import json
import secrets
import time

import numpy as np
from django.conf import settings

from convostore import canonical, metrics
from convostore.errors import PayloadTooLarge, ServiceUnavailable, ValidationFailed

from . import keys, semantic_guard
from .redis_client import RedisUnavailable, evalsha, guarded
from .semantic_deferred import ALIAS, defer_count, defer_hit, defer_script, run_pipeline
from .semantic_index import (
    MEMBER_WIDTH,
    MIN_VOTES,
    TABLES,
    VOTE_BUDGET,
    VOTE_THRESHOLD,
    best_candidates,
    normalise,
    pack_record,
    probe_fields,
    record_dtype,
    unpack_records,
)

MAX_DIM = 8192
MAX_TTL_S = 30 * 24 * 3600
INLINE_BODIES = 4  # the lookup returns the bodies of this many most-voted candidates…
INLINE_BODY_BYTES = 16 * 1024  # …when no longer than this (else a hit fetches its body: one more round trip)


def default_ttl() -> int:
    return int(settings.CONVOSTORE.get("SEMANTIC_TTL_SECONDS", 24 * 3600))


def scope_cap() -> int:
    return int(settings.CONVOSTORE.get("SEMANTIC_MAX_ENTRIES_PER_SCOPE", 10_000))


def vote_budget() -> int:
    """Candidate sets up to this size are all scored; larger ones only their entries with MIN_VOTES."""
    return int(settings.CONVOSTORE.get("SEMANTIC_VOTE_BUDGET", VOTE_BUDGET))


def max_response_bytes() -> int:
    return int(settings.CONVOSTORE.get("SEMANTIC_MAX_RESPONSE_BYTES", 1024 * 1024))


def query_vector(embedding) -> np.ndarray:
    """An embedding (a list of 1..MAX_DIM finite numbers, not all zero) as an L2-normalised float32 vector.

    Raises ValidationFailed (400, param ``embedding``) for anything else.
    """
    vector = np.asarray(embedding, dtype=np.float32)
    if vector.ndim != 1 or not 1 <= vector.shape[0] <= MAX_DIM:
        raise ValidationFailed(f"'embedding' must be a list of 1 to {MAX_DIM} numbers.", param="embedding", code="invalid_value")
    if not np.isfinite(vector).all() or not np.linalg.norm(vector.astype(np.float64)) > 0:
        raise ValidationFailed("'embedding' must be finite and not all zeros.", param="embedding", code="invalid_value")
    return normalise(vector)


def _dimension_mismatch(scope_dim: int, got: int) -> ValidationFailed:
    return ValidationFailed(
        f"This scope holds {scope_dim}-dimensional vectors; the request has {got} dimensions.",
        param="embedding",
        code="dimension_mismatch",
    )


def cache_lookup(*, tenant_id: int, namespace: str, threshold: float, embedding, model: str = "", text: str | None = None,
                 context: str | None = None, require_exact_text: bool = False, guard: bool = True,
                 now: float | None = None) -> dict:
    """``{"hit": true, response, similarity, entry_id, age_s, threshold}`` or ``{"hit": false, threshold}``
    (also when Redis is down); ``threshold`` is the one this lookup used.

    ``embedding``: the query vector (normalised here); ``model``: the server embedder's cache_id when it
    embedded ``text`` ("" for a gateway's vector), so two models' vectors never share a scope. One round
    trip; counters, the hit's bump and sweeps are deferred (semantic_deferred). With ``guard`` a candidate
    whose text disagrees on numbers, units, negations, dates or names (semantic_guard) is not a hit.
    """
    if require_exact_text and text is None:
        raise ValidationFailed("'require_exact_text' needs 'text'.", param="text", code="missing_required_parameter")
    query = query_vector(embedding)
    now = time.time() if now is None else now
    scope_id = keys.semantic_scope_id(tenant_id, namespace, context, model)
    skeys = keys.semantic_scope_keys(tenant_id, scope_id)
    args = [MEMBER_WIDTH, MIN_VOTES if threshold >= VOTE_THRESHOLD else 1, vote_budget(), INLINE_BODIES, INLINE_BODY_BYTES,
            probe_fields(query)]
    try:
        with guarded("semantic_lookup", ALIAS) as client:
            (reply,) = run_pipeline(client, lambda pipe: evalsha(pipe, "semantic_lookup", skeys, args, ALIAS), force=False)
            candidates = _candidates(reply, query, skeys, threshold=threshold, now=now, text=text if require_exact_text else None)
            _observe(tenant_id, namespace, candidates)
            found = _first_hit(client, skeys, candidates, now=now, text=text, exact=require_exact_text, guard=guard)
    except RedisUnavailable:
        metrics.semantic_cache_lookups.labels(outcome="unavailable").inc()
        return {"hit": False, "threshold": threshold}
    defer_count(tenant_id, namespace, "hits" if found else "misses")
    metrics.semantic_cache_lookups.labels(outcome="hit" if found else "miss").inc()
    if found is None:
        return {"hit": False, "threshold": threshold}
    member, similarity, meta, response = found
    defer_hit(skeys, member, now)
    return {"hit": True, "response": response, "similarity": similarity, "entry_id": keys.semantic_entry_id(scope_id, member),
            "age_s": round(max(now - meta["c"], 0.0), 3), "threshold": threshold}


class _Candidates:
    """The scored candidates of one lookup reply: members, bodies returned inline, best-first order."""

    def __init__(self, members: bytes, bodies: dict, order, scores, best: float | None):
        self.members, self.bodies, self.order, self.scores, self.best = members, bodies, order, scores, best


def _candidates(reply, query, skeys: list, *, threshold: float, now: float, text: str | None) -> _Candidates | None:
    """Parse and score semantic_lookup.lua's reply; queue a sweep of the expired candidates it saw. None: empty scope."""
    dim, members, blob, _scanned, *inline = reply
    dim = int(dim)
    if dim and dim != query.shape[0]:
        raise _dimension_mismatch(dim, query.shape[0])
    if not dim or len(blob) != len(members) // MEMBER_WIDTH * record_dtype(dim).itemsize:
        return None  # an empty scope, or records of another layout: never scored (the scope ages out)
    records = unpack_records(blob, dim)
    order, scores, best = best_candidates(records, query, now=now, threshold=threshold, text=text)
    expired = np.flatnonzero(records["expires"] <= now)[:16]
    if expired.size:
        defer_script("semantic_delete", skeys, [TABLES, *(_member(members, i) for i in expired)])
    return _Candidates(members, dict(zip(inline[::2], inline[1::2])), order, scores, best)


def _first_hit(client, skeys, candidates: _Candidates | None, *, now: float, text: str | None, exact: bool, guard: bool):
    """(member, similarity, header, response) of the best candidate that passes the text checks, or None."""
    if candidates is None:
        return None
    for position in range(min(len(candidates.order), 3)):
        index = int(candidates.order[position])
        member = _member(candidates.members, index)
        body = candidates.bodies.get(index) or _fetch_body(client, skeys, member)
        if body is None:  # deleted since the lookup read it, or lost: never returned, removed
            defer_script("semantic_delete", skeys, [TABLES, member])
            continue
        header, _, response = body.decode("utf-8").partition("\n")
        meta = json.loads(header)
        if exact and meta.get("t") != text:
            continue  # a text-digest collision
        if guard and text is not None and meta.get("t") is not None and not semantic_guard.agree(text, meta["t"]):
            continue  # similar, but another number, negation, date or name
        return member, round(min(float(candidates.scores[position]), 1.0), 6), meta, json.loads(response)
    return None


_metric_namespaces: set[str] = set()


def _observe(tenant_id: int, namespace: str, candidates: _Candidates | None) -> None:
    """The best live candidate's similarity, per namespace (how close the misses are)."""
    if candidates is not None and candidates.best is not None:
        metrics.semantic_best_similarity.labels(tenant=str(tenant_id), namespace=_metric_namespace(namespace)).observe(candidates.best)


def _metric_namespace(namespace: str) -> str:
    """The namespace as a metric label: the first SEMANTIC_METRIC_NAMESPACES seen by this process, then "other"
    (namespaces are client strings; Prometheus must not get one series per string)."""
    if namespace in _metric_namespaces:
        return namespace
    if len(_metric_namespaces) < int(settings.CONVOSTORE.get("SEMANTIC_METRIC_NAMESPACES", 100)):
        _metric_namespaces.add(namespace)
        return namespace
    return "other"


def _member(members: bytes, index: int) -> str:
    return members[index * MEMBER_WIDTH : (index + 1) * MEMBER_WIDTH].decode()


def _fetch_body(client, skeys, member: str) -> bytes | None:
    """A body the lookup did not return (too long, or not among the most-voted candidates)."""
    (body,) = run_pipeline(client, lambda pipe: pipe.hget(skeys[3], member), force=False)
    return body


def cache_store(
    *,
    tenant_id: int,
    namespace: str,
    response,
    embedding,
    model: str = "",
    text: str | None = None,
    ttl_s: int | None = None,
    context: str | None = None,
    conversation_id: str | None = None,
    now: float | None = None,
) -> dict:
    """Store one entry in its scope (evicting the least recently used over the cap); the 201 body.

    ``embedding`` and ``model`` as for cache_lookup; ``text`` is kept for require_exact_text and the guard.
    """
    # long: entry id allocation retries and the deferred counters belong to the same round trip
    body_json = canonical.dumps(response)
    if len(body_json.encode("utf-8")) > max_response_bytes():
        raise PayloadTooLarge(f"'response' is larger than {max_response_bytes()} bytes.", param="response")
    vector = query_vector(embedding)
    ttl_s = int(ttl_s or default_ttl())
    now = time.time() if now is None else now
    expires_at = now + ttl_s
    record = pack_record(vector, expires_at=expires_at, text=text)
    header = json.dumps({"c": round(now, 3), "t": text, "v": conversation_id}, separators=(",", ":"))
    scope_id = keys.semantic_scope_id(tenant_id, namespace, context, model)
    skeys = keys.semantic_scope_keys(tenant_id, scope_id)
    args = [vector.shape[0], now, ttl_s * 1000, scope_cap(), TABLES, record, header + "\n" + body_json, expires_at]
    conv_key = keys.semantic_conversation_entries(tenant_id, keys.semantic_conversation_id(tenant_id, conversation_id)) if conversation_id else None
    try:
        with guarded("semantic_store", ALIAS) as client:
            for _attempt in range(4):
                member = secrets.token_hex(MEMBER_WIDTH // 2)

                def build(pipe, member=member):
                    evalsha(pipe, "semantic_store", skeys, [*args, member], ALIAS)
                    _index(pipe, tenant_id, namespace, scope_id, ttl_s, conv_key, conversation_id, member)

                result = run_pipeline(client, build)[0]
                if result[0] not in (-1, -2):
                    break
                if conv_key:  # nothing was stored: take back the index entry
                    client.srem(conv_key, scope_id + member)
                if result[0] == -1:
                    raise _dimension_mismatch(int(result[1]), vector.shape[0])
            else:
                raise ServiceUnavailable("Could not allocate an entry id; retry.", code="cache_unavailable")
            evicted = int(result[1])
            defer_count(tenant_id, namespace, "stores")
            defer_count(tenant_id, namespace, "evictions", evicted)
    except RedisUnavailable as exc:
        raise ServiceUnavailable("The semantic cache is unavailable; nothing was stored.", code="cache_unavailable") from exc
    return {
        "entry_id": keys.semantic_entry_id(scope_id, member),
        "namespace": namespace,
        "expires_in_s": ttl_s,
        "dimensions": int(vector.shape[0]),
        "evicted": evicted,
    }


def _index(pipe, tenant_id, namespace, scope_id, ttl_s, conv_key, conversation_id, member) -> None:
    """Per-tenant indexes (scopes, namespaces, conversations) so deletes and purges never SCAN."""
    namespace_id = keys.semantic_namespace_id(tenant_id, namespace)
    additions = [
        (keys.semantic_tenant_scopes(tenant_id), scope_id),
        (keys.semantic_tenant_namespaces(tenant_id), namespace_id),
        (keys.semantic_namespace_scopes(tenant_id, namespace_id), scope_id),
    ]
    if conv_key:
        additions.append((conv_key, scope_id + member))
        additions.append((keys.semantic_tenant_conversations(tenant_id), keys.semantic_conversation_id(tenant_id, conversation_id)))
    for key, value in additions:
        pipe.sadd(key, value)
        pipe.expire(key, ttl_s, nx=True)
        pipe.expire(key, ttl_s, gt=True)
