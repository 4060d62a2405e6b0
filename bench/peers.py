"""ConvoStore beside what users would pick instead, in one interleaved run on the same Postgres and Redis.

    make bench BENCH=peers        # or: .venv/bin/python scripts/devservers.py exec .venv/bin/python bench/peers.py

Systems: LangGraph's Postgres checkpointer (``PostgresSaver``, in process), LangChain's Redis chat history
(``RedisChatMessageHistory``, in process), ConvoStore over HTTP (``convostore-serve``, 4 workers; the keep-alive
pooled ``convostore.client.Client``) and ConvoStore in process (the service functions the views call). The peers
come from the ``bench`` extra (``pip install -e '.[bench]'``); nothing is installed here.

Rows: append one message to a thread of 40 / of 1 000, read the whole thread of 40 / of 1 000 (p50, p99; the
systems take turns call by call), and append+read loops/s with 8 client processes, each on its own thread that
starts at 40 messages. Writes bench/results/peers.json and prints the markdown table (guarantees beside it).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import Serve, django_setup, markdown_table, percentiles, write_result  # noqa: E402
from bench.peers_systems import SYSTEMS, GUARANTEES, message, open_system  # noqa: E402

ROUNDS = int(os.environ.get("PEERS_ROUNDS", "150"))  # calls per system per row
LOAD_SECONDS = float(os.environ.get("PEERS_LOAD_SECONDS", "6"))
CLIENTS = 8
LENGTHS = (40, 1000)
THREADS_PER_LENGTH = max(ROUNDS // 5, 1)  # appends are spread so that a thread grows by at most ~5 messages


def seed_context() -> dict:
    """A tenant and key for ConvoStore, and the Postgres durability settings of this run."""
    from django.db import connection

    from sessions_app.services import api_key_create, tenant_create

    tenant, _ = tenant_create(name=f"peers-{uuid.uuid4().hex[:8]}")
    key = api_key_create(tenant=tenant, name="peers").raw_key
    with connection.cursor() as cursor:
        cursor.execute("SHOW fsync")
        fsync = cursor.fetchone()[0]
        cursor.execute("SHOW synchronous_commit")
        sync_commit = cursor.fetchone()[0]
    return {"tenant_id": tenant.pk, "key": key, "fsync": fsync, "synchronous_commit": sync_commit}


def timed_rows(systems: dict) -> dict:
    """Single-client rows; every call of a row is interleaved across the systems."""
    rows = {}
    for length in LENGTHS:
        threads = {name: [system.create(length) for _ in range(THREADS_PER_LENGTH)] for name, system in systems.items()}
        for op in ("read", "append"):
            samples = {name: [] for name in systems}
            for i in range(-10, ROUNDS):  # 10 warm-up calls each, not kept
                for name, system in systems.items():
                    thread = threads[name][i % THREADS_PER_LENGTH]
                    started = time.perf_counter()
                    if op == "read":
                        got = system.read(thread)
                        assert len(got) >= length, (name, len(got), length)
                    else:
                        system.append(thread, message(i))
                    if i >= 0:
                        samples[name].append((time.perf_counter() - started) * 1000)
            rows[f"{op}_{length}"] = {name: percentiles(values) for name, values in samples.items()}
            print(f"{op} {length}: " + ", ".join(f"{n} {r['p50_ms']}" for n, r in rows[f"{op}_{length}"].items()), file=sys.stderr)
    return rows


def _loop_client(name: str, context: dict, start_at: float, seconds: float, queue) -> None:
    """One client process: its own thread of 40, append then read until the time is up; puts its loop count."""
    system = open_system(name, context)
    thread = system.create(40)
    while time.time() < start_at:
        time.sleep(0.001)
    loops, i = 0, 0
    while time.time() < start_at + seconds:
        system.append(thread, message(i))
        system.read(thread)
        loops, i = loops + 1, i + 1
    queue.put(loops)
    system.close()


def throughput(names: list[str], context: dict) -> dict:
    """append+read loops/s of CLIENTS processes per system (one system at a time, in the same run)."""
    from django.db import connections

    connections.close_all()  # no inherited Postgres socket in the forked clients
    ctx = multiprocessing.get_context("fork")
    result = {}
    for name in names:
        queue = ctx.Queue()
        start_at = time.time() + 3.0
        clients = [ctx.Process(target=_loop_client, args=(name, context, start_at, LOAD_SECONDS, queue)) for _ in range(CLIENTS)]
        for process in clients:
            process.start()
        loops = sum(queue.get(timeout=LOAD_SECONDS + 120) for _ in clients)
        for process in clients:
            process.join(30)
        result[name] = round(loops / LOAD_SECONDS, 1)
        print(f"throughput {name}: {result[name]} loops/s", file=sys.stderr)
    return result


def table(rows: dict, loops: dict, names: list[str]) -> str:
    labels = {"append_40": "append one message, thread of 40", "read_40": "read the whole thread of 40",
              "append_1000": "append one message, thread of 1 000", "read_1000": "read the whole thread of 1 000"}
    body = [[label] + [f"{rows[key][n]['p50_ms']} / {rows[key][n]['p99_ms']}" for n in names] for key, label in labels.items()]
    body.append([f"{CLIENTS} clients, append+read loops/s"] + [str(loops[n]) for n in names])
    for aspect in ("durable", "idempotent retry", "ordering / CAS", "Redis lost"):
        body.append([aspect] + [GUARANTEES[n][aspect] for n in names])
    return markdown_table(["p50 / p99 ms"] + [SYSTEMS[n] for n in names], body)


def goals(rows: dict, loops: dict) -> dict:
    """ConvoStore over HTTP at or below LangGraph's in-process p50 on the four rows; throughput ≥ 1.5× LangGraph's."""
    out = {}
    for key in rows:
        ours, theirs = rows[key]["convostore_http"]["p50_ms"], rows[key]["langgraph"]["p50_ms"]
        out[key] = {"convostore_http_p50_ms": ours, "langgraph_p50_ms": theirs, "ratio": round(ours / theirs, 2), "met": ours <= theirs}
    ratio = loops["convostore_http"] / loops["langgraph"]
    out["throughput"] = {"ratio": round(ratio, 2), "goal": 1.5, "met": ratio >= 1.5}
    return out


def main() -> None:
    django_setup()
    context = seed_context()
    server = Serve(workers=4)
    context["base_url"] = server.base
    names = list(SYSTEMS)
    systems = {name: open_system(name, context) for name in names}
    try:
        rows = timed_rows(systems)
        for system in systems.values():
            system.close()
        loops = throughput(names, context)
    finally:
        server.stop()
    result = {"rows": rows, "loops_per_s": loops, "goals": goals(rows, loops), "guarantees": GUARANTEES,
              "fsync": context["fsync"], "synchronous_commit": context["synchronous_commit"], "rounds": ROUNDS,
              "clients": CLIENTS, "load_seconds": LOAD_SECONDS, "server": "convostore-serve, 4 workers"}
    path = write_result("peers", result)
    print(table(rows, loops, names))
    print(f"\ngoals: {result['goals']}\nwrote {path}")


if __name__ == "__main__":
    main()
