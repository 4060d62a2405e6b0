"""Recall top-10 over 100k memories (pgvector HNSW, cosine): p95 latency and recall@10 against exact search.

    .venv/bin/python scripts/devservers.py exec .venv/bin/python bench/recall.py

Vectors are clustered, not uniform-random (uniform vectors in 256-d make every neighbour equally far
and flatter an index): 500 Gaussian clusters of varying spread; queries are fresh draws from the same
clusters. Latency is archive_app.selectors.nearest (the ORM query with SET LOCAL hnsw.ef_search, one
round trip to Postgres) with tenant scope; the exact answer is a numpy brute-force scan.

    ... bench/recall.py --text   # the labelled conversation of bench/data with the configured embedder

``--text`` appends bench/data/recall_conversation.json (114 turns) as one conversation, embeds it with the
configured embedder (the local model by default) through the lifecycle's own conversation_embed, then
asks the 114 labelled queries through archive_app.selectors.recall: p50/p95 of the embedder alone and of
recall() as a whole (embedding-cache read, embed, HNSW query), and recall@5 of the labelled turn.
Its result is stored under "text_path" in bench/results/recall.json.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import django_setup, markdown_table, percentiles, write_result  # noqa: E402

N = int(os.environ.get("BENCH_MEMORIES", "100000"))
QUERIES = int(os.environ.get("BENCH_QUERIES", "300"))
CLUSTERS = 500
K = 10
EF_SEARCH = [40, 100, 200]


def clustered(rng, n: int, dim: int, centers: np.ndarray, spreads: np.ndarray) -> np.ndarray:
    which = rng.integers(0, len(centers), n)
    points = centers[which] + rng.standard_normal((n, dim)).astype(np.float32) * spreads[which, None]
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def load(tenant, conversation, vectors: np.ndarray) -> float:
    """COPY the rows in, then build the HNSW index once (the migration's definition)."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 0")
        cursor.execute("DROP INDEX IF EXISTS memory_embedding_hnsw")
        with cursor.copy(
            "COPY archive_app_memory (tenant_id, conversation_id, kind, first_seq, last_seq, user_key, excerpt, embedder, embedding, created_at) FROM STDIN"
        ) as copy:
            for i, vector in enumerate(vectors):
                text = "[" + ",".join(f"{x:.6f}" for x in vector) + "]"
                copy.write_row((tenant.pk, conversation.pk, "turn", i, i, "", f"memory {i}", "bench:clustered", text, "2026-01-01T00:00:00Z"))
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute(
            "CREATE INDEX memory_embedding_hnsw ON archive_app_memory USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
        )
        cursor.execute("ANALYZE archive_app_memory")
    return time.perf_counter() - started


def text_path() -> dict:
    import json

    from archive_app.embedders import get_embedder
    from archive_app.selectors import recall
    from sessions_app.lifecycle import conversation_embed
    from sessions_app.models import Conversation
    from sessions_app.services import conversation_append, tenant_create

    data = Path(__file__).resolve().parent / "data"
    items = json.loads((data / "recall_conversation.json").read_text())["items"]
    queries = [json.loads(line) for line in (data / "recall_queries.jsonl").read_text().splitlines() if line.strip()]
    tenant, _ = tenant_create(name=f"bench-recall-text-{int(time.time())}")
    try:
        for start in range(0, len(items), 2):
            conversation_append(tenant=tenant, conversation_id="labelled", items=items[start : start + 2])
        conversation = Conversation.objects.get(tenant=tenant, conversation_id="labelled")
        embedder = get_embedder()
        started = time.perf_counter()
        memories = conversation_embed(conversation=conversation, embedder=embedder)
        embed_all_s = time.perf_counter() - started
        model_ms, recall_ms, ranks = [], [], []
        for query in queries:
            started = time.perf_counter()
            embedder.embed([query["query"]])
            model_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            found = recall(tenant=tenant, conversation=conversation, query=query["query"], k=5, embedder=embedder)
            recall_ms.append((time.perf_counter() - started) * 1000)
            firsts = [r.first_seq for r in found]
            ranks.append(firsts.index(query["seqs"][0]) + 1 if query["seqs"][0] in firsts else None)
    finally:
        tenant.delete()
    return {
        "embedder": embedder.cache_id,
        "memories": memories,
        "embed_conversation_seconds": round(embed_all_s, 3),
        "queries": len(queries),
        "embedder_ms": percentiles(model_ms),
        "recall_call_ms": percentiles(recall_ms),
        "recall_at_5": round(sum(r is not None for r in ranks) / len(ranks), 4),
        "mrr_at_5": round(sum(1 / r for r in ranks if r) / len(ranks), 4),
    }


def main() -> None:
    django_setup()
    if "--text" in sys.argv:
        import json

        result_path = Path(__file__).resolve().parent / "results" / "recall.json"
        payload = json.loads(result_path.read_text())
        payload["text_path"] = text = text_path()
        result_path.write_text(json.dumps(payload, indent=2) + "\n")
        print(json.dumps(text, indent=1))
        return
    from django.conf import settings
    from django.db import connection

    from archive_app.models import EMBEDDING_DIM, Memory
    from archive_app.selectors import nearest
    from sessions_app.models import Conversation
    from sessions_app.services import tenant_create

    rng = np.random.default_rng(7)
    centers = rng.standard_normal((CLUSTERS, EMBEDDING_DIM)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    spreads = rng.uniform(0.02, 0.08, CLUSTERS).astype(np.float32)
    vectors = clustered(rng, N, EMBEDDING_DIM, centers, spreads)
    queries = clustered(rng, QUERIES, EMBEDDING_DIM, centers, spreads)
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :K]

    tenant, _ = tenant_create(name=f"bench-recall-{int(time.time())}")
    conversation = Conversation.objects.create(tenant=tenant, conversation_id="bench-recall")
    results = {}
    try:
        load_seconds = load(tenant, conversation, vectors)
        queryset = Memory.objects.filter(tenant=tenant, embedder="bench:clustered")
        with connection.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SET LOCAL hnsw.ef_search = 100")
            sql, params = queryset.order_by(__import__("pgvector.django", fromlist=["CosineDistance"]).CosineDistance("embedding", queries[0]))[:K].query.sql_with_params()
            cursor.execute("EXPLAIN " + sql, params)
            plan = re.sub(r"'\[[^']*\]'", "'[…]'", "\n".join(row[0] for row in cursor.fetchall()))
            cursor.execute("COMMIT")
        for ef in EF_SEARCH:
            settings.CONVOSTORE = {**settings.CONVOSTORE, "RECALL_EF_SEARCH": ef}
            for query in queries[:20]:  # warm the index pages
                nearest(queryset, query, K)
            samples, hits = [], 0
            for query, truth in zip(queries, exact):
                started = time.perf_counter()
                found = nearest(queryset, query, K)
                samples.append((time.perf_counter() - started) * 1000)
                hits += len({r.first_seq for r in found} & set(truth.tolist()))
            results[f"ef_search={ef}"] = {**percentiles(samples), "recall_at_10": round(hits / (K * len(queries)), 4)}
    finally:
        Memory.objects.filter(tenant=tenant).delete()
        tenant.delete()
    payload = {
        "memories": N,
        "dimensions": EMBEDDING_DIM,
        "clusters": CLUSTERS,
        "queries": QUERIES,
        "k": K,
        "index": "hnsw m=16 ef_construction=64 vector_cosine_ops",
        "load_and_index_seconds": round(load_seconds, 1),
        "default_ef_search": 100,
        "uses_hnsw": "memory_embedding_hnsw" in plan,
        "plan": plan,
        "goal": "p95 <= 10 ms, recall@10 >= 0.95",
        "results": results,
    }
    path = write_result("recall", payload)
    rows = [[name, r["p50_ms"], r["p95_ms"], r["recall_at_10"]] for name, r in results.items()]
    print(markdown_table([f"top-{K} over {N:,} clustered {EMBEDDING_DIM}-d memories", "p50 ms", "p95 ms", "recall@10"], rows))
    print(f"\nindex used: {payload['uses_hnsw']}; load + index build {payload['load_and_index_seconds']} s")
    print(f"written {path.relative_to(Path(__file__).resolve().parent.parent)}")


if __name__ == "__main__":
    main()
