"""API latency and throughput beside two floors, in one run, on the real services.

    .venv/bin/python scripts/devservers.py exec .venv/bin/python bench/api_latency.py   (or: make bench BENCH=api_latency)

Measures, through convostore-serve (the production server), with a pooled client (one keep-alive HTTP/1.1
connection per client, as a gateway's connection pool holds): a plain Django JSON view (the floor), a plain
view doing one Redis GET, a durable append of one item, and every read a gateway or the SDK makes on a hot
40-item conversation (resolve, context, the conversation, an items page, one item, OpenAI
conversations.retrieve / items.list / items.retrieve, responses.retrieve) — p50/p99 with one client, each
as a ratio to the floor's p50 in the same run (cases interleaved request by request), the SQL queries and
Redis round trips each makes (counted in process), and req/s with 16 concurrent clients (wrk when
installed, else a bounded Python load loop). BENCH_REQUESTS, BENCH_LOAD_SECONDS, BENCH_WORKERS shorten it.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import Serve, calls_per_second, django_setup, markdown_table, percentiles, write_result  # noqa: E402

SINGLE_REQUESTS = int(os.environ.get("BENCH_REQUESTS", "1500"))
CONCURRENCY = 16
LOAD_SECONDS = int(os.environ.get("BENCH_LOAD_SECONDS", "8"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
FLOOR = "floor (plain Django JSON view)"
# Goals on p50 as a multiple of the floor's p50 (issue 15).
GOALS = {"resolve (hot, 40 items)": 1.3, "append (1 item, durable)": 1.6, "context (hot, default budget)": 1.5}
READ_GOAL = 2.0


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
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_commit (id bigserial PRIMARY KEY, v text)")
        cursor.execute("SHOW fsync")
        fsync = cursor.fetchone()[0]
        cursor.execute("SHOW synchronous_commit")
        sync_commit = cursor.fetchone()[0]
        cursor.execute("SELECT item_id FROM sessions_app_item WHERE seq = 20 AND conversation_id = "
                       "(SELECT id FROM sessions_app_conversation WHERE tenant_id = %s AND conversation_id = 'bench-hot')",
                       [tenant.pk])
        item_id = cursor.fetchone()[0]
    return {"key": key, "response_id": stored.body["response_id"], "item_id": item_id, "fsync": fsync,
            "synchronous_commit": sync_commit}


class Client:
    """One keep-alive HTTP/1.1 connection, reopened only when the server closed it (counted in ``opened``)."""

    def __init__(self, port: int, timeout: float = 10):
        self.port, self.timeout, self.conn, self.opened = port, timeout, None, 0

    def request(self, method: str, path: str, headers: dict, body: bytes | None = None) -> tuple[int, bytes]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            self.opened += 1
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.will_close:
            self.close()
        return response.status, data

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def single_client(port: int, cases: dict, n: int) -> tuple[dict, dict]:
    """Interleave the cases request by request so drift on a shared machine hits all of them alike."""
    samples = {name: [] for name in cases}
    client = Client(port)
    for _ in range(20):  # warm every worker
        for case in cases.values():
            client.request(*case(0)[:4])
    opened_before = client.opened
    for i in range(n):
        for name, case in cases.items():
            method, path, headers, body, expected = case(i)
            started = time.perf_counter()
            status, data = client.request(method, path, headers, body)
            samples[name].append((time.perf_counter() - started) * 1000)
            assert status == expected, (name, status, data[:200])
    client.close()
    keep_alive = {"requests": n * len(cases), "connections_opened": client.opened - opened_before}
    return {name: percentiles(values) for name, values in samples.items()}, keep_alive


def load_wrk(port: int, path: str, headers: dict) -> float:
    args = ["wrk", "-t", "4", "-c", str(CONCURRENCY), "-d", f"{LOAD_SECONDS}s"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    output = subprocess.run(args + [f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    assert not non2xx, output
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))


def load_python(port: int, path: str, headers: dict) -> float:
    def worker(index, stop_at):
        client, n = Client(port), 0
        while time.monotonic() < stop_at:
            status, _ = client.request("GET", path, headers)
            assert status == 200
            n += 1
        client.close()
        return n

    return calls_per_second(worker, CONCURRENCY, LOAD_SECONDS)


def costs(cases: dict) -> dict:
    """SQL queries and Redis round trips (command packets written) per request, in process (Django's test client)."""
    from django.db import connection
    from django.test import Client as DjangoClient
    from django.test.utils import CaptureQueriesContext
    from redis.connection import Connection

    original, written = Connection.send_packed_command, [0]

    def counting(conn, command, check_health=True):
        written[0] += 1
        return original(conn, command, check_health)

    client, result = DjangoClient(), {}
    Connection.send_packed_command = counting
    try:
        for name, case in cases.items():
            method, path, headers, body, expected = case(10_000)
            extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "Content-Type"}
            send = lambda: client.generic(method, path, data=body or b"", content_type=headers.get("Content-Type"), **extra)  # noqa: E731
            send()  # warm (key cache, scripts, windows)
            written[0] = 0
            with CaptureQueriesContext(connection) as queries:
                response = send()
            assert response.status_code == expected, (name, response.status_code, response.content[:200])
            result[name] = {"queries": len(queries), "redis_round_trips": written[0]}
    finally:
        Connection.send_packed_command = original
    return result


def build_cases(seeded: dict) -> dict:
    auth = {"Authorization": f"Bearer {seeded['key']}"}
    json_headers = {**auth, "Content-Type": "application/json"}
    rid, item = seeded["response_id"], seeded["item_id"]
    get = lambda path: lambda i: ("GET", path, auth, None, 200)  # noqa: E731
    return {
        FLOOR: lambda i: ("GET", "/bench/floor", {}, None, 200),
        "floor + one Redis GET": lambda i: ("GET", "/bench/redis-get", {}, None, 200),
        "floor + two Redis GETs (one after the other)": lambda i: ("GET", "/bench/redis-two-gets", {}, None, 200),
        "floor + one durable INSERT": lambda i: ("GET", "/bench/durable-insert", {}, None, 200),
        "resolve (hot, 40 items)": get(f"/v1/sessions/resolve?previous_response_id={rid}"),
        "append (1 item, durable)": lambda i: (
            "POST", f"/v1/sessions/bench-append-{i % 200}/append", json_headers,
            json.dumps({"role": "user", "content": f"message {i}"}).encode(), 201,
        ),
        "context (hot, default budget)": get("/v1/sessions/bench-hot/context"),
        "GET /v1/sessions/{id}": get("/v1/sessions/bench-hot"),
        "GET /v1/sessions/{id}/items (page of 20)": get("/v1/sessions/bench-hot/items?limit=20"),
        "conversations.retrieve": get("/v1/conversations/bench-hot"),
        "conversations.items.list": get("/v1/conversations/bench-hot/items"),
        "conversations.items.retrieve (one item)": get(f"/v1/conversations/bench-hot/items/{item}"),
        "responses.retrieve": get(f"/v1/responses/{rid}"),
    }


def goals_of(latency: dict, ratios: dict, rps_ratio: float) -> dict:
    goals = {f"{name} p50 <= {limit}x floor p50": ratios[name] <= limit for name, limit in GOALS.items()}
    for name, ratio in ratios.items():
        if name not in GOALS and not name.startswith("floor"):
            goals[f"{name} p50 <= {READ_GOAL}x floor p50"] = ratio <= READ_GOAL
    goals["resolve req/s at 16 clients >= 0.8x Redis-GET view"] = rps_ratio >= 0.8
    return goals


def main() -> None:
    django_setup()
    seeded = seed()
    cases = build_cases(seeded)
    auth = {"Authorization": f"Bearer {seeded['key']}"}
    resolve_path = cases["resolve (hot, 40 items)"](0)[1]
    server = Serve(workers=WORKERS)
    try:
        status, body = Client(server.port).request("GET", resolve_path, auth)
        assert status == 200 and len(json.loads(body)["items"]) == 40, body[:300]
        latency, keep_alive = single_client(server.port, cases, SINGLE_REQUESTS)
        loader = load_wrk if shutil.which("wrk") else load_python
        throughput = {
            "floor + one Redis GET": loader(server.port, "/bench/redis-get", {}),
            "resolve (hot, 40 items)": loader(server.port, resolve_path, auth),
            FLOOR: loader(server.port, "/bench/floor", {}),
        }
    finally:
        server.stop()
    counted = costs(cases)
    floor = latency[FLOOR]["p50_ms"]
    ratios = {name: round(stats["p50_ms"] / floor, 3) for name, stats in latency.items()}
    rps_ratio = round(throughput["resolve (hot, 40 items)"] / throughput["floor + one Redis GET"], 3)
    goals = goals_of(latency, ratios, rps_ratio)
    path = write_result(
        "api_latency",
        {
            "postgres": {"fsync": seeded["fsync"], "synchronous_commit": seeded["synchronous_commit"]},
            "server": "convostore-serve", "workers": WORKERS, "client": "one keep-alive connection per client",
            "keep_alive": keep_alive, "load_tool": "wrk" if shutil.which("wrk") else "python threads (keep-alive)",
            "single_client": latency, "p50_over_floor_p50": ratios, "costs": counted,
            "req_per_s_16_clients": {k: round(v, 1) for k, v in throughput.items()},
            "resolve_rps_over_redis_get_rps": rps_ratio,
            "goals_met": goals,
        },
    )
    rows = [
        [name, stats["p50_ms"], stats["p99_ms"], ratios[name], counted[name]["queries"], counted[name]["redis_round_trips"],
         round(throughput[name], 1) if name in throughput else "—"]
        for name, stats in latency.items()
    ]
    print(markdown_table(["endpoint", "p50 ms", "p99 ms", "p50 / floor p50", "SQL queries", "Redis round trips",
                          "req/s (16 clients)"], rows))
    print(f"\nfsync={seeded['fsync']} synchronous_commit={seeded['synchronous_commit']}; keep-alive {keep_alive}; "
          f"resolve req/s / Redis-GET view req/s {rps_ratio}")
    print("goals: " + json.dumps(goals, indent=1))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
