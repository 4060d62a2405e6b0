"""The HTTP-server decision, measured: gunicorn sync, gunicorn gthread and granian (convostore-serve) side by side.

    .venv/bin/python scripts/devservers.py exec .venv/bin/python bench/http_servers.py

For each server, in one run and on the same seeded data: p50/p99 with one client (a new connection per
request) for the plain Django view (the floor), a hot resolve and a durable one-item append; req/s with 16
clients (wrk, keep-alive when the server offers it) for the same three; ratios to that server's floor. Rounds
alternate the servers (BENCH_ROUNDS, 3) and the table shows the median of the rounds. Then, once per
server, slow-client resilience: /healthz and a hot resolve (one client, BENCH_PROBES each) with no other
client, then with 16 connections of each kind open (idle, slow headers, slow body, a stalled reader of a
streaming answer); a probe that takes over 5 s counts as failed, and a kind stops after 3 failed probes.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.api_latency import request, seed, single_client  # noqa: E402
from bench.common import ROOT, django_setup, free_port, markdown_table, percentiles, write_result  # noqa: E402
from bench.slow_clients import slow_connections  # noqa: E402

WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
THREADS = int(os.environ.get("BENCH_THREADS", "4"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SINGLE_REQUESTS = int(os.environ.get("BENCH_REQUESTS", "300"))
LOAD_SECONDS = int(os.environ.get("BENCH_LOAD_SECONDS", "4"))
PROBES = int(os.environ.get("BENCH_PROBES", "20"))
SLOW = 16


def commands(port: int) -> dict[str, list[str]]:
    gunicorn = [sys.executable, "-m", "gunicorn", "convostore.wsgi", "--timeout", "30", "--graceful-timeout", "20", "-b", f"127.0.0.1:{port}",
                "-w", str(WORKERS), "--log-level", "warning"]
    return {
        "gunicorn sync": gunicorn + ["-k", "sync"],
        "gunicorn gthread": gunicorn + ["-k", "gthread", "--threads", str(THREADS)],
        "granian wsgi": [sys.executable, "-m", "granian", "--interface", "wsgi", "--workers", str(WORKERS), "--blocking-threads",
                         str(THREADS), "--http", "1", "--no-ws", "--log-level", "warning", "--host", "127.0.0.1", "--port",
                         str(port), "convostore.wsgi:application"],
        "granian + bridge (convostore-serve)": [sys.executable, "-m", "convostore.serve", "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS),
                                       "--threads", str(THREADS)],
    }


class Server:
    def __init__(self, name: str):
        self.port = free_port()
        env = dict(os.environ, DJANGO_SETTINGS_MODULE="bench.settings_bench", PYTHONPATH=str(ROOT))
        self.process = subprocess.Popen(commands(self.port)[name], env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if request(self.port, "GET", "/healthz", {})[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{name} did not start")

    def rss_mb(self) -> float:
        """Resident memory of the server and all its descendants, MiB (from /proc)."""
        total, pending = 0, [self.process.pid]
        while pending:
            pid = pending.pop()
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
                for task in Path(f"/proc/{pid}/task").iterdir():
                    pending += [int(c) for c in (task / "children").read_text().split()]
            except (OSError, AttributeError):
                continue
        return round(total / 1024, 1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(25)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def wrk(port: int, path: str, headers: dict, script: str | None = None) -> float:
    args = ["wrk", "-t", "2", "-c", "16", "-d", f"{LOAD_SECONDS}s"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    if script:
        args += ["-s", script]
    output = subprocess.run(args + [f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True).stdout
    assert "Non-2xx" not in output, output
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))


APPEND_LUA = """
counter = 0
request = function()
  counter = counter + 1
  local body = '{"role": "user", "content": "load ' .. counter .. '"}'
  return wrk.format("POST", "/v1/sessions/load-" .. (counter % 64) .. "/append", nil, body)
end
"""


def probe(port: int, path: str, headers: dict, n: int) -> dict:
    """n sequential GETs, each on a new connection with a 5 s timeout: p50/max of those that answered 200, and failures."""
    times, failures = [], 0
    for _ in range(n):
        started = time.perf_counter()
        try:
            ok = request(port, "GET", path, headers, timeout=5)[0] == 200
        except OSError:
            ok = False
        if ok:
            times.append((time.perf_counter() - started) * 1000)
        else:
            failures += 1
            if failures >= 3:
                break
    return {"answered": len(times), "failed": failures, "p50_ms": round(statistics.median(times), 2) if times else None,
            "max_ms": round(max(times), 2) if times else None}


def slow_client_run(name: str, auth: dict, resolve_path: str) -> dict:
    server = Server(name)
    try:
        for _ in range(40):  # warm every worker
            request(server.port, "GET", resolve_path, auth)
        results = {"none": {"healthz": probe(server.port, "/healthz", {}, PROBES),
                            "resolve": probe(server.port, resolve_path, auth, PROBES), "rss_mb": server.rss_mb()}}
        for kind in ("idle", "slow_headers", "slow_body", "stalled_reader"):
            with slow_connections(server.port, {kind: SLOW}, stream_path="/bench/stream", headers=auth):
                time.sleep(0.5)  # let the server take them in
                results[kind] = {"healthz": probe(server.port, "/healthz", {}, PROBES),
                                 "resolve": probe(server.port, resolve_path, auth, PROBES), "rss_mb": server.rss_mb()}
            time.sleep(1)
        return results
    finally:
        server.stop()


def main() -> None:
    django_setup()
    seeded = seed()
    auth = {"Authorization": f"Bearer {seeded['key']}"}
    json_headers = {**auth, "Content-Type": "application/json"}
    resolve_path = f"/v1/sessions/resolve?previous_response_id={seeded['response_id']}"
    cases = {
        "floor": lambda i: ("GET", "/bench/floor", {}, None, 200),
        "resolve": lambda i: ("GET", resolve_path, auth, None, 200),
        "append": lambda i: ("POST", f"/v1/sessions/bench-append-{i % 200}/append", json_headers,
                             json.dumps({"role": "user", "content": f"message {i}"}).encode(), 201),
    }
    names = list(commands(0))
    script = Path(tempfile.mkdtemp()) / "append.lua"
    script.write_text(APPEND_LUA)
    rounds = {name: [] for name in names}
    for round_index in range(ROUNDS):
        for name in names if round_index % 2 == 0 else reversed(names):
            server = Server(name)
            try:
                latency = single_client(server.port, cases, SINGLE_REQUESTS)
                rps = {"floor": wrk(server.port, "/bench/floor", {}), "resolve": wrk(server.port, resolve_path, auth),
                       "append": wrk(server.port, "/v1/sessions/x/append", json_headers, str(script))}
            finally:
                server.stop()
            rounds[name].append({"latency": latency, "rps": rps})
            print(f"round {round_index + 1} {name}: " + ", ".join(
                f"{case} p50 {latency[case]['p50_ms']} ms / {rps[case]:.0f} req/s" for case in cases), flush=True)
    slow = {name: slow_client_run(name, auth, resolve_path) for name in names}

    def med(name, case, field):
        values = [r["latency"][case][field] if field != "rps" else r["rps"][case] for r in rounds[name]]
        return round(statistics.median(values), 2 if field != "rps" else 0)

    summary = {}
    rows = []
    for name in names:
        entry = {case: {"p50_ms": med(name, case, "p50_ms"), "p99_ms": med(name, case, "p99_ms"), "rps_16": med(name, case, "rps")}
                 for case in cases}
        floor = entry["floor"]
        entry["ratios"] = {
            "resolve_p50_over_floor": round(entry["resolve"]["p50_ms"] / floor["p50_ms"], 2),
            "append_p50_over_floor": round(entry["append"]["p50_ms"] / floor["p50_ms"], 2),
            "resolve_rps_over_floor": round(entry["resolve"]["rps_16"] / floor["rps_16"], 2),
        }
        summary[name] = entry
        rows.append([name] + [f"{entry[c]['p50_ms']} / {entry[c]['p99_ms']}" for c in cases]
                    + [entry[c]["rps_16"] for c in cases])
    base = summary[names[0]]["floor"]
    for name in names:
        summary[name]["ratios"]["floor_p50_over_gunicorn_sync_floor"] = round(summary[name]["floor"]["p50_ms"] / base["p50_ms"], 2)
    print(markdown_table(["server", "floor p50/p99 ms", "resolve p50/p99 ms", "append p50/p99 ms", "floor req/s",
                          "resolve req/s", "append req/s"], rows))
    slow_rows = []
    for name in names:
        for kind, result in slow[name].items():
            slow_rows.append([name, kind] + [f"{result[p]['answered']}/{result[p]['answered'] + result[p]['failed']} ok, "
                                             f"p50 {result[p]['p50_ms']} max {result[p]['max_ms']} ms" for p in ("healthz", "resolve")]
                             + [result["rss_mb"]])
    print(markdown_table(["server", f"{SLOW} open connections", "/healthz", "hot resolve", "server RSS MiB"], slow_rows))
    for name in names:
        print(name, summary[name]["ratios"])
    path = write_result("http_servers", {
        "workers": WORKERS, "threads_per_worker": THREADS, "rounds": ROUNDS, "single_client_requests": SINGLE_REQUESTS,
        "load_seconds": LOAD_SECONDS, "postgres": {"fsync": seeded["fsync"], "synchronous_commit": seeded["synchronous_commit"]},
        "median_of_rounds": summary, "rounds_raw": rounds, "slow_clients": slow,
    })
    print(f"written to {path}")


if __name__ == "__main__":
    main()
