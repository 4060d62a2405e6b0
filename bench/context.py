"""Context assembly through HTTP for a 500-turn conversation with a summary (goal p50 <= 3 ms).

    .venv/bin/python scripts/devservers.py exec .venv/bin/python bench/context.py

Seeds 500 exchanges (1,000 items), summarises the turns older than the tenant's 64-item window, then
times GET /v1/sessions/{id}/context through convostore-serve (the production server), one client, beside the plain
Django floor view. Cases: default budget; a 2 KB frozen instructions prefix with max_tokens 4000;
recall_k=5 over the conversation's embedded turns.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import Serve, django_setup, markdown_table, percentiles, write_result  # noqa: E402

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "1000"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
EXCHANGES = 500
CONVERSATIONS = ("bench-500-a", "bench-500-b", "bench-500-c")
TOPICS = ["replication lag", "index bloat", "queue backlog", "cache misses", "TLS renewal", "disk pressure"]


def seed() -> dict:
    from sessions_app.lifecycle import conversation_embed, summary_refresh
    from sessions_app.models import Conversation
    from sessions_app.services import api_key_create, conversation_append, tenant_create

    tenant, _ = tenant_create(name=f"bench-context-{int(time.time())}")
    key = api_key_create(tenant=tenant, name="bench").raw_key
    items = []
    for n in range(EXCHANGES):
        topic = TOPICS[n % len(TOPICS)]
        items.append({"role": "user", "content": f"Turn {n}: we see {topic} on node {n % 7}; what should we check first?"})
        items.append({"role": "assistant", "content": f"For {topic}, check the metrics of node {n % 7}, then the last deploy. " * 2})
    # One conversation per case: a gateway keeps its instructions, so each conversation keeps one
    # fingerprint (interleaving two prefixes on one conversation would UPDATE it on every request).
    for conversation_id in CONVERSATIONS:
        for start in range(0, len(items), 20):
            conversation_append(tenant=tenant, conversation_id=conversation_id, items=items[start : start + 20])
        conversation = Conversation.objects.get(tenant=tenant, conversation_id=conversation_id)
        summary = summary_refresh(conversation=conversation, force=True)
        conversation_embed(conversation=conversation)
    return {"tenant": tenant, "key": key, "summary_upto": summary.upto_seq, "items": len(items)}


def get(port: int, path: str, headers: dict) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


def main() -> None:
    django_setup()
    seeded = seed()
    auth = {"Authorization": f"Bearer {seeded['key']}"}
    base = "/v1/sessions/bench-500-a/context"
    instructions = "You are the on-call assistant. Answer with numbered steps. " * 36
    cases = {
        "floor (plain Django JSON view)": ("/bench/floor", {}),
        "context (default budget 8192)": (base, auth),
        "context (2 KB instructions, max_tokens 4000)": (f"{base.replace('-a/', '-b/')}?{urlencode({'instructions': instructions, 'max_tokens': 4000})}", auth),
        "context (recall_k=5, query)": (f"{base.replace('-a/', '-c/')}?{urlencode({'recall_k': 5, 'query': 'index bloat on node 3'})}", auth),
    }
    server = Serve(workers=WORKERS)
    try:
        status, body = get(server.port, base, auth)
        assert status == 200, body[:300]
        shape = json.loads(body)
        assert shape["summary_upto_seq"] == seeded["summary_upto"], shape["summary_upto_seq"]
        for _ in range(100):  # warm every worker (tokenizer, connections, scripts)
            for path, headers in cases.values():
                get(server.port, path, headers)
        samples = {name: [] for name in cases}
        for _ in range(REQUESTS):
            for name, (path, headers) in cases.items():
                started = time.perf_counter()
                status, data = get(server.port, path, headers)
                samples[name].append((time.perf_counter() - started) * 1000)
                assert status == 200, (name, data[:200])
    finally:
        server.stop()
        seeded["tenant"].delete()
    results = {name: percentiles(values) for name, values in samples.items()}
    payload = {
        "conversation_items": seeded["items"],
        "summary_upto_seq": seeded["summary_upto"],
        "verbatim_items": len(shape["messages"]) - 1,
        "estimated_input_tokens": shape["estimated_input_tokens"],
        "workers": WORKERS,
        "goal": "p50 <= 3 ms through HTTP",
        "results": results,
    }
    path = write_result("context", payload)
    rows = [[name, r["p50_ms"], r["p99_ms"], r["n"]] for name, r in results.items()]
    print(markdown_table(["case (500 exchanges, summary + 64 verbatim items)", "p50 ms", "p99 ms", "n"], rows))
    print(f"\nwritten {path.relative_to(Path(__file__).resolve().parent.parent)}")


if __name__ == "__main__":
    main()
