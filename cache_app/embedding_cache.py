"""The embedding cache: tenant-scoped, binary-packed float32 vectors with a TTL, on the "embeddings" alias.

Gateways keep their own keys here ("we already embedded this URL"); the server's embedder keeps
(embedder, SHA-256 of the text) → vector in the same store under a separate key kind, so a gateway key
can never overwrite a server embedding. A per-tenant index set lets purge_tenant run without SCAN.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
from django.conf import settings

from . import keys
from .redis_client import guarded

ALIAS = "embeddings"
MAGIC = b"E1"
MAX_DIM = 8192
MAX_BATCH = 100
_HEADER = struct.Struct("<2sHB")  # magic, dimensions, model name length


@dataclass(frozen=True)
class Cached:
    model: str
    vector: np.ndarray  # float32
    expires_in_s: int | None = None

    @property
    def dimensions(self) -> int:
        return int(self.vector.shape[0])


def default_ttl() -> int:
    return int(settings.CONVOSTORE.get("EMBEDDING_CACHE_TTL_SECONDS", 24 * 3600))


def pack(vector, model: str) -> bytes:
    data = np.ascontiguousarray(vector, dtype="<f4")
    name = model.encode("utf-8")[:255]
    return _HEADER.pack(MAGIC, data.shape[0], len(name)) + name + data.tobytes()


def unpack(blob: bytes | None) -> tuple[str, np.ndarray] | None:
    """(model, float32 vector) from ``pack``'s bytes; None (a miss) when absent, short, long or without the magic."""
    if not blob or len(blob) < _HEADER.size or blob[:2] != MAGIC:
        return None
    _, dim, name_len = _HEADER.unpack_from(blob)
    start = _HEADER.size + name_len
    if dim < 1 or len(blob) != start + 4 * dim:
        return None
    vector = np.frombuffer(blob, dtype="<f4", count=dim, offset=start)
    return blob[_HEADER.size : start].decode("utf-8", "replace"), vector


def _index(pipe, tenant_id: int, key_ids: list[str], ttl_s: int) -> None:
    index = keys.embedding_index(tenant_id)
    pipe.sadd(index, *key_ids)
    pipe.expire(index, ttl_s, nx=True)
    pipe.expire(index, ttl_s, gt=True)


def embedding_put(*, tenant_id: int, key: str, vector, model: str, ttl_s: int | None = None) -> Cached:
    """Store a gateway's embedding under ``key`` (replacing any previous one). Raises RedisUnavailable."""
    ttl_s = ttl_s or default_ttl()
    key_id = keys.embedding_key_id(key)
    with guarded("embedding_put", ALIAS) as client:
        pipe = client.pipeline(transaction=False)
        pipe.set(keys.embedding(tenant_id, key_id), pack(vector, model), ex=ttl_s)
        _index(pipe, tenant_id, [key_id], ttl_s)
        pipe.execute()
    return Cached(model, np.asarray(vector, dtype=np.float32), ttl_s)


def embedding_get(*, tenant_id: int, key: str) -> Cached | None:
    with guarded("embedding_get", ALIAS) as client:
        pipe = client.pipeline(transaction=False)
        name = keys.embedding(tenant_id, keys.embedding_key_id(key))
        pipe.get(name)
        pipe.ttl(name)
        blob, ttl = pipe.execute()
    found = unpack(blob)
    if found is None:
        return None
    return Cached(found[0], found[1], ttl if ttl and ttl > 0 else None)


def embedding_delete(*, tenant_id: int, key: str) -> bool:
    key_id = keys.embedding_key_id(key)
    with guarded("embedding_delete", ALIAS) as client:
        pipe = client.pipeline(transaction=False)
        pipe.delete(keys.embedding(tenant_id, key_id))
        pipe.srem(keys.embedding_index(tenant_id), key_id)
        deleted, _ = pipe.execute()
    return bool(deleted)


def embedding_batch_get(*, tenant_id: int, keys_: list[str]) -> list[Cached | None]:
    """Up to MAX_BATCH keys in one MGET round trip, in request order (None where missing)."""
    if not keys_:
        return []
    names = [keys.embedding(tenant_id, keys.embedding_key_id(key)) for key in keys_]
    with guarded("embedding_batch_get", ALIAS) as client:
        blobs = client.mget(names)
    result = []
    for blob in blobs:
        found = unpack(blob)
        result.append(None if found is None else Cached(found[0], found[1]))
    return result


def server_vectors_get(*, tenant_id: int, embedder_id: str, texts: list[str]) -> list[np.ndarray | None]:
    """The server embedder's cached vectors for ``texts`` (one MGET); raises RedisUnavailable."""
    names = [keys.embedding(tenant_id, keys.embedding_server_id(embedder_id, text), server=True) for text in texts]
    with guarded("embedding_server_get", ALIAS) as client:
        blobs = client.mget(names)
    return [None if (found := unpack(blob)) is None else found[1] for blob in blobs]


def server_vectors_put(*, tenant_id: int, embedder_id: str, model: str, texts: list[str], vectors) -> None:
    ttl_s = default_ttl()
    key_ids = [keys.embedding_server_id(embedder_id, text) for text in texts]
    with guarded("embedding_server_put", ALIAS) as client:
        pipe = client.pipeline(transaction=False)
        for key_id, vector in zip(key_ids, vectors):
            pipe.set(keys.embedding(tenant_id, key_id, server=True), pack(vector, model), ex=ttl_s)
        _index(pipe, tenant_id, ["s:" + key_id for key_id in key_ids], ttl_s)
        pipe.execute()


def purge_tenant(*, tenant_id: int) -> int:
    """Delete every cached embedding of the tenant (gateway keys and server texts); the count removed."""
    index = keys.embedding_index(tenant_id)
    with guarded("embedding_purge", ALIAS) as client:
        members = [m.decode() for m in client.smembers(index)]
        names = [
            keys.embedding(tenant_id, m[2:], server=True) if m.startswith("s:") else keys.embedding(tenant_id, m)
            for m in members
        ]
        removed = 0
        for start in range(0, len(names), 500):
            removed += client.delete(*names[start : start + 500])
        client.delete(index)
    return removed
