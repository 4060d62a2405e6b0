"""API latency and throughput beside two floors, in one run, on the real services.

    .venv/bin/python scripts/devservers.py exec .venv/bin/python bench/api_latency.py

Measures, through convostore-serve (the production server): a plain Django JSON view (the floor), a plain view doing one
Redis GET, resolve of a hot 40-item conversation, and a durable append of one item — p50/p99 with one
client, and req/s with 16 concurrent clients (wrk when installed, else a bounded Python load loop).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import Serve, django_setup, markdown_table, percentiles, write_result  # noqa: E402

SINGLE_REQUESTS = int(os.environ.get("BENCH_REQUESTS", "1500"))
CONCURRENCY = 16
LOAD_SECONDS = int(os.environ.get("BENCH_LOAD_SECONDS", "8"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))


def seed() -> dict:
    from django.db import connection

    from cache_app.redis_client import connection as redis
    from sessions_app.services import api_key_create, conversation_append, response_store, tenant_create

    tenant, _ = tenant_create(name=f"bench-{int(time.time())}")
    key = api_key_create(tenant=tenant, name="bench").raw_key
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"Turn {i}: " + "some words here " * 12} for i in range(38)]
    for start in range(0, len(turns), 19):
        conversation_append(tenant=tenant, conversation_id="bench-hot", items=turns[start:start + 19])
    stored = response_store(
        tenant=tenant,
        conversation_id="bench-hot",
        input_items=[{"role": "user", "content": "And finally?"}],
        output_items=[{"role": "assistant", "content": "Finally, this."}],
    )
    redis("hot").set("bench:floor", "x" * 32)
    with connection.cursor() as cursor:
        cursor.execute("SHOW fsync")
        fsync = cursor.fetchone()[0]
        cursor.execute("SHOW synchronous_commit")
        sync_commit = cursor.fetchone()[0]
    return {"key": key, "response_id": stored.body["response_id"], "fsync": fsync, "synchronous_commit": sync_commit}


def request(port: int, method: str, path: str, headers: dict, body: bytes | None = None,
            timeout: float = 10) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


def single_client(port: int, cases: dict, n: int) -> dict:
    """Interleave the cases request by request so drift on a shared machine hits all of them alike."""
    samples = {name: [] for name in cases}
    for _ in range(50):  # warm every worker
        for case in cases.values():
            request(port, *case(0)[:4])
    for i in range(n):
        for name, case in cases.items():
            method, path, headers, body, expected = case(i)
            started = time.perf_counter()
            status, data = request(port, method, path, headers, body)
            samples[name].append((time.perf_counter() - started) * 1000)
            assert status == expected, (name, status, data[:200])
    return {name: percentiles(values) for name, values in samples.items()}


def load_wrk(port: int, path: str, headers: dict) -> float:
    args = ["wrk", "-t", "4", "-c", str(CONCURRENCY), "-d", f"{LOAD_SECONDS}s"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    output = subprocess.run(args + [f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    assert not non2xx, output
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))


def load_python(port: int, path: str, headers: dict) -> float:
    done = [0] * CONCURRENCY
    stop_at = time.monotonic() + LOAD_SECONDS

    def worker(index):
        while time.monotonic() < stop_at:
            status, _ = request(port, "GET", path, headers)
            assert status == 200
            done[index] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CONCURRENCY)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.monotonic() - started)


def main() -> None:
    django_setup()
    seeded = seed()
    auth = {"Authorization": f"Bearer {seeded['key']}"}
    json_headers = {**auth, "Content-Type": "application/json"}
    resolve_path = f"/v1/sessions/resolve?previous_response_id={seeded['response_id']}"
    cases = {
        "floor (plain Django JSON view)": lambda i: ("GET", "/bench/floor", {}, None, 200),
        "floor + one Redis GET": lambda i: ("GET", "/bench/redis-get", {}, None, 200),
        "resolve (hot, 40 items)": lambda i: ("GET", resolve_path, auth, None, 200),
        "append (1 item, durable)": lambda i: (
            "POST", f"/v1/sessions/bench-append-{i % 200}/append", json_headers,
            json.dumps({"role": "user", "content": f"message {i}"}).encode(), 201,
        ),
    }
    server = Serve(workers=WORKERS)
    try:
        status, body = request(server.port, "GET", resolve_path, auth)
        assert status == 200 and len(json.loads(body)["items"]) == 40, body[:300]
        latency = single_client(server.port, cases, SINGLE_REQUESTS)
        loader = load_wrk if shutil.which("wrk") else load_python
        throughput = {
            "floor + one Redis GET": loader(server.port, "/bench/redis-get", {}),
            "resolve (hot, 40 items)": loader(server.port, resolve_path, auth),
            "floor (plain Django JSON view)": loader(server.port, "/bench/floor", {}),
        }
    finally:
        server.stop()
    floor = latency["floor (plain Django JSON view)"]
    resolve = latency["resolve (hot, 40 items)"]
    append = latency["append (1 item, durable)"]
    ratios = {
        "resolve_p50_over_floor_p50": round(resolve["p50_ms"] / floor["p50_ms"], 3),
        "resolve_rps_over_redis_get_rps": round(throughput["resolve (hot, 40 items)"] / throughput["floor + one Redis GET"], 3),
    }
    goals = {
        "resolve p50 <= 1.5x floor p50": ratios["resolve_p50_over_floor_p50"] <= 1.5,
        "resolve p99 <= 3 ms": resolve["p99_ms"] <= 3.0,
        "resolve req/s at 16 clients >= 80% of Redis-GET view": ratios["resolve_rps_over_redis_get_rps"] >= 0.8,
        "append p50 <= 2 ms": append["p50_ms"] <= 2.0,
        "append p99 <= 6 ms": append["p99_ms"] <= 6.0,
    }
    path = write_result(
        "api_latency",
        {
            "postgres": {"fsync": seeded["fsync"], "synchronous_commit": seeded["synchronous_commit"]},
            "server": "convostore-serve", "workers": WORKERS,
            "load_tool": "wrk" if shutil.which("wrk") else "python threads",
            "single_client": latency,
            "req_per_s_16_clients": {k: round(v, 1) for k, v in throughput.items()},
            "ratios": ratios,
            "goals_met": goals,
        },
    )
    rows = [
        [name, stats["p50_ms"], stats["p99_ms"], round(throughput[name], 1) if name in throughput else "—"]
        for name, stats in latency.items()
    ]
    print(markdown_table(["endpoint", "p50 ms (1 client)", "p99 ms (1 client)", "req/s (16 clients)"], rows))
    print(f"\nfsync={seeded['fsync']} synchronous_commit={seeded['synchronous_commit']}; ratios {ratios}; goals {goals}")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
