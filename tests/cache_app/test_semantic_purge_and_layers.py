"""Purges leave no keys behind; the semantic layer has its own Redis and failing or flushing it touches nothing else."""

import shutil

import numpy as np
import pytest

from cache_app import hot_window, keys, redis_client, semantic, semantic_purge
from sessions_app.services import caches
from tests.conftest import RedisProcess

pytestmark = pytest.mark.django_db


def unit(seed: int, dim: int = 32) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(dim)
    return vector / np.linalg.norm(vector)


def put(tenant_id, seed, namespace="n", **extra):
    return semantic.cache_store(tenant_id=tenant_id, namespace=namespace, response=seed, embedding=unit(seed), **extra)


def get(tenant_id, seed, namespace="n", **extra):
    return semantic.cache_lookup(tenant_id=tenant_id, namespace=namespace, embedding=unit(seed), threshold=0.99, **extra)


def tenant_keys(alias, tenant_id, prefix):
    client = redis_client.connection(alias)
    found = set()
    for pattern in (f"{prefix}:*{{t{tenant_id}:*", f"{prefix}:*{{t{tenant_id}}}*"):
        found.update(client.scan_iter(match=pattern, count=1000))
    return found


def test_purge_conversations_removes_their_entries_and_index(tenant, redis_prefix):
    put(tenant.pk, 1, conversation_id="conv-a")
    put(tenant.pk, 2, conversation_id="conv-a", context="ctx-1")
    put(tenant.pk, 3, namespace="other", conversation_id="conv-a")
    put(tenant.pk, 4, conversation_id="conv-b")
    put(tenant.pk, 5)
    assert semantic_purge.purge_conversations(tenant_id=tenant.pk, conversation_ids=["conv-a"]) == 3
    assert [get(tenant.pk, 1)["hit"], get(tenant.pk, 2, context="ctx-1")["hit"], get(tenant.pk, 3, namespace="other")["hit"]] == [False] * 3
    assert get(tenant.pk, 4)["hit"] and get(tenant.pk, 5)["hit"]
    client = redis_client.connection("semantic")
    conv_hash = keys.semantic_conversation_id(tenant.pk, "conv-a")
    assert not list(client.scan_iter(match=f"{redis_prefix}:*{conv_hash}*"))
    # nothing of the purged entries is left in any structure of their scopes
    for key in client.scan_iter(match=f"{redis_prefix}:*{{t{tenant.pk}:s*"):
        kind = client.type(key)
        if kind == b"hash" and key.endswith(b":vec") or key.endswith(b":body"):
            assert client.hlen(key) <= 2
    assert semantic_purge.purge_conversations(tenant_id=tenant.pk, conversation_ids=["conv-a"]) == 0


def test_purge_tenant_leaves_no_key_of_that_tenant(tenant, other_tenant, redis_prefix):
    from archive_app.embedders import embed_cached
    from cache_app import embedding_cache

    for seed in range(6):
        put(tenant.pk, seed, namespace=f"ns{seed % 2}", conversation_id=f"c{seed % 3}", context=None if seed < 3 else "x")
    caches.semantic_store(tenant_id=tenant.pk, namespace="t", text="server embedded", response="r")
    embedding_cache.embedding_put(tenant_id=tenant.pk, key="https://example.com/a", vector=[1.0, 0.0], model="m")
    embed_cached(tenant_id=tenant.pk, texts=["one", "two"])
    semantic.cache_lookup(tenant_id=tenant.pk, namespace="ns0", embedding=unit(0), threshold=0.9)
    put(other_tenant.pk, 1)
    assert tenant_keys("semantic", tenant.pk, redis_prefix) and tenant_keys("embeddings", tenant.pk, redis_prefix)

    assert semantic_purge.purge_tenant(tenant_id=tenant.pk) == 7
    assert tenant_keys("semantic", tenant.pk, redis_prefix) == set()
    assert tenant_keys("embeddings", tenant.pk, redis_prefix) == set()
    assert get(other_tenant.pk, 1)["hit"] is True
    assert semantic_purge.counters(tenant_id=tenant.pk)["stores"] == 0


@pytest.fixture
def semantic_redis(settings):
    """Only the "semantic" alias points at a redis-server this test owns; hot windows stay on the shared one."""
    server = RedisProcess().start()
    settings.CACHES = {**settings.CACHES, "semantic": {**settings.CACHES["semantic"], "LOCATION": server.url}}
    redis_client.reset_breaker()
    yield server
    server.stop()
    shutil.rmtree(server.dir, ignore_errors=True)


def test_flushing_the_semantic_redis_leaves_hot_windows_and_embeddings_alone(api, semantic_redis):
    from cache_app import embedding_cache

    assert api.post("/v1/sessions/chat/append", {"role": "user", "content": "Hi"}, format="json").status_code == 201
    embedding_cache.embedding_put(tenant_id=api.tenant.pk, key="k", vector=[0.5, 0.5], model="m")
    put(api.tenant.pk, 1)
    assert redis_client.connection("semantic").connection_pool.connection_kwargs["port"] == semantic_redis.port
    assert redis_client.connection("hot") is not redis_client.connection("semantic")
    assert get(api.tenant.pk, 1)["hit"] is True

    redis_client.connection("semantic").flushall()

    assert get(api.tenant.pk, 1)["hit"] is False
    window = hot_window.window_read(tenant_id=api.tenant.pk, conversation_id="chat")
    assert window is not None and window.last_seq == 1
    assert embedding_cache.embedding_get(tenant_id=api.tenant.pk, key="k") is not None


def test_semantic_redis_down_lookup_misses_store_is_503_and_sessions_still_work(api, semantic_redis):
    semantic_redis.stop()
    response = api.post("/v1/cache/lookup", {"namespace": "n", "embedding": [1.0, 0.0]}, format="json")
    assert response.status_code == 200 and response.json()["hit"] is False
    response = api.post("/v1/cache/store", {"namespace": "n", "embedding": [1.0, 0.0], "response": "r"}, format="json")
    assert response.status_code == 503 and response.json()["error"]["code"] == "cache_unavailable"
    assert api.post("/v1/sessions/chat/append", {"role": "user", "content": "Hi"}, format="json").status_code == 201
    assert semantic_purge.counters()["available"] is False
