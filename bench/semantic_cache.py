"""Semantic cache benchmark: lookup p50/p99 at 1k/10k/100k entries of 384 dimensions in one scope (in process,
the embedding supplied) beside a trivial EVALSHA round trip timed after every lookup (goal: p50 and p99 each
≤ 3× the EVALSHA's), recall vs exhaustive cosine, bytes per entry, and lix-open-cache's SemanticCacheRedis
(50-entry cap) in the same run; then the text path with the configured embedder (the local model by default):
embedding time apart from lookup time.

    .venv/bin/python scripts/devservers.py exec .venv/bin/python bench/semantic_cache.py [--sizes 1000,10000,100000] [--dim 384]

Writes bench/results/semantic_cache.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "convostore.settings.base")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from cache_app import keys, semantic  # noqa: E402
from cache_app.redis_client import connection, script  # noqa: E402
from cache_app.semantic_index import TABLES, normalise, pack_record  # noqa: E402

from bench.semantic_breakdown import breakdown, probe_sweep  # noqa: E402

DIM = 384  # all-MiniLM-L6-v2's width (--dim)
GOAL_RATIO = 3.0  # lookup p50 and p99 each at most this many times the trivial EVALSHA's
THRESHOLD = 0.92
TENANT = 1
NAMESPACE = "bench:gpt-4o:sys"
RESPONSE = {"id": "resp_x", "output_text": "A cached answer of about one sentence, as a gateway would keep it."}


def unit_rows(rng, n):
    rows = rng.standard_normal((n, DIM)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def near(rng, vector, cos):
    noise = rng.standard_normal(DIM).astype(np.float32)
    noise -= noise.dot(vector) * vector
    noise /= np.linalg.norm(noise)
    return cos * vector + np.sqrt(1 - cos**2) * noise


def bulk_client():
    """The semantic alias's Redis with a socket timeout for 500-script pipelines on a loaded machine (the app's is 0.25 s)."""
    import redis

    pool = connection("semantic").connection_pool
    return redis.Redis(connection_pool=redis.ConnectionPool(connection_class=pool.connection_class,
                                                            **{**pool.connection_kwargs, "socket_timeout": 60}))


def load(vectors, start):
    """Bulk-load through the same Lua script cache_store uses, 500 entries per pipeline."""
    scope_id = keys.semantic_scope_id(TENANT, NAMESPACE, None)
    skeys = keys.semantic_scope_keys(TENANT, scope_id)
    body = "{\"c\":0,\"t\":null,\"v\":null}\n" + json.dumps(RESPONSE, separators=(",", ":"))
    client = bulk_client()
    now = time.time()
    for offset in range(0, len(vectors), 500):
        pipe = client.pipeline(transaction=False)
        for i, vector in enumerate(vectors[offset : offset + 500], start=start + offset):
            record = pack_record(vector, expires_at=now + 86400, text=None)
            args = [DIM, now, 86400 * 1000, 10**7, TABLES, record, body.replace("resp_x", f"resp_{i}"), now + 86400, secrets.token_hex(4)]
            script("semantic_store", "semantic")(keys=skeys, args=args, client=pipe)
        pipe.execute()


def percentile(samples, q):
    return float(np.percentile(np.asarray(samples) * 1000, q))


def ping(client):
    started = time.perf_counter()
    client.ping()
    return time.perf_counter() - started


def evalsha_floor(client):
    """One trivial EVALSHA (``return 1``): the cheapest script round trip, the floor of a Lua lookup."""
    sha = TRIVIAL_SHA
    started = time.perf_counter()
    client.evalsha(sha, 0)
    return time.perf_counter() - started


TRIVIAL_SHA = ""


def measure(stored, rng, queries):
    """Latency of cache_lookup (everything it does: probes, Redis, numpy) and recall against exhaustive
    cosine; a Redis PING is timed after every lookup in the same process as the floor."""
    client = connection("semantic")
    latencies, pings, floors, agree, relevant = [], [], [], 0, 0
    picks = rng.integers(0, len(stored), queries)
    batch = np.stack([normalise(near(rng, stored[pick], rng.uniform(THRESHOLD + 0.003, 0.96))) for pick in picks])
    answers = []
    for query in batch:  # only lookups (and a PING) in the timed loop: the exhaustive scan runs afterwards
        started = time.perf_counter()
        answers.append(semantic.cache_lookup(tenant_id=TENANT, namespace=NAMESPACE, embedding=query, threshold=THRESHOLD))
        latencies.append(time.perf_counter() - started)
        floors.append(evalsha_floor(client))
        pings.append(ping(client))
    for query, answer in zip(batch, answers):
        sims = stored @ query
        best = int(np.argmax(sims))
        if sims[best] >= THRESHOLD:
            relevant += 1
            agree += answer.get("hit") and answer["response"]["id"] == f"resp_{best}"
    edge_agree, edge_relevant = 0, 0  # recall right at the threshold (cosine 0.9205), untimed
    for pick in rng.integers(0, len(stored), queries // 2):
        query = normalise(near(rng, stored[pick], THRESHOLD + 0.0005))
        answer = semantic.cache_lookup(tenant_id=TENANT, namespace=NAMESPACE, embedding=query, threshold=THRESHOLD)
        sims = stored @ query
        best = int(np.argmax(sims))
        if sims[best] >= THRESHOLD:
            edge_relevant += 1
            edge_agree += answer.get("hit") and answer["response"]["id"] == f"resp_{best}"
    misses = []
    for _ in range(queries // 2):
        query = unit_rows(rng, 1)[0]
        started = time.perf_counter()
        semantic.cache_lookup(tenant_id=TENANT, namespace=NAMESPACE, embedding=query, threshold=THRESHOLD)
        misses.append(time.perf_counter() - started)
        floors.append(evalsha_floor(client))
        pings.append(ping(client))
    ping_p50, ping_p99 = percentile(pings, 50), percentile(pings, 99)
    floor_p50, floor_p99 = percentile(floors, 50), percentile(floors, 99)
    lookups = latencies + misses
    return {
        "lookup_p50_ms": percentile(lookups, 50),
        "lookup_p99_ms": percentile(lookups, 99),
        "evalsha_p50_ms": floor_p50,
        "evalsha_p99_ms": floor_p99,
        "lookup_p50_per_evalsha": percentile(lookups, 50) / floor_p50,
        "lookup_p99_per_evalsha": percentile(lookups, 99) / floor_p99,
        "goal_met": percentile(lookups, 50) <= GOAL_RATIO * floor_p50 and percentile(lookups, 99) <= GOAL_RATIO * floor_p99,
        "hit_p50_ms": percentile(latencies, 50),
        "hit_p99_ms": percentile(latencies, 99),
        "miss_p50_ms": percentile(misses, 50),
        "miss_p99_ms": percentile(misses, 99),
        "ping_p50_ms": ping_p50,
        "ping_p99_ms": ping_p99,
        "hit_p50_per_ping": percentile(latencies, 50) / ping_p50,
        "hit_p99_per_ping": percentile(latencies, 99) / ping_p99,
        "recall": agree / max(relevant, 1),
        "recall_at_threshold": edge_agree / max(edge_relevant, 1),
        "queries": queries,
        "load_average": os.getloadavg()[0],
        "breakdown": breakdown(client, keys.semantic_scope_keys(TENANT, keys.semantic_scope_id(TENANT, NAMESPACE, None)),
                               batch[:300], threshold=THRESHOLD, trivial_sha=TRIVIAL_SHA),
    }


def lix_peer(rng, queries):
    from loguru import logger

    logger.remove()  # lix-open-cache logs every hit at DEBUG
    from lix_open_cache.semantic_cache import SemanticCacheRedis

    kwargs = connection("semantic").connection_pool.connection_kwargs
    cache = SemanticCacheRedis(f"bench{uuid.uuid4().hex[:6]}", redis_host=kwargs["host"], redis_port=kwargs["port"], redis_db=kwargs.get("db", 0), similarity_threshold=THRESHOLD)
    vectors = unit_rows(rng, 50)
    for i, vector in enumerate(vectors):
        cache.set("https://example.com/q", vector, {**RESPONSE, "id": f"resp_{i}"})
    latencies, pings, client = [], [], connection("semantic")
    for _ in range(queries):
        query = near(rng, vectors[rng.integers(0, 50)], 0.95)
        started = time.perf_counter()
        cache.get("https://example.com/q", query)
        latencies.append(time.perf_counter() - started)
        pings.append(ping(client))
    key = cache._get_redis_key("https://example.com/q")
    size = connection("semantic").memory_usage(key, samples=0)
    return {"entries": 50, "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
            "ping_p50_ms": percentile(pings, 50), "ping_p99_ms": percentile(pings, 99), "bytes_per_key": size, "bytes_per_entry": size / 50}


def text_path():
    """Lookups that send text, with the server's embedder, on the labelled texts of bench/data: p50 of the model
    alone, of a lookup whose text is not in the embedding cache yet (MGET, embed, SET, lookup, guard) and of
    the same lookup again (the vector comes from the embedding cache: no model)."""
    from archive_app.embedders import embed_cached, get_embedder

    data = ROOT / "bench" / "data"
    pairs = [json.loads(line) for line in (data / "cache_pairs.jsonl").read_text().splitlines() if line.strip()]
    queries = [json.loads(line)["query"] for line in (data / "recall_queries.jsonl").read_text().splitlines() if line.strip()]
    stored_texts = list(dict.fromkeys(p["a"] for p in pairs))
    asked = [t for t in dict.fromkeys([p["b"] for p in pairs] + queries) if t not in stored_texts]
    embedder = get_embedder()
    threshold = settings.CONVOSTORE["SEMANTIC_THRESHOLD"]
    def vector(text):  # as sessions_app.services.caches does it: the embedding cache, else the model
        return embed_cached(tenant_id=TENANT, texts=[text], embedder=embedder)[0]

    for text in stored_texts:
        semantic.cache_store(tenant_id=TENANT, namespace="bench:text", text=text, response=RESPONSE, embedding=vector(text),
                             model=embedder.cache_id)
    model, cold, warm, hits = [], [], [], 0
    for text in asked:
        started = time.perf_counter()
        embedder.embed([text])
        model.append(time.perf_counter() - started)
    for timings in (cold, warm):
        for text in asked:
            started = time.perf_counter()
            hits += semantic.cache_lookup(tenant_id=TENANT, namespace="bench:text", text=text, threshold=threshold,
                                          embedding=vector(text), model=embedder.cache_id)["hit"]
            timings.append(time.perf_counter() - started)
    return {"embedder": embedder.cache_id, "threshold": threshold, "entries": len(stored_texts), "lookups": len(asked), "hits": hits // 2,
            "embed_p50_ms": percentile(model, 50), "embed_p99_ms": percentile(model, 99),
            "lookup_text_uncached_p50_ms": percentile(cold, 50), "lookup_text_uncached_p99_ms": percentile(cold, 99),
            "lookup_text_cached_embedding_p50_ms": percentile(warm, 50), "lookup_text_cached_embedding_p99_ms": percentile(warm, 99)}  # fmt: skip


def main():
    global DIM, TRIVIAL_SHA
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--dim", type=int, default=DIM)
    parser.add_argument("--only-text", action="store_true", help="only the text path; updates its entry in the results")
    args = parser.parse_args()
    DIM = args.dim
    settings.CONVOSTORE = {**settings.CONVOSTORE, "KEY_PREFIX": f"bench{uuid.uuid4().hex[:6]}", "SEMANTIC_MAX_ENTRIES_PER_SCOPE": 10**7}
    if args.only_text:
        out = ROOT / "bench" / "results" / "semantic_cache.json"
        result = json.loads(out.read_text())
        result["text_path"] = text = text_path()
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(text, indent=1))
        connection("semantic").flushdb(asynchronous=True)
        return
    rng = np.random.default_rng(7)
    client = connection("semantic")
    client.ping()
    TRIVIAL_SHA = client.script_load("return 1")
    memory_before = client.info("memory")["used_memory"]
    stored = np.zeros((0, DIM), dtype=np.float32)
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        fresh = unit_rows(rng, size - len(stored))
        load(fresh, len(stored))
        stored = np.vstack([stored, fresh])
        memory = client.info("memory")["used_memory"] - memory_before
        row = {"entries": size, **measure(stored, rng, args.queries), "bytes_per_entry": memory / size}
        rows.append(row)
        print(f"measured {size}: {row}", file=sys.stderr)
    picks = rng.integers(0, len(stored), 300)  # at the largest size: what fewer probes would cost in recall
    edge = np.stack([normalise(near(rng, stored[pick], THRESHOLD + 0.0005)) for pick in picks])
    sweep = probe_sweep(client, keys.semantic_scope_keys(TENANT, keys.semantic_scope_id(TENANT, NAMESPACE, None)), stored, edge, picks)
    print(f"probe sweep at {len(stored)}: {sweep}", file=sys.stderr)
    peer = lix_peer(rng, args.queries)
    text = text_path()
    result = {
        "dim": DIM,
        "threshold": THRESHOLD,
        "vector_dtype": "float16",
        "response_bytes": len(json.dumps(RESPONSE)),
        "tables": TABLES,
        "goal": f"lookup p50 and p99 (hits and misses together) each <= {GOAL_RATIO}x a trivial EVALSHA's, same run",
        "convostore": rows,
        "probe_sweep_at_threshold": sweep,
        "lix_open_cache_SemanticCacheRedis": peer,
        "text_path": text,
        "redis": client.info("server")["redis_version"],
    }
    out = ROOT / "bench" / "results" / "semantic_cache.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print("| entries | lookup p50 / p99 ms | EVALSHA p50 / p99 ms | ratio p50 / p99 | goal ≤ 3× each |")
    print("|---:|---:|---:|---:|---|")
    for row in rows:
        print(f"| {row['entries']:,} | {row['lookup_p50_ms']:.2f} / {row['lookup_p99_ms']:.2f} | {row['evalsha_p50_ms']:.2f} / "
              f"{row['evalsha_p99_ms']:.2f} | {row['lookup_p50_per_evalsha']:.1f}× / {row['lookup_p99_per_evalsha']:.1f}× | "
              f"{'met' if row['goal_met'] else 'missed'} |")
    print()
    print("| store | entries in scope | hit p50 ms | hit p99 ms | miss p50 ms | miss p99 ms | PING p50 / p99 ms | hit p50 / PING p50 | recall vs exhaustive | recall at cos 0.9205 | bytes/entry |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| ConvoStore | {row['entries']:,} | {row['hit_p50_ms']:.2f} | {row['hit_p99_ms']:.2f} | {row['miss_p50_ms']:.2f} | "
            f"{row['miss_p99_ms']:.2f} | {row['ping_p50_ms']:.2f} / {row['ping_p99_ms']:.2f} | {row['hit_p50_per_ping']:.1f}× | "
            f"{row['recall']:.4f} | {row['recall_at_threshold']:.4f} | {row['bytes_per_entry']:.0f} |"
        )
    print(f"| lix-open-cache SemanticCacheRedis | 50 (cap) | {peer['p50_ms']:.2f} | {peer['p99_ms']:.2f} | – | – | {peer['ping_p50_ms']:.2f} / {peer['ping_p99_ms']:.2f} | {peer['p50_ms'] / peer['ping_p50_ms']:.1f}× | exhaustive | exhaustive | {peer['bytes_per_entry']:.0f} ({peer['bytes_per_key']:,} per key) |")
    print(f"\ntext path with {text['embedder']}: {json.dumps(text)}")
    client.flushdb(asynchronous=True)


if __name__ == "__main__":
    main()
