"""Cost against conversation length: an items page, a budgeted context, an append and a resolve on conversations
of 40, 1 000, 10 000 and 100 000 items, each hot (window in Redis), warm (Postgres rows only) and archived
(Huffman-coded segments only), over HTTP against the production server.

    .venv/bin/python scripts/devservers.py exec .venv/bin/python bench/scaling.py [--no-100k] [--rounds N]

Conversations are built by bench/builders.py (the API's write path in bulk, then the real archiver) and a
sample is read back through the API before timing. Requests are interleaved round by round over every
(state, size) so drift hits all sizes alike. Goal: items page, context and append p50 within 1.2x of the
same state's 40-item p50; resolve returns the whole context, so it is reported as bytes and us/KB. A 40-item
context is smaller than the default budget, so beside the ratio to 40 the table gives the ratio to the 1 000-item
p50 (the first size whose context fills the budget): whether cost still grows with length beyond the budget.
Writes bench/results/scaling.json and scaling.png and prints the markdown table for the README.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import RESULTS, Serve, django_setup, markdown_table, percentiles, write_result  # noqa: E402

django_setup("bench.settings_bench")

from django.db import connection  # noqa: E402

from bench.builders import STATES, conversation_build, conversation_state  # noqa: E402
from cache_app import hot_window  # noqa: E402
from sessions_app.models import Item  # noqa: E402
from sessions_app.services import api_key_create, tenant_create  # noqa: E402

OPS = ("items", "context", "append", "resolve")
GOAL = 1.2
FULL_BUDGET = 1_000  # a 40-item context is under the default budget; from 1 000 items on, the context fills it


def call(port: int, method: str, path: str, key: str, body: bytes | None = None) -> tuple[float, int, bytes]:
    """(milliseconds, status, body) of one request on a new connection (as a gunicorn sync worker serves it)."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return (time.perf_counter() - started) * 1000, response.status, data


def request_of(op: str, conversation_id: str, response_id: str) -> tuple[str, str, bytes | None]:
    if op == "items":
        return "GET", f"/v1/sessions/{conversation_id}/items?limit=20&order=desc", None
    if op == "context":
        return "GET", f"/v1/sessions/{conversation_id}/context", None
    if op == "append":
        return "POST", f"/v1/sessions/{conversation_id}/append", json.dumps({"items": [{"role": "user", "content": "One more."}]}).encode()
    return "GET", f"/v1/sessions/resolve?previous_response_id={response_id}", None


def build(tenant, sizes: list[int]) -> tuple[dict, dict]:
    """Every (state, size) conversation; returns ({(state, n): (conversation, response id)}, build seconds)."""
    built, seconds = {}, {}
    for state in STATES:
        for n in sizes:
            started = time.perf_counter()
            conversation = conversation_build(tenant=tenant, conversation_id=f"{state}-{n}", n=n, response_id=f"resp-{state}-{n}")
            conversation_state(conversation, state)
            seconds[f"{state}-{n}"] = round(time.perf_counter() - started, 2)
            built[(state, n)] = (conversation, f"resp-{state}-{n}")
            print(f"built {state} {n}: {seconds[f'{state}-{n}']} s", flush=True)
    return built, seconds


def verify(port: int, key: str, built: dict) -> dict:
    """Read a sample of every conversation back through the API: the newest page, one item, the count."""
    checked = 0
    for (state, n), (conversation, _) in built.items():
        _, status, body = call(port, "GET", f"/v1/sessions/{conversation.conversation_id}/items?limit=20&order=desc", key)
        ids = [item["id"] for item in json.loads(body)["data"]]
        assert status == 200 and ids == [f"msg_b{i:07d}" for i in range(n - 1, max(-1, n - 21), -1)], (state, n, ids[:3])
        middle = f"msg_b{n // 2:07d}"
        _, status, body = call(port, "GET", f"/v1/conversations/{conversation.conversation_id}/items/{middle}", key)
        assert status == 200 and json.loads(body)["id"] == middle, (state, n)
        _, status, body = call(port, "GET", f"/v1/sessions/{conversation.conversation_id}", key)
        assert json.loads(body)["items"] == n, (state, n)
        checked += 1
    return {"conversations_checked": checked, "checks": "newest page ids, the middle item, the item count"}


def explain(conversation) -> dict:
    """EXPLAIN ANALYZE of the keyset page and the cursor lookup at the largest warm size."""
    plans = {}
    page = Item.objects.for_path(conversation.path(), conversation.last_seq).order_by("-seq").values_list("seq", "token_count", "raw")[:21]
    cursor = Item.objects.for_path(conversation.path(), conversation.last_seq).filter(item_id="msg_b0000042").values_list("seq")[:1]
    for name, queryset in (("items_page_desc", page), ("cursor_lookup", cursor)):
        text = queryset.explain(analyze=True)
        plans[name] = text.splitlines()
    return plans


def prepare(state: str, conversation) -> None:
    """Keep a warm or archived conversation out of Redis (a read may have rebuilt its window)."""
    if state != "hot":
        hot_window.window_drop(tenant_id=conversation.tenant_id, conversation_id=conversation.conversation_id)


def measure(port: int, key: str, built: dict, rounds: int) -> dict:
    """{(state, n, op): [ms…]} and resolve byte sizes, interleaved round by round."""
    samples, sizes = {}, {}
    for round_index in range(rounds):
        for (state, n), (conversation, response_id) in built.items():
            for op in OPS:
                if op == "resolve" and n >= 100_000 and round_index % 4:
                    continue  # 10 MB answers: a quarter of the rounds is enough for a median
                prepare(state, conversation)
                method, path, body = request_of(op, conversation.conversation_id, response_id)
                ms, status, data = call(port, method, path, key, body)
                assert status in (200, 201), (state, n, op, status, data[:200])
                samples.setdefault((state, n, op), []).append(ms)
                if op == "resolve":
                    sizes[(state, n)] = len(data)
    return samples, sizes


def summarise(samples: dict, sizes: dict, sizes_list: list[int]) -> dict:
    rows = {}
    for (state, n, op), values in samples.items():
        stats = percentiles(values)
        base = percentiles(samples[(state, sizes_list[0], op)])["p50_ms"]
        stats["ratio_to_40"] = round(stats["p50_ms"] / base, 3)
        if n >= FULL_BUDGET and FULL_BUDGET in sizes_list:  # the first size whose context fills the default budget
            stats["ratio_to_1000"] = round(stats["p50_ms"] / percentiles(samples[(state, FULL_BUDGET, op)])["p50_ms"], 3)
        if op == "resolve":
            stats["bytes"] = sizes[(state, n)]
            stats["us_per_kb"] = round(stats["p50_ms"] * 1000 / (sizes[(state, n)] / 1024), 2)
        elif n != sizes_list[0]:
            stats["goal_met"] = stats["ratio_to_40"] <= GOAL
        rows[f"{state}/{n}/{op}"] = stats
    return rows


def plot(rows: dict, sizes_list: list[int]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(STATES), figsize=(13, 4), sharey=True)
    for axis, state in zip(axes, STATES):
        for op in OPS:
            axis.plot(sizes_list, [rows[f"{state}/{n}/{op}"]["p50_ms"] for n in sizes_list], marker="o", label=op)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_title(f"{state}")
        axis.set_xlabel("conversation length (items)")
        axis.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("p50 over HTTP (ms)")
    axes[-1].legend()
    figure.suptitle("ConvoStore: p50 against conversation length (resolve returns the whole context)")
    figure.tight_layout()
    path = RESULTS / "scaling.png"
    figure.savefig(path, dpi=110)
    return path


def table(rows: dict, sizes_list: list[int]) -> str:
    headers = ["state", "operation"] + [f"{n:,} items" for n in sizes_list] + ["worst ratio to 40", "worst ratio to 1,000"]
    lines = []
    for state in STATES:
        for op in OPS:
            cells = [rows[f"{state}/{n}/{op}"] for n in sizes_list]
            if op == "resolve":
                shown = [f"{c['p50_ms']:.1f} ms ({c['bytes'] / 1024:,.0f} KB, {c['us_per_kb']:.0f} µs/KB)" for c in cells]
                worst = ["grows with bytes", ""]
            else:
                shown = [f"{c['p50_ms']:.2f} ms" for c in cells]
                beyond = [c["ratio_to_1000"] for c in cells if "ratio_to_1000" in c]
                worst = [f"{max(c['ratio_to_40'] for c in cells):.2f}×", f"{max(beyond):.2f}×" if beyond else ""]
            lines.append([state, op] + shown + worst)
    return markdown_table(headers, lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-100k", action="store_true", help="skip the 100 000-item conversations (build takes minutes)")
    parser.add_argument("--rounds", type=int, default=20, help="timed requests per operation and size (<= 20 keeps the 40-item window whole)")
    args = parser.parse_args()
    sizes_list = [40, 1_000, 10_000] + ([] if args.no_100k else [100_000])
    tenant, _ = tenant_create(name=f"scaling-{int(time.time())}")
    tenant.max_items = 10 * sizes_list[-1]  # the default (100 000) would refuse the appends to the largest
    tenant.save(update_fields=["max_items"])
    key = api_key_create(tenant=tenant, name="bench").raw_key
    built, build_seconds = build(tenant, sizes_list)
    plans = explain(built[("warm", sizes_list[-1])][0])
    server = Serve(workers=1)
    try:
        verified = verify(server.port, key, built)
        for _ in range(2):  # warm the worker (imports, the key cache, prepared scripts)
            for (state, n), (conversation, response_id) in built.items():
                if n == sizes_list[0]:
                    call(server.port, *request_of("items", conversation.conversation_id, response_id)[:2], key)
        samples, sizes = measure(server.port, key, built, args.rounds)
    finally:
        server.stop()
    rows = summarise(samples, sizes, sizes_list)
    with connection.cursor() as cursor:
        cursor.execute("SHOW fsync")
        fsync = cursor.fetchone()[0]
    goals = {k: v["goal_met"] for k, v in rows.items() if "goal_met" in v}
    path = write_result("scaling", {
        "sizes": sizes_list, "rounds": args.rounds, "goal_ratio": GOAL, "fsync": fsync, "server": "convostore-serve, 1 worker",
        "build_seconds": build_seconds, "verified": verified, "explain_100k_warm": plans, "results": rows,
        "goals_met": sum(goals.values()), "goals_total": len(goals),
    })
    print(table(rows, sizes_list))
    print(f"goals met: {sum(goals.values())}/{len(goals)}; wrote {path} and {plot(rows, sizes_list)}")


if __name__ == "__main__":
    main()
