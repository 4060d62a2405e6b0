"""Embedding cache over HTTP: PUT/GET/DELETE, batchGet of 100 keys, tenant scoping, packing, TTL; embed_cached."""

from urllib.parse import quote

import numpy as np
import pytest

from cache_app import embedding_cache, keys, redis_client

pytestmark = pytest.mark.django_db

URL_KEY = "https://example.com/page?id=1"
URL_PATH = "/v1/cache/embeddings/" + quote(URL_KEY, safe="")  # gateways percent-encode keys


def put(api, key, embedding, model="text-embedding-3-small", status=200, **extra):
    response = api.put("/v1/cache/embeddings/" + quote(key, safe=""), {"embedding": embedding, "model": model, **extra}, format="json")
    assert response.status_code == status, response.content
    return response.json()


def test_put_get_delete_round_trip(api):
    stored = put(api, URL_KEY, [0.1, -0.2, 0.3])
    assert stored == {"key": URL_KEY, "model": "text-embedding-3-small", "dimensions": 3, "expires_in_s": 86400}
    got = api.get(URL_PATH).json()
    assert got["embedding"] == [0.1, -0.2, 0.3] and got["model"] == "text-embedding-3-small" and got["dimensions"] == 3
    assert 86390 <= got["expires_in_s"] <= 86400
    deleted = api.delete(URL_PATH)
    assert deleted.status_code == 200 and deleted.json() == {"key": URL_KEY, "deleted": True}
    assert api.get(URL_PATH).status_code == 404
    assert api.delete(URL_PATH).status_code == 404


def test_vectors_are_binary_packed_float32_with_the_ttl(api, settings):
    put(api, "k", [0.25] * 1536, ttl_s=120)
    client = redis_client.connection("embeddings")
    name = keys.embedding(api.tenant.pk, keys.embedding_key_id("k"))
    raw = client.get(name)
    assert len(raw) < 1536 * 4 + 64  # not JSON text
    assert 0 < client.ttl(name) <= 120
    assert embedding_cache.unpack(raw)[1].dtype == np.float32


def test_another_tenant_cannot_read_or_delete(api, other_api):
    put(api, "shared-key", [1.0, 2.0])
    assert other_api.get("/v1/cache/embeddings/shared-key").status_code == 404
    assert other_api.delete("/v1/cache/embeddings/shared-key").status_code == 404
    assert api.get("/v1/cache/embeddings/shared-key").status_code == 200


def test_batch_get_of_100_keys_in_request_order(api, other_api):
    for i in range(0, 100, 2):
        put(api, f"doc/{i}", [float(i), 1.0])
    put(other_api, "doc/1", [9.0, 9.0])
    wanted = [f"doc/{i}" for i in range(100)]
    response = api.post("/v1/cache/embeddings:batchGet", {"keys": wanted}, format="json")
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert [row["key"] for row in data] == wanted
    assert all(row["found"] == (i % 2 == 0) for i, row in enumerate(data))
    assert data[10]["embedding"] == [10.0, 1.0] and data[10]["model"] == "text-embedding-3-small"
    too_many = api.post("/v1/cache/embeddings:batchGet", {"keys": [f"k{i}" for i in range(101)]}, format="json")
    assert too_many.status_code == 400 and too_many.json()["error"]["param"] == "keys"


@pytest.mark.parametrize(
    "body, param",
    [
        ({"embedding": [], "model": "m"}, "embedding"),
        ({"embedding": ["a"], "model": "m"}, "embedding"),
        ({"embedding": [1.0, 1e39], "model": "m"}, "embedding"),  # beyond float32: it would be stored as inf
        ({"embedding": [1.0]}, "model"),
        ({"embedding": [1.0], "model": "m", "ttl_s": 0}, "ttl_s"),
    ],
)
def test_bad_put_is_400_and_stores_nothing(api, body, param):
    response = api.put("/v1/cache/embeddings/k", body, format="json")
    assert response.status_code == 400 and response.json()["error"]["param"] == param
    assert api.get("/v1/cache/embeddings/k").status_code == 404


def test_embed_cached_reads_the_batch_in_one_mget_and_embeds_only_misses(tenant):
    from archive_app.embedders import HashingEmbedder, embed_cached

    class CountingEmbedder(HashingEmbedder):
        calls: list = []

        def embed(self, texts):
            self.calls.append(list(texts))
            return super().embed(texts)

    embedder = CountingEmbedder()
    first = embed_cached(tenant_id=tenant.pk, texts=["a b", "c d"], embedder=embedder)
    second = embed_cached(tenant_id=tenant.pk, texts=["c d", "e f", "a b"], embedder=embedder)
    assert embedder.calls == [["a b", "c d"], ["e f"]]
    assert np.allclose(second[0], first[1]) and np.allclose(second[2], first[0])
    assert second.dtype == np.float32 and second.shape == (3, embedder.dimensions)


def test_embed_cached_falls_back_to_embedding_when_redis_is_down(tenant, own_redis):
    from archive_app.embedders import embed_cached, get_embedder

    own_redis.stop()
    vectors = embed_cached(tenant_id=tenant.pk, texts=["hello world"])
    assert np.allclose(vectors, get_embedder().embed(["hello world"]))
