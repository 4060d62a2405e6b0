"""Semantic cache over HTTP: shapes, scoping, isolation, thresholds, exact text, TTL, eviction, deletes."""

import time

import numpy as np
import pytest

from cache_app import semantic, semantic_purge

pytestmark = pytest.mark.django_db

DIM = 64


def unit(seed: int, dim: int = DIM) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(dim)
    return vector / np.linalg.norm(vector)


def near(vector: np.ndarray, cos: float, seed: int = 99) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(vector.shape[0])
    noise -= noise.dot(vector) * vector
    noise /= np.linalg.norm(noise)
    return cos * vector + np.sqrt(1 - cos**2) * noise


def store(api, namespace="gpt-4o:sys1", vector=None, status=201, **extra):
    body = {"namespace": namespace, "response": {"answer": "42"}, **extra}
    if vector is not None:
        body["embedding"] = [float(x) for x in vector]
    response = api.post("/v1/cache/store", body, format="json")
    assert response.status_code == status, response.content
    return response.json()


def lookup(api, namespace="gpt-4o:sys1", vector=None, status=200, **extra):
    body = {"namespace": namespace, **extra}
    if vector is not None:
        body["embedding"] = [float(x) for x in vector]
    response = api.post("/v1/cache/lookup", body, format="json")
    assert response.status_code == status, response.content
    return response.json()


def test_store_then_near_duplicate_lookup_hits_with_the_documented_shape(api):
    stored = store(api, vector=unit(1), response={"choices": [{"text": "Paris"}]})
    assert stored["entry_id"].startswith("sce_") and stored["namespace"] == "gpt-4o:sys1"
    assert stored["expires_in_s"] == 86400
    hit = lookup(api, vector=near(unit(1), 0.97))
    assert hit["hit"] is True
    assert hit["response"] == {"choices": [{"text": "Paris"}]}
    assert hit["entry_id"] == stored["entry_id"]
    assert 0.96 < hit["similarity"] <= 1.0 and hit["age_s"] >= 0


def test_below_threshold_is_a_miss_and_threshold_is_per_request_or_tenant(api):
    store(api, vector=unit(1))
    assert lookup(api, vector=near(unit(1), 0.85))["hit"] is False  # tenant default 0.92
    assert lookup(api, vector=near(unit(1), 0.85), threshold=0.8)["hit"] is True
    assert lookup(api, vector=near(unit(1), 0.95), threshold=0.99)["hit"] is False


def test_tenant_threshold_is_the_default(other_tenant):
    from tests.conftest import make_client

    other_tenant.semantic_threshold = 0.99
    other_tenant.save()
    client = make_client(other_tenant)
    store(client, vector=unit(1))
    assert lookup(client, vector=near(unit(1), 0.95))["hit"] is False
    assert lookup(client, vector=near(unit(1), 0.995))["hit"] is True


def test_text_is_embedded_by_the_server_when_no_embedding_is_sent(api):
    store(api, text="What is the capital of France?", response="Paris")
    hit = lookup(api, text="What is the capital of France?")
    assert hit["hit"] is True and hit["response"] == "Paris" and hit["similarity"] == pytest.approx(1.0, abs=1e-3)
    assert lookup(api, text="How do I bake sourdough bread at home?")["hit"] is False


def test_context_separates_the_same_question_in_different_conversation_states(api):
    store(api, vector=unit(1), context="turns-abc", response="in abc")
    assert lookup(api, vector=unit(1), context="turns-abc")["response"] == "in abc"
    assert lookup(api, vector=unit(1), context="turns-xyz")["hit"] is False
    assert lookup(api, vector=unit(1))["hit"] is False


def test_tenants_never_see_each_other_whatever_the_namespace(api, other_api):
    for namespace in ["shared", "a}:b*", "{t1:x}", "x}:{t2:s0}", "*", "ns:with:colons"]:
        store(api, namespace=namespace, vector=unit(5), response=f"mine {namespace}")
        assert lookup(other_api, namespace=namespace, vector=unit(5))["hit"] is False
        assert lookup(api, namespace=namespace, vector=unit(5))["response"] == f"mine {namespace}"


def test_hostile_namespaces_do_not_collide_with_each_other(api):
    store(api, namespace="a}:b*", vector=unit(7), response="one")
    assert lookup(api, namespace="a}:b", vector=unit(7))["hit"] is False
    assert lookup(api, namespace="a}:b*x", vector=unit(7))["hit"] is False


def test_another_tenants_entry_id_is_404_and_delete_entry_shape(api, other_api):
    stored = store(api, vector=unit(2))
    foreign = other_api.delete(f"/v1/cache/entries/{stored['entry_id']}")
    assert foreign.status_code == 404 and foreign.json()["error"]["code"] == "not_found"
    assert lookup(api, vector=unit(2))["hit"] is True
    deleted = api.delete(f"/v1/cache/entries/{stored['entry_id']}")
    assert deleted.status_code == 200 and deleted.json() == {"id": stored["entry_id"], "deleted": True}
    assert lookup(api, vector=unit(2))["hit"] is False
    assert api.delete(f"/v1/cache/entries/{stored['entry_id']}").status_code == 404
    assert api.delete("/v1/cache/entries/not-an-id").status_code == 404


def test_delete_namespace_removes_every_context_and_counts(api, other_api):
    store(api, namespace="m1", vector=unit(1))
    store(api, namespace="m1", vector=unit(2), context="c1")
    store(api, namespace="m2", vector=unit(1))
    store(other_api, namespace="m1", vector=unit(1))
    response = api.delete("/v1/cache/namespaces/m1")
    assert response.status_code == 200 and response.json() == {"namespace": "m1", "deleted": 2}
    assert lookup(api, namespace="m1", vector=unit(1))["hit"] is False
    assert lookup(api, namespace="m1", vector=unit(2), context="c1")["hit"] is False
    assert lookup(api, namespace="m2", vector=unit(1))["hit"] is True
    assert lookup(other_api, namespace="m1", vector=unit(1))["hit"] is True


def test_dimension_mismatch_is_a_clear_400_and_stores_nothing(api):
    store(api, vector=unit(1, 64))
    error = lookup(api, vector=unit(1, 32), status=400)["error"]
    assert error["code"] == "dimension_mismatch" and error["param"] == "embedding" and "64" in error["message"]
    error = store(api, vector=unit(3, 32), status=400)["error"]
    assert error["code"] == "dimension_mismatch"
    assert semantic_purge.counters(tenant_id=api.tenant.pk)["stores"] == 1
    # text embedded by the server lives in its model's own scope: never compared with the gateway's vectors
    assert lookup(api, text="hello")["hit"] is False


@pytest.mark.parametrize(
    "body, param",
    [
        ({"namespace": "n"}, "text"),
        ({"namespace": "n", "embedding": [1, "x"]}, "embedding"),
        ({"namespace": "n", "embedding": []}, "embedding"),
        ({"namespace": "n", "embedding": [0.0, 0.0]}, "embedding"),
        ({"namespace": "n", "embedding": [True, 1.0]}, "embedding"),
        ({"namespace": "n", "text": "q", "threshold": 1.5}, "threshold"),
        ({"namespace": "n", "embedding": [1.0], "require_exact_text": True}, "text"),
        ({"text": "q"}, "namespace"),
    ],
)
def test_bad_lookup_input_is_400(api, body, param):
    response = api.post("/v1/cache/lookup", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == param


@pytest.mark.parametrize(
    "body, param",
    [
        ({"namespace": "n", "embedding": [1.0]}, "response"),
        ({"namespace": "n", "embedding": [1.0], "response": None}, "response"),
        ({"namespace": "n", "embedding": [1.0], "response": "r", "ttl_s": 0}, "ttl_s"),
        ({"namespace": "n", "embedding": [1.0], "response": "r", "ttl_s": 31 * 86400}, "ttl_s"),
        ({"namespace": "n", "response": "r"}, "text"),
    ],
)
def test_bad_store_input_is_400_and_changes_nothing(api, body, param):
    response = api.post("/v1/cache/store", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == param
    assert semantic_purge.counters(tenant_id=api.tenant.pk)["stores"] == 0


def test_require_exact_text_only_hits_on_identical_text(api):
    vector = unit(4)
    store(api, vector=vector, text="Is a refund allowed?", response="yes")
    assert lookup(api, vector=vector, text="Is a refund allowed?", require_exact_text=True)["response"] == "yes"
    assert lookup(api, vector=vector, text="Is a refund NOT allowed?", require_exact_text=True)["hit"] is False
    assert lookup(api, vector=vector, text="Is a refund NOT allowed?")["hit"] is False  # the guard: a negation
    assert lookup(api, vector=vector, text="Is a refund NOT allowed?", guard=False)["hit"] is True  # similarity alone
    store(api, vector=unit(8), response="no text")
    assert lookup(api, vector=unit(8), text="anything", require_exact_text=True)["hit"] is False


def test_ttl_expiry_turns_a_hit_into_a_miss(api):
    store(api, vector=unit(6), ttl_s=1)
    assert lookup(api, vector=unit(6))["hit"] is True
    deadline = time.monotonic() + 10
    while lookup(api, vector=unit(6))["hit"]:
        assert time.monotonic() < deadline, "entry did not expire"
        time.sleep(0.1)


def test_expired_entries_are_invisible_at_an_injected_clock(tenant):
    stored = semantic.cache_store(tenant_id=tenant.pk, namespace="n", response="r", embedding=unit(1), ttl_s=60, now=1000.0)
    assert semantic.cache_lookup(tenant_id=tenant.pk, namespace="n", embedding=unit(1), threshold=0.9, now=1059.0)["hit"]
    assert semantic.cache_lookup(tenant_id=tenant.pk, namespace="n", embedding=unit(1), threshold=0.9, now=1061.0)["hit"] is False
    assert stored["expires_in_s"] == 60


def test_cap_evicts_the_least_recently_used_entry(api, settings):
    settings.CONVOSTORE = {**settings.CONVOSTORE, "SEMANTIC_MAX_ENTRIES_PER_SCOPE": 3}
    for seed in (1, 2, 3):
        store(api, vector=unit(seed), response=seed)
    assert lookup(api, vector=unit(1))["response"] == 1  # 1 is now more recent than 2
    assert store(api, vector=unit(4), response=4)["evicted"] == 1
    assert lookup(api, vector=unit(2))["hit"] is False
    assert [lookup(api, vector=unit(s))["response"] for s in (1, 3, 4)] == [1, 3, 4]
    assert semantic_purge.counters(tenant_id=api.tenant.pk)["evictions"] == 1


def test_counters_per_tenant_and_namespace(api, other_api):
    store(api, namespace="a", vector=unit(1))
    lookup(api, namespace="a", vector=unit(1))
    lookup(api, namespace="a", vector=unit(9))
    lookup(api, namespace="b", vector=unit(1))
    store(other_api, namespace="a", vector=unit(1))
    mine = semantic_purge.counters(tenant_id=api.tenant.pk)
    assert (mine["hits"], mine["misses"], mine["stores"], mine["evictions"]) == (1, 2, 1, 0)
    assert mine["namespaces"]["a"] == {"hits": 1, "misses": 1, "stores": 1, "evictions": 0}
    assert mine["namespaces"]["b"]["misses"] == 1
    overall = semantic_purge.counters()
    assert overall["stores"] == 2 and "namespaces" not in overall


def test_many_entries_in_one_scope_still_find_their_near_duplicates(tenant):
    vectors = np.random.default_rng(3).standard_normal((2000, DIM))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for i, vector in enumerate(vectors):
        semantic.cache_store(tenant_id=tenant.pk, namespace="big", response=i, embedding=vector)
    found = [
        semantic.cache_lookup(tenant_id=tenant.pk, namespace="big", embedding=near(vectors[i], 0.95, seed=i), threshold=0.92).get("response")
        for i in range(0, 2000, 40)
    ]
    assert found == list(range(0, 2000, 40))


def test_lookup_survives_a_script_flush(api):
    from cache_app import redis_client

    store(api, vector=unit(3))
    assert lookup(api, vector=unit(3))["hit"] is True
    redis_client.connection("semantic").script_flush()
    assert lookup(api, vector=unit(3))["hit"] is True
    assert semantic_purge.counters(tenant_id=api.tenant.pk)["hits"] == 2


def test_vectors_near_the_float32_limit_are_normalised_without_overflow(api):
    big = unit(5) * 3.0e38 / np.abs(unit(5)).max()  # every value within float32's range, their squares are not
    store(api, vector=big, response={"answer": "big"})
    hit = lookup(api, vector=big)
    assert hit["hit"] is True and hit["similarity"] > 0.999
    assert lookup(api, vector=[1.0, 1e39], status=400)["error"]["param"] == "embedding"
