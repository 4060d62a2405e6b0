"""CPU and memory per byte of hostile appends beside ordinary prose of the same size, through convostore-serve.

    .venv/bin/python scripts/devservers.py exec .venv/bin/python bench/abuse.py
    BENCH_ABUSE_REPS=3 BENCH_ABUSE_CASES=prose,bang  # optional: repetitions, a subset of the cases

Each case gets a fresh convostore-serve (one worker, one thread) so the worker's peak RSS (VmHWM) is that
case's. After a small warm-up append, the case's body is POSTed to /v1/sessions/{id}/append REPS times (a
new conversation each time): the maximal body (CONVOSTORE_MAX_ITEMS_PER_APPEND items of the largest
content CONVOSTORE_MAX_ITEM_BYTES allows) and a medium one (the same items at 64 KiB). Reported per case:
median seconds per append, seconds per MiB, the worker's RSS before the appends (after the warm-up), its
peak RSS and its RSS two seconds after the last append, the share of the growth to the peak given back,
and the ratio to prose of the same size (seconds per MiB received, since escapes make some bodies
smaller). Goals (issue 19): worst ≤ 3× ordinary; memory returned after a maximal body (MEMORY_GOAL).
Writes bench/results/abuse.json.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import Serve, django_setup, markdown_table, write_result  # noqa: E402

REPS = int(os.environ.get("BENCH_ABUSE_REPS", "3"))
GOAL = 3.0
# Memory returned: two seconds after the last maximal append, at least this share of the worker's growth from
# its RSS before the appends to its peak has gone back to the OS ((peak - after) / (peak - before)).
MEMORY_GOAL = 0.75
PROSE = (
    "The committee met on Tuesday to review the quarterly figures. Revenue rose slightly, while costs held "
    "steady; the board asked for a clearer plan before the next meeting, and everyone agreed to send notes. "
)


def _fill(unit: str, size: int) -> str:
    """``unit`` repeated to at most ``size`` UTF-8 bytes."""
    text = unit * (size // len(unit.encode()) + 1)
    while len(text.encode()) > size:
        text = text[: len(text) - max(1, (len(text.encode()) - size) // 4)]
    return text


def _random(alphabet: str, size: int, seed: int) -> str:
    rng = random.Random(seed)
    return _fill("".join(rng.choice(alphabet) for _ in range(size)), size)


def _codepoints(low: int, high: int, size: int, seed: int) -> str:
    rng = random.Random(seed)
    return _fill("".join(chr(rng.randint(low, high)) for _ in range(size // 2)), size)


def _common_cjk() -> list[str]:
    """CJK ideographs that are one o200k token each (tokens._rare_table)."""
    from convostore.tokens import _rare_table

    return [chr(c) for c in range(0x4E00, 0xA000) if not _rare_table("o200k_base")[c]]


CASES = {
    "prose (ordinary)": lambda size: _fill(PROSE, size),
    "one punctuation char (!)": lambda size: "!" * size,
    "one letter (a)": lambda size: "a" * size,
    "newlines": lambda size: "\n" * size,
    "nesting in a string ([…])": lambda size: "[" * (size // 2) + "]" * (size // 2),
    "letters + combining marks": lambda size: _fill("e\u0301", size),
    "random letters, no spaces": lambda size: _random("abcdefghijklmnopqrstuvwxyz", size, 1),
    "random punctuation": lambda size: _random("!#$%&()*+,-.:;<=>?@[]^_`{|}~ ", size, 2),
    "random CJK": lambda size: _codepoints(0x4E00, 0x9FFF, size, 3),
    "random unicode": lambda size: _codepoints(0xA0, 0x2FFF, size, 4),
    "base64": lambda size: base64.b64encode(random.Random(5).randbytes(size * 3 // 4)).decode()[:size],
    # Pieces of 127 letters (one short of LONG_RUN) at 0.52 tokens per byte (just over DENSE): the costliest
    # BPE per byte found that is still counted exactly (for SAMPLE bytes of each text).
    "random 127-letter words": lambda size: _fill(" ".join(_random("abcdefghijklmnopqrstuvwxyz", 127, n) for n in range(64)), size),
    # The probe (tokens.PROBE) evaded: 1 024 characters of spaceless prose, then random unicode (caught by tokens.RARE_RUN).
    "random unicode after 1 024 characters of prose": lambda size: (_fill("公园里有很多人，有的在跑步，有的在下棋。", 3 * 1024)
                                                          + _codepoints(0xA0, 0x2FFF, size - 3 * 1024, 6)),
    # The rare-character rule (tokens.RARE_WINDOW) evaded: the same after a prose head, with every other
    # character a known letter (43 % rare, under RARE_MIN of RARE_WINDOW) and a space every 30 000 characters
    # (under NO_CUT): exact, until SAMPLE bytes were counted at over DENSE tokens per byte.
    "random unicode after prose, every other character e": lambda size: " ".join(chunk[i:i + 30_000] for chunk in [_fill(
        _fill("公园里有很多人，有的在跑步，有的在下棋。", 3 * 1024)
        + "".join(c if n % 2 else "e" for n, c in enumerate(_codepoints(0xA0, 0x2FFF, 2 * size, 8))), size - size // 30_000)]
        for i in range(0, len(chunk), 30_000)),
    # Characters the vocabulary knows, in clauses of 127 (one short of LONG_RUN): long pieces, counted exactly.
    "common CJK in 127-character clauses": lambda size: _fill("".join(
        "".join(random.Random(n).choices(_common_cjk(), k=127)) + "，" for n in range(64)), size),
    # No space (so no safe cut) and not dense: counted exactly after a probe (tokens.PROBE).
    "minified JSON": lambda size: _fill(json.dumps([{"id": n, "name": f"item-{n}", "tags": ["a", "b"], "ok": n % 2 == 0}
                                                    for n in range(2000)], separators=(",", ":")), size),
}


def seed() -> str:
    from sessions_app.services import api_key_create, tenant_create

    tenant, _ = tenant_create(name=f"bench-abuse-{int(time.time() * 1000)}")
    return api_key_create(tenant=tenant, name="bench").raw_key


def worker_memory(serve: Serve) -> tuple[float, float]:
    """(peak RSS MB, current RSS MB) of the largest process under the server (its worker)."""
    best = (0.0, 0.0)
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        if int(fields.get("PPid", "0").strip()) != serve.process.pid or "VmHWM" not in fields:
            continue
        hwm, rss = (int(fields[k].split()[0]) / 1024 for k in ("VmHWM", "VmRSS"))
        best = max(best, (hwm, rss))
    return best


def post(port: int, key: str, path: str, body: bytes) -> tuple[int, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    started = time.perf_counter()
    conn.request("POST", path, body=body, headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status, time.perf_counter() - started


def run_case(name: str, key: str, item_bytes: int) -> dict:
    from django.conf import settings

    content = CASES[name](item_bytes)
    while (encoded := len(json.dumps(content, ensure_ascii=False).encode())) > item_bytes:  # escapes count too
        content = content[: int(len(content) * item_bytes / encoded) - 1]
    items = [{"role": "user", "content": content} for _ in range(settings.CONVOSTORE_MAX_ITEMS_PER_APPEND)]
    body = json.dumps({"items": items}, ensure_ascii=False).encode()
    serve = Serve(workers=1, threads=1)
    try:
        # Warm-up: one text long enough to build the tokenizer's character-class table (once per process, ~0.25 s).
        warm = json.dumps({"role": "user", "content": PROSE * 2}).encode()
        status, _ = post(serve.port, key, f"/v1/sessions/warm-{time.time_ns()}/append", warm)
        assert status == 201, status
        before = worker_memory(serve)[1]
        seconds = []
        for _ in range(REPS):
            status, elapsed = post(serve.port, key, f"/v1/sessions/abuse-{time.time_ns()}/append", body)
            assert status == 201, (name, status)
            seconds.append(elapsed)
        time.sleep(2)
        peak, after = worker_memory(serve)
    finally:
        serve.stop()
    median = statistics.median(seconds)
    return {"body_bytes": len(body), "seconds": [round(s, 3) for s in seconds], "median_s": round(median, 3),
            "s_per_mib": round(median / (len(body) / 2**20), 3), "rss_before_mb": round(before, 1),
            "peak_rss_mb": round(peak, 1), "rss_after_mb": round(after, 1),
            "rss_kept_mb": round(after - before, 1), "returned_fraction": round((peak - after) / max(peak - before, 1e-9), 2)}


def main() -> None:
    django_setup()
    from django.conf import settings

    key = seed()
    wanted = os.environ.get("BENCH_ABUSE_CASES")
    names = [n for n in CASES if not wanted or any(w in n for w in wanted.split(","))]
    if "prose (ordinary)" not in names:
        names.insert(0, "prose (ordinary)")
    sizes = {"max body": settings.CONVOSTORE_MAX_ITEM_BYTES - 200, "64 KiB items": 64 * 1024}
    results, rows, worst = {}, [], {}
    for label, item_bytes in sizes.items():
        results[label] = {name: run_case(name, key, item_bytes) for name in names}
        ordinary = results[label]["prose (ordinary)"]
        for name, case in results[label].items():
            case["time_ratio_to_prose"] = round(case["s_per_mib"] / ordinary["s_per_mib"], 2)  # per byte received
            case["peak_rss_ratio_to_prose"] = round(case["peak_rss_mb"] / ordinary["peak_rss_mb"], 2)
            rows.append([label, name, case["median_s"], case["s_per_mib"], case["time_ratio_to_prose"], case["rss_before_mb"],
                         case["peak_rss_mb"], case["rss_after_mb"], case["returned_fraction"]])
        worst[label] = max((c["time_ratio_to_prose"], n) for n, c in results[label].items())
    summary = {label: {"worst_case": n, "worst_time_ratio": r, "goal_met": r <= GOAL} for label, (r, n) in worst.items()}
    kept = min((c["returned_fraction"], n) for n, c in results["max body"].items())
    summary["memory returned"] = {"least_returned_case": kept[1], "returned_fraction": kept[0], "goal_met": kept[0] >= MEMORY_GOAL}
    path = write_result("abuse", {"goal_time_ratio": GOAL, "goal_returned_fraction": MEMORY_GOAL, "reps": REPS,
                                  "results": results, "summary": summary})
    print(markdown_table(["size", "case", "median s", "s/MiB", "× prose", "RSS before MB", "peak RSS MB", "RSS after MB",
                          "returned"], rows))
    for label, line in summary.items():
        if "worst_case" in line:
            print(f"{label}: worst {line['worst_case']} at {line['worst_time_ratio']}× prose (goal ≤ {GOAL}×): "
                  f"{'met' if line['goal_met'] else 'NOT met'}")
    print(f"memory returned after a maximal body: least {kept[0]:.0%} ({kept[1]}) of the growth to the peak "
          f"(goal ≥ {MEMORY_GOAL:.0%}): {'met' if kept[0] >= MEMORY_GOAL else 'NOT met'}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
