"""The lookup's fast path: one round trip hit or miss, candidate voting, large bodies, deferred counters."""

import numpy as np
import pytest

from cache_app import semantic, semantic_purge

pytestmark = pytest.mark.django_db

DIM = 48


def unit(seed: int, dim: int = DIM) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(dim)
    return vector / np.linalg.norm(vector)


def near(vector: np.ndarray, cos: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(vector.shape[0])
    noise -= noise.dot(vector) * vector
    noise /= np.linalg.norm(noise)
    return cos * vector + np.sqrt(1 - cos**2) * noise


def lookup(tenant_id, vector, namespace="n", **extra):
    return semantic.cache_lookup(tenant_id=tenant_id, namespace=namespace, embedding=vector, threshold=0.92, **extra)


def test_a_hit_and_a_miss_each_take_one_round_trip_and_counters_catch_up(tenant, round_trips):
    stored = semantic.cache_store(tenant_id=tenant.pk, namespace="n", response={"a": 1}, embedding=unit(1))
    lookup(tenant.pk, unit(2))  # loads the script
    before = round_trips["count"]
    hit = lookup(tenant.pk, near(unit(1), 0.96, seed=5))
    assert hit["hit"] is True and hit["response"] == {"a": 1} and hit["entry_id"] == stored["entry_id"]
    assert round_trips["count"] - before == 1
    before = round_trips["count"]
    assert lookup(tenant.pk, unit(3))["hit"] is False
    assert round_trips["count"] - before == 1
    counts = semantic_purge.counters(tenant_id=tenant.pk)
    assert (counts["hits"], counts["misses"], counts["stores"]) == (1, 2, 1)


def test_a_body_too_long_to_inline_costs_one_more_round_trip_and_still_hits(tenant, round_trips):
    long = "x" * (semantic.INLINE_BODY_BYTES + 10)
    semantic.cache_store(tenant_id=tenant.pk, namespace="n", response=long, embedding=unit(1))
    lookup(tenant.pk, unit(2))
    before = round_trips["count"]
    assert lookup(tenant.pk, unit(1))["response"] == long
    assert round_trips["count"] - before == 2


def test_voting_keeps_near_duplicates_of_a_large_candidate_set(tenant, settings):
    """With a vote budget of 0 every lookup keeps only candidates found in >= MIN_VOTES tables."""
    settings.CONVOSTORE = {**settings.CONVOSTORE, "SEMANTIC_VOTE_BUDGET": 0}
    vectors = np.random.default_rng(11).standard_normal((300, DIM))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for i, vector in enumerate(vectors):
        semantic.cache_store(tenant_id=tenant.pk, namespace="v", response=i, embedding=vector)
    found = [lookup(tenant.pk, near(vectors[i], 0.95, seed=i), namespace="v").get("response") for i in range(0, 300, 10)]
    assert found == list(range(0, 300, 10))
    # below VOTE_THRESHOLD every candidate is scored, so a low-threshold near match is still found
    low = semantic.cache_lookup(tenant_id=tenant.pk, namespace="v", embedding=near(vectors[7], 0.86, seed=1), threshold=0.8)
    assert low["hit"] is True and low["response"] == 7


def test_a_deleted_entry_is_not_bumped_back_by_a_deferred_hit(tenant, redis_prefix):
    from cache_app import redis_client

    stored = semantic.cache_store(tenant_id=tenant.pk, namespace="n", response="r", embedding=unit(4))
    assert lookup(tenant.pk, unit(4))["hit"] is True  # queues the LRU bump
    semantic_purge.entry_delete(tenant_id=tenant.pk, entry_id=stored["entry_id"])  # sends it first, then deletes
    assert lookup(tenant.pk, unit(4))["hit"] is False
    semantic_purge.counters(tenant_id=tenant.pk)
    client = redis_client.connection("semantic")
    for key in client.scan_iter(match=f"{redis_prefix}:*{{t{tenant.pk}:s*"):
        if key.endswith((b":lru", b":hits", b":vec", b":body")):
            assert client.type(key) == b"none" or (client.zcard(key) if key.endswith(b":lru") else client.hlen(key)) == 0
