"""Shared benchmark plumbing: Django setup, the production server on a free port, timing and result files."""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))


def django_setup(settings_module: str = "bench.settings_bench") -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    import django

    django.setup()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Serve:
    """convostore-serve (the production server) on 127.0.0.1:<free port> with this process's environment."""

    def __init__(self, workers: int = 4, settings_module: str = "bench.settings_bench", threads: int | None = None):
        self.port = free_port()
        env = dict(os.environ, DJANGO_SETTINGS_MODULE=settings_module, PYTHONPATH=str(ROOT), LOG_LEVEL="WARNING")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "convostore.serve", "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers)]
            + (["--threads", str(threads)] if threads else []),
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("convostore-serve did not start")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(20)


def percentiles(samples_ms: list[float]) -> dict:
    ordered = sorted(samples_ms)

    def pick(q):
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(pick(0.95), 3),
        "p99_ms": round(pick(0.99), 3),
        "mean_ms": round(statistics.fmean(ordered), 3),
    }


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_avg": os.getloadavg(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_result(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2, sort_keys=True) + "\n")
    return path


def markdown_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def calls_per_second(worker, clients: int, seconds: float) -> float:
    """Calls/s of ``clients`` threads started together, each running ``worker(index, stop_at)`` until
    ``time.monotonic()`` passes ``stop_at`` and returning how many calls it made."""
    done = [0] * clients
    stop_at = time.monotonic() + seconds

    def run(index):
        done[index] = worker(index, stop_at)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.monotonic() - started)
