"""Gateway mode: what ConvoStore adds in front of a model server, against the store's own resolve and append, in one run.

    .venv/bin/python -m convostore.devservers exec .venv/bin/python bench/gateway.py

The fake upstream (tests/gateway/fake_upstream.py, its own process) is called directly and through
ConvoStore (convostore-serve, default route = chat_completions) for 40-item conversations, by POST /v1/responses
(previous_response_id) and by POST /v1/chat/completions (convostore.conversation; the same conversation right after, so
42 items): non-streaming p50/p99 with one client, time to first byte and to the first text delta when streaming,
req/s with 16 clients, a semantic-cache hit, and 16 slow streams at once under sync and gthread workers
(what an open stream costs a worker). Resolve of a hot 40-item conversation, a durable
one-item append, the native store of a response (what gateway mode writes), a semantic-cache lookup by text (embedding + lookup) and the SDK's own overhead
(the openai client's generic request, as ConvoStore makes it, vs a bare HTTP call to the fake) are measured in the same run for the goals.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import ROOT, Serve, calls_per_second, django_setup, free_port, markdown_table, percentiles, write_result  # noqa: E402

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "300"))
STREAMS = int(os.environ.get("BENCH_STREAMS", "150"))
CONCURRENCY = 16
LOAD_SECONDS = int(os.environ.get("BENCH_LOAD_SECONDS", "8"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
THREADS = int(os.environ.get("BENCH_THREADS", "8"))
BOOT_SECONDS = int(os.environ.get("BENCH_BOOT_SECONDS", "15"))
CONVERSATIONS = REQUESTS + STREAMS + CONCURRENCY * 6


def start_upstream() -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tests.gateway.fake_upstream", str(port)], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    process.stdout.readline()
    return process, port


def seed(conversations: int) -> dict:
    """Conversations of 40 items each (38 turns + one stored response); the head response id of each."""
    from sessions_app.services import api_key_create, conversation_append, response_store, tenant_create

    tenant, _ = tenant_create(name=f"bench-gw-{int(time.time())}")
    key = api_key_create(tenant=tenant, name="bench").raw_key
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"Turn {i}: " + "some words here " * 12} for i in range(38)]
    heads = []
    for n in range(conversations):
        for start in range(0, len(turns), 19):
            conversation_append(tenant=tenant, conversation_id=f"gw-{n}", items=turns[start:start + 19])
        stored = response_store(tenant=tenant, conversation_id=f"gw-{n}", input_items=[{"role": "user", "content": "And finally?"}],
                                output_items=[{"role": "assistant", "content": "Finally, this."}])
        heads.append(stored.body["response_id"])
    from sessions_app.gateway.translate import items_to_messages

    context = turns + [{"type": "message", "role": "user", "content": "And finally?"},
                       {"type": "message", "role": "assistant", "content": "Finally, this."}]
    direct = {"model": "bench", "messages": items_to_messages(context + [{"role": "user", "content": "next question"}], instructions=None)}
    return {"key": key, "heads": heads, "direct": direct}


def post(port: int, path: str, headers: dict, body: dict) -> tuple[int, bytes, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", path, body=json.dumps(body).encode(), headers={**headers, "Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data, {name.lower(): value for name, value in response.getheaders()}  # servers differ in case


def get(port: int, path: str, headers: dict) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def stream_times(port: int, path: str, headers: dict, body: dict, delta_marker: bytes) -> tuple[float, float]:
    """(ms to the first body byte, ms to the first text delta) of a streamed POST; the rest is read and dropped."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    started = time.perf_counter()
    conn.request("POST", path, body=json.dumps(body).encode(), headers={**headers, "Content-Type": "application/json"})
    response = conn.getresponse()
    assert response.status == 200, response.read()[:300]
    first = response.read1(1)
    first_byte = (time.perf_counter() - started) * 1000
    seen, first_delta = first, None
    while True:
        chunk = response.read1(65536)
        if not chunk:
            break
        seen += chunk
        if first_delta is None and delta_marker in seen:
            first_delta = (time.perf_counter() - started) * 1000
    conn.close()
    return first_byte, first_delta or first_byte


def main() -> None:
    upstream, upstream_port = start_upstream()
    os.environ["CONVOSTORE_UPSTREAM_URL"] = f"http://127.0.0.1:{upstream_port}/v1"
    os.environ["CONVOSTORE_UPSTREAM_API"] = "chat_completions"
    os.environ["CONVOSTORE_UPSTREAM_MAX_RETRIES"] = "0"
    django_setup()
    seeded = seed(CONVERSATIONS)
    heads = list(seeded["heads"])
    auth = {"Authorization": f"Bearer {seeded['key']}"}
    slow_heads = heads[-2 * CONCURRENCY:]
    server = Serve(workers=WORKERS, threads=THREADS)
    try:
        results = measure(server.port, upstream_port, auth, heads[:-2 * CONCURRENCY], seeded["direct"])
        results["slow_streams"] = {f"convostore-serve {WORKERS}x{THREADS}": slow_streams(server.port, auth, slow_heads[:CONCURRENCY])}
    finally:
        server.stop()
        upstream.terminate()
        upstream.wait(10)
    report(results)


def warm(port: int, auth: dict, head: str) -> None:
    """Every worker's first gateway request loads the URLconf, the openai SDK and the BPE tables (~0.5 s on this
    machine): pay that before the clock starts (store: false writes nothing)."""
    for _ in range(12 * WORKERS):
        get(port, f"/v1/sessions/resolve?previous_response_id={head}", auth)
        status, data, _ = post(port, "/v1/responses", auth, {"model": "bench", "input": "warm", "previous_response_id": head,
                                                             "store": False})
        assert status == 200, data[:300]
        status, data, _ = post(port, "/v1/chat/completions", auth, {"model": "bench", "messages": [{"role": "user", "content": "warm"}]})
        assert status == 200, data[:300]


def slow_streams(port: int, auth: dict, heads: list[str]) -> dict:
    """16 streams at once from an upstream generating 100 words/s (about 1 s each): time to each stream's first
    text delta and to its end. With sync workers every open stream holds a whole worker."""
    firsts, totals = [], []
    time.sleep(BOOT_SECONDS)  # every worker booted (a booting worker's CPU would be charged to the streams)
    warm(port, auth, heads[0])

    def one(head):
        started = time.perf_counter()
        _, delta = stream_times(port, "/v1/responses", auth, {"model": "bench", "input": "!slow 100", "previous_response_id": head,
                                                              "stream": True}, b"response.output_text.delta")
        firsts.append(delta)
        totals.append((time.perf_counter() - started) * 1000)

    threads = [threading.Thread(target=one, args=(head,)) for head in heads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"first_delta": percentiles(firsts), "whole_stream": percentiles(totals)}


def measure(port: int, upstream_port: int, auth: dict, heads: list[str], direct: dict) -> dict:
    import openai

    sdk = openai.OpenAI(base_url=f"http://127.0.0.1:{upstream_port}/v1", api_key="x", max_retries=0)
    samples = {name: [] for name in ("direct", "gateway", "chat", "resolve", "append", "store_response", "sdk_direct",
                                     "cache_lookup", "cache_hit")}
    cache_body = {"model": "bench", "input": "What is the capital of France?", "convostore": {"semantic_cache": {}}}
    assert post(port, "/v1/responses", auth, cache_body)[0] == 200  # the miss that fills the cache
    lookup = {"namespace": "bench-lookup", "text": "What is the capital of France?"}
    warm(port, auth, heads[-1])
    for _ in range(20):
        post(upstream_port, "/v1/chat/completions", {}, direct)
    for i in range(REQUESTS):
        head = heads[i]
        samples["direct"].append(timed(lambda: post(upstream_port, "/v1/chat/completions", {}, direct)))
        samples["sdk_direct"].append(timed(lambda: sdk.post("/chat/completions", cast_to=object, body=direct)))
        samples["resolve"].append(timed(lambda: get(port, f"/v1/sessions/resolve?previous_response_id={head}", auth)))

        def gateway():
            status, data, _ = post(port, "/v1/responses", auth, {"model": "bench", "input": "next question", "previous_response_id": head})
            assert status == 200, data[:300]

        samples["gateway"].append(timed(gateway))
        samples["chat"].append(timed(lambda: chat(port, auth, f"gw-{i}")))
        samples["append"].append(timed(lambda: post(port, f"/v1/sessions/bench-append-{i % 50}/append", auth,
                                                    {"role": "user", "content": f"message {i}"})))
        samples["store_response"].append(timed(lambda: post(port, "/v1/sessions/responses", auth, {
            "conversation_id": f"bench-native-{i % 50}", "input": [{"role": "user", "content": "next question"}],
            "output": [{"role": "assistant", "content": "echo: next question"}]})))
        samples["cache_lookup"].append(timed(lambda: post(port, "/v1/cache/lookup", auth, lookup)))

        def hit():
            status, data, headers = post(port, "/v1/responses", auth, cache_body)
            assert status == 200 and headers.get("x-convostore-cache") == "hit", (status, headers)

        samples["cache_hit"].append(timed(hit))
    streamed = {name: [] for name in ("direct_first_byte", "direct_first_delta", "gateway_first_byte", "gateway_first_delta",
                                      "chat_first_byte", "chat_first_delta")}
    for i in range(STREAMS):
        head = heads[REQUESTS + i]
        byte, delta = stream_times(upstream_port, "/v1/chat/completions", {}, {**direct, "stream": True}, b'"content":"echo')
        streamed["direct_first_byte"].append(byte)
        streamed["direct_first_delta"].append(delta)
        byte, delta = stream_times(port, "/v1/responses", auth, {"model": "bench", "input": "next question", "previous_response_id": head,
                                                                 "stream": True}, b"response.output_text.delta")
        streamed["gateway_first_byte"].append(byte)
        streamed["gateway_first_delta"].append(delta)
        byte, delta = stream_times(port, "/v1/chat/completions", auth, {**chat_body(f"gw-{REQUESTS + i}"), "stream": True},
                                   b'"content":"echo')
        streamed["chat_first_byte"].append(byte)
        streamed["chat_first_delta"].append(delta)
    sdk.close()
    load_heads = heads[REQUESTS + STREAMS:]
    throughput = {
        "direct": load(lambda c, n: post(upstream_port, "/v1/chat/completions", {}, direct)[0]),
        "gateway": load_chained(port, auth, load_heads),
    }
    return {"single": {k: percentiles(v) for k, v in samples.items()},
            "stream": {k: percentiles(v) for k, v in streamed.items()}, "throughput": throughput}


def chat_body(conversation_id: str) -> dict:
    return {"model": "bench", "messages": [{"role": "user", "content": "next question"}], "convostore": {"conversation": conversation_id}}


def chat(port: int, auth: dict, conversation_id: str) -> None:
    """One chat create continuing a stored conversation (its history prepended, the turn stored)."""
    status, data, _ = post(port, "/v1/chat/completions", auth, chat_body(conversation_id))
    assert status == 200, data[:300]


def load(call) -> float:
    def worker(index, stop_at):
        n = 0
        while time.monotonic() < stop_at:
            assert call(index, n) == 200
            n += 1
        return n

    return round(calls_per_second(worker, CONCURRENCY, LOAD_SECONDS), 1)


def load_chained(port: int, auth: dict, heads: list[str]) -> float:
    """Each client continues the heads of its own conversations (extensions, never forks)."""
    own = {c: heads[c::CONCURRENCY] for c in range(CONCURRENCY)}

    def call(client, n):
        mine = own[client]
        status, data, _ = post(port, "/v1/responses", auth, {"model": "bench", "input": "go on", "previous_response_id": mine[n % len(mine)]})
        if status == 200:
            mine[n % len(mine)] = json.loads(data)["id"]
        return status

    return load(call)


def report(results: dict) -> None:
    single, stream, throughput = results["single"], results["stream"], results["throughput"]
    added = {q: round(single["gateway"][q] - single["direct"][q], 3) for q in ("p50_ms", "p99_ms")}
    store_floor = round(single["resolve"]["p50_ms"] + single["append"]["p50_ms"], 3)
    sdk_overhead = round(single["sdk_direct"]["p50_ms"] - single["direct"]["p50_ms"], 3)
    added_ttfb = round(stream["gateway_first_byte"]["p50_ms"] - stream["direct_first_byte"]["p50_ms"], 3)
    added_first_delta = round(stream["gateway_first_delta"]["p50_ms"] - stream["direct_first_delta"]["p50_ms"], 3)
    chat_added = {q: round(single["chat"][q] - single["direct"][q], 3) for q in ("p50_ms", "p99_ms")}
    chat_ttfb = round(stream["chat_first_byte"]["p50_ms"] - stream["direct_first_byte"]["p50_ms"], 3)
    chat_first_delta = round(stream["chat_first_delta"]["p50_ms"] - stream["direct_first_delta"]["p50_ms"], 3)
    hit_floor = round(single["cache_lookup"]["p50_ms"] + single["append"]["p50_ms"], 3)
    goals = {
        "added p50 <= 1.2 x (resolve p50 + append p50)": added["p50_ms"] <= 1.2 * store_floor,
        "added TTFB p50 <= 1.2 x resolve p50 + SDK overhead p50": added_ttfb <= 1.2 * single["resolve"]["p50_ms"] + sdk_overhead,
        "cache hit p50 <= 1.2 x (embedding + lookup p50 + append p50)": single["cache_hit"]["p50_ms"] <= 1.2 * hit_floor,
        "chat added p50 <= 1.2 x (resolve p50 + append p50)": chat_added["p50_ms"] <= 1.2 * store_floor,
        "chat added TTFB p50 <= 1.2 x resolve p50 + SDK overhead p50": chat_ttfb <= 1.2 * single["resolve"]["p50_ms"] + sdk_overhead,
    }
    payload = {
        "server": "convostore-serve", "workers": WORKERS, "threads": THREADS, "upstream_api": "chat_completions", "requests": REQUESTS, "streams": STREAMS,
        "single_client": single, "streaming": stream, "req_per_s_16_clients": throughput,
        "added_ms": {"non_streaming": added, "ttfb_p50": added_ttfb, "first_delta_p50": added_first_delta},
        "chat_added_ms": {"non_streaming": chat_added, "ttfb_p50": chat_ttfb, "first_delta_p50": chat_first_delta},
        "floors_ms": {"resolve_plus_append_p50": store_floor, "sdk_overhead_p50": sdk_overhead, "lookup_plus_append_p50": hit_floor},
        "goals_met": goals,
    }
    payload["slow_streams_16_at_once"] = results["slow_streams"]
    path = write_result("gateway", payload)
    rows = [[name, s["p50_ms"], s["p99_ms"]] for name, s in {**single, **stream}.items()]
    print(markdown_table(["measure", "p50 ms", "p99 ms"], rows))
    print(f"\nadded {added}, TTFB +{added_ttfb} ms, first delta +{added_first_delta} ms; floors {payload['floors_ms']}")
    print(f"chat: added {chat_added}, TTFB +{chat_ttfb} ms, first delta +{chat_first_delta} ms")
    print(f"req/s at {CONCURRENCY} clients {throughput}; goals {goals}")
    for kind, stats in results["slow_streams"].items():
        print(f"16 slow streams at once, {WORKERS} {kind} workers: first delta p50 {stats['first_delta']['p50_ms']} ms, "
              f"max {stats['first_delta']['p99_ms']} ms; whole stream p50 {stats['whole_stream']['p50_ms']} ms")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
