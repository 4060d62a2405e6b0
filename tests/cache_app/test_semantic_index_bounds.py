"""The semantic lookup's work is bounded by the buckets it probes, not by the scope's size, and on a small scope it
answers exactly what an exhaustive cosine scan answers; its Lua shares one copy of each common block."""

import re

import numpy as np
import pytest

from cache_app import semantic
from cache_app.redis_client import LUA_DIR, lua_source
from cache_app.semantic_index import MEMBER_WIDTH, PROBES, TABLES, VOTE_BUDGET

pytestmark = pytest.mark.django_db

DIM = 48
THRESHOLD = 0.92


def units(seed: int, n: int) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, DIM))
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def near(vector: np.ndarray, cos: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(vector.shape[0])
    noise -= noise.dot(vector) * vector
    noise /= np.linalg.norm(noise)
    return cos * vector + np.sqrt(1 - cos**2) * noise


@pytest.fixture
def replies(monkeypatch):
    """Every semantic_lookup.lua reply the lookups below receive."""
    seen = []
    original = semantic._candidates

    def recording(reply, *args, **kwargs):
        seen.append(reply)
        return original(reply, *args, **kwargs)

    monkeypatch.setattr(semantic, "_candidates", recording)
    return seen


def store_all(tenant_id: int, vectors: np.ndarray, namespace: str) -> None:
    for i, vector in enumerate(vectors):
        semantic.cache_store(tenant_id=tenant_id, namespace=namespace, response=i, embedding=vector)


def test_a_lookup_reads_the_probed_buckets_only_and_scores_a_bounded_candidate_set(tenant, replies, settings):
    settings.CONVOSTORE = {**settings.CONVOSTORE, "SEMANTIC_MAX_ENTRIES_PER_SCOPE": 100_000}
    vectors = units(3, 3000)
    store_all(tenant.pk, vectors, "big")
    for i in range(0, 3000, 150):
        found = semantic.cache_lookup(tenant_id=tenant.pk, namespace="big", embedding=near(vectors[i], 0.95, seed=i),
                                      threshold=THRESHOLD)
        assert found["hit"] is True and found["response"] == i
    for reply in replies:
        scanned, scored = int(reply[3]), len(reply[1]) // MEMBER_WIDTH
        # 16-bit buckets hold ~3000/65536 entries each: TABLES*PROBES probes see a few dozen at most, never the scope
        assert scanned <= TABLES * PROBES // 2
        assert 1 <= scored <= VOTE_BUDGET


def test_on_a_small_scope_the_answers_are_those_of_an_exhaustive_scan(tenant, replies):
    vectors = units(5, 300)
    store_all(tenant.pk, vectors, "small")
    rng = np.random.default_rng(9)
    queries = [near(vectors[i], rng.uniform(0.93, 0.99), seed=i) for i in range(0, 300, 7)] + list(units(11, 20))
    for query in queries:
        query = query / np.linalg.norm(query)
        sims = vectors @ query
        best = int(np.argmax(sims))
        expected = best if sims[best] >= THRESHOLD else None
        found = semantic.cache_lookup(tenant_id=tenant.pk, namespace="small", embedding=query, threshold=THRESHOLD)
        assert (found["response"] if found["hit"] else None) == expected
        if found["hit"]:
            assert found["similarity"] == pytest.approx(float(sims[best]), abs=2e-3)


@pytest.mark.parametrize(("block", "users"), [
    ("semantic_complete", ["semantic_lookup", "semantic_store"]),
    ("semantic_remove", ["semantic_store", "semantic_delete"]),
])
def test_each_shared_lua_block_is_written_once_and_spliced_into_its_scripts(block, users):
    function = re.search(r"local function (\w+)", (LUA_DIR / f"{block}.lua").read_text()).group(1)
    for path in LUA_DIR.glob("semantic*.lua"):
        defines = f"local function {function}(" in path.read_text()
        assert defines == (path.stem == block), path.name
    for user in users:
        assert f"--#include {block}\n" in (LUA_DIR / f"{user}.lua").read_text()
        assert lua_source(user).count(f"local function {function}(") == 1
        assert not re.search(r"^--#include", lua_source(user), flags=re.MULTILINE)
