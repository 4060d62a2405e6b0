"""How soon a new turn is recallable: from the acknowledged append to its Memory row, with a real Celery worker.

    .venv/bin/python scripts/devservers.py exec .venv/bin/python bench/recall_freshness.py

A Celery worker runs (its embed drainer takes conversations the append pipeline queued); the bench appends
TURNS user/assistant turns to several conversations, one at a time, and polls Postgres every 10 ms for the
turn's Memory row. The floor, measured in the same run, is embedding that same kind of turn in process
(conversation_embed right after the append), so the difference is the queue and the drainer's idle wait.
Goal (issue 11): p95 <= 2 s. Without the drainer a turn waits for the embed sweep (every 300 s).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, django_setup, markdown_table, percentiles, write_result  # noqa: E402

TURNS = int(os.environ.get("BENCH_TURNS", "60"))


def turn(n: int) -> list[dict]:
    return [{"role": "user", "content": f"Turn {n}: how do I rotate the TLS certificate on node {n}?"},
            {"role": "assistant", "content": f"On node {n}, renew with certbot and reload the proxy."}]


def worker() -> subprocess.Popen:
    celery = str(Path(sys.executable).parent / "celery")
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="bench.settings_bench", PYTHONPATH=str(ROOT))
    return subprocess.Popen([celery, "-A", "convostore", "worker", "-l", "warning", "-c", "1"], env=env, cwd=ROOT)


def wait_for_memory(conversation_pk: int, last_seq: int, deadline_s: float = 60.0) -> float:
    from archive_app.models import Memory

    started = time.perf_counter()
    while time.perf_counter() - started < deadline_s:
        if Memory.objects.filter(conversation_id=conversation_pk, last_seq__gte=last_seq).exists():
            return time.perf_counter() - started
        time.sleep(0.01)
    raise RuntimeError("no Memory row within the deadline")


def main() -> None:
    django_setup()
    from sessions_app.lifecycle import conversation_embed
    from sessions_app.models import Conversation
    from sessions_app.services import conversation_append, tenant_create

    tenant, _ = tenant_create(name=f"bench-fresh-{int(time.time())}")
    floor = []
    for n in range(TURNS // 2):
        outcome = conversation_append(tenant=tenant, conversation_id=f"floor-{n % 5}", items=turn(n))
        conversation = Conversation.objects.select_related("tenant").get(tenant=tenant, conversation_id=f"floor-{n % 5}")
        began = time.perf_counter()
        conversation_embed(conversation=conversation)
        floor.append((time.perf_counter() - began) * 1000)
        assert outcome.status == 201
    process = worker()
    try:
        conversation_append(tenant=tenant, conversation_id="warm-up", items=turn(0))
        wait_for_memory(Conversation.objects.get(tenant=tenant, conversation_id="warm-up").pk, 2, deadline_s=120)
        fresh = []
        for n in range(TURNS):
            outcome = conversation_append(tenant=tenant, conversation_id=f"fresh-{n % 5}", items=turn(n))
            pk = Conversation.objects.get(tenant=tenant, conversation_id=f"fresh-{n % 5}").pk
            fresh.append(wait_for_memory(pk, outcome.body["items"][-1]["seq"]) * 1000)
    finally:
        process.terminate()
        process.wait(30)
    result = {"turns": TURNS, "append_to_recallable": percentiles(fresh), "floor_embed_in_process": percentiles(floor),
              "goal": "p95 <= 2000 ms"}
    write_result("recall_freshness", result)
    print(markdown_table(["measure", "p50 ms", "p95 ms", "max-ish (p99) ms"], [
        ["append acknowledged → Memory row (worker drainer)", result["append_to_recallable"]["p50_ms"],
         result["append_to_recallable"]["p95_ms"], result["append_to_recallable"]["p99_ms"]],
        ["floor: embed the turn in process", result["floor_embed_in_process"]["p50_ms"],
         result["floor_embed_in_process"]["p95_ms"], result["floor_embed_in_process"]["p99_ms"]],
    ]))


if __name__ == "__main__":
    main()
