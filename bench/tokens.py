"""Offline BPE token counting throughput (convostore.tokens, o200k and cl100k from files shipped on PyPI).

    .venv/bin/python scripts/devservers.py exec .venv/bin/python bench/tokens.py

Counts chat-like text (prose, code, JSON tool output) in one 1 MB block and as 2,000 short items
(count_item: the per-item cost paid once at append time and cached in Entry.tokens).
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import markdown_table, write_result  # noqa: E402

from convostore import tokens  # noqa: E402

WORDS = (
    "the a to of and in for on with by is are be can will this that it we you they user model request response "
    "cache token session archive segment table value key error retry timeout latency database query index shard "
    "replica queue worker task function call argument output input prompt context window memory budget tenant "
    "Paris Zürich naïve café 東京 データベース ошибка — “quoted” 🙂"
).split()


def corpus(rng: random.Random, size: int) -> tuple[str, list[dict]]:
    items, total = [], 0
    while total < size:
        kind = rng.random()
        if kind < 0.6:
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 120))) + "."
            item = {"type": "message", "role": rng.choice(["user", "assistant"]), "content": text}
        elif kind < 0.8:
            text = "\n".join(f"    {rng.choice(WORDS)}_{i} = compute({rng.randint(0, 999)}, limit={i})" for i in range(rng.randint(3, 12)))
            item = {"type": "message", "role": "assistant", "content": f"```python\ndef f():\n{text}\n```"}
        else:
            rows = [{"id": rng.randint(1, 10**6), "name": rng.choice(WORDS), "score": round(rng.random(), 4)} for _ in range(rng.randint(2, 10))]
            item = {"type": "function_call_output", "call_id": f"call_{rng.randint(0, 10**9)}", "output": json.dumps(rows)}
        items.append(item)
        total += len(json.dumps(item, ensure_ascii=False).encode())
    text = "\n".join(tokens._item_text(item) for item in items)
    return text, items


def best_of(repeats: int, function) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        timings.append(time.perf_counter() - started)
    return min(timings)


def main() -> None:
    rng = random.Random(11)
    text, items = corpus(rng, 1024 * 1024)
    short = items[:2000]
    mb = len(text.encode("utf-8")) / 1e6
    results = {}
    for encoding in tokens.ENCODINGS:
        started = time.perf_counter()
        tokens.get_encoding(encoding)
        load_s = time.perf_counter() - started
        count = tokens.count_text(text, encoding=encoding)
        block_s = best_of(3, lambda: tokens.count_text(text, encoding=encoding))
        items_s = best_of(3, lambda: [tokens.count_item(item, encoding=encoding) for item in short])
        results[encoding] = {
            "load_seconds": round(load_s, 3),
            "block_mb": round(mb, 3),
            "block_tokens": count,
            "tokens_per_second": round(count / block_s),
            "mb_per_second": round(mb / block_s, 2),
            "items": len(short),
            "us_per_item": round(items_s / len(short) * 1e6, 1),
        }
    path = write_result("tokens", {"results": results})
    rows = [[name, r["tokens_per_second"], r["mb_per_second"], r["us_per_item"], r["load_seconds"]] for name, r in results.items()]
    print(markdown_table(["encoding", "tokens/s (1 MB block)", "MB/s", "µs per item (count_item)", "first load s"], rows))
    print(f"\nwritten {path.relative_to(Path(__file__).resolve().parent.parent)}")


if __name__ == "__main__":
    main()
