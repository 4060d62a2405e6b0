"""16 concurrent clients, mixed append / resolve / context / cache over many conversations, eviction running.

Bounded in time and count; no timed assertion. The error rate must be zero and reconciliation exact:
every acknowledged item is readable, byte-identical, exactly once. Latency percentiles are reported
to tests/artifacts/load-<seconds>s.json (the short form runs in `make test`, the long one in `make test-all`).
Latencies include queueing: 16 clients share convostore-serve (3 workers × 4 threads) on the machine that also runs the
clients, Postgres and Redis; the assertions are about errors and reconciliation only.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from sessions_app.models import Conversation
from sessions_app.selectors import context_entries
from sessions_app.services import api_key_create, tenant_create

CLIENTS = 16
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


class Client:
    def __init__(self, base: str, key: str):
        parsed = urlparse(base)
        self.host, self.port = parsed.hostname, parsed.port
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        started = time.perf_counter()
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=self.headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, data, (time.perf_counter() - started) * 1000


def _percentiles(values):
    ordered = sorted(values) or [0.0]
    return {q: round(ordered[min(len(ordered) - 1, int(len(ordered) * p))], 2) for q, p in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))}


def _worker(client, index, deadline, max_ops, conversations, acknowledged, latencies, errors, lock):
    rng = random.Random(index)
    responses: list[tuple[str, str]] = []
    for op in range(max_ops):
        if time.monotonic() > deadline:
            break
        conversation_id = rng.choice(conversations)
        kind = rng.choices(["append", "respond", "resolve", "context", "cache"], [4, 2, 3, 2, 1])[0]
        if kind == "resolve" and not responses:
            kind = "append"
        if kind == "append":
            text = f"w{index}-op{op}-{rng.random()}"
            status, data, ms = client.call("POST", f"/v1/sessions/{conversation_id}/append", {"role": "user", "content": text})
            if status == 201:
                with lock:
                    acknowledged[conversation_id].append(json.loads(data)["items"][0]["id"])
        elif kind == "respond":
            body = {"conversation_id": conversation_id, "input": [{"role": "user", "content": f"q{index}.{op}"}],
                    "output": [{"role": "assistant", "content": f"a{index}.{op}"}]}
            status, data, ms = client.call("POST", "/v1/sessions/responses", body)
            if status == 201:
                responses.append((json.loads(data)["response_id"], conversation_id))
        elif kind == "resolve":
            response_id, _ = rng.choice(responses)
            status, data, ms = client.call("GET", f"/v1/sessions/resolve?previous_response_id={response_id}")
        elif kind == "context":
            status, data, ms = client.call("GET", f"/v1/sessions/{conversation_id}/context?max_tokens=2000")
            if status == 404:  # not created yet by anyone
                status = 200
        else:
            body = {"namespace": "load", "text": f"question {rng.randrange(50)}", "response": {"answer": op}}
            status, data, ms = client.call("POST", "/v1/cache/store" if op % 2 else "/v1/cache/lookup", body)
            status = 200 if status in (200, 201) else status
        latencies[kind].append(ms)
        if status not in (200, 201):
            with lock:
                errors.append((kind, status, data[:200]))


def _evictor(deadline, stop):
    from django.db import connection

    from sessions_app import lifecycle

    try:
        while time.monotonic() < deadline and not stop.is_set():
            lifecycle.evict_idle(idle_seconds=0)
            stop.wait(0.5)
    finally:
        connection.close()  # this thread's own connection, or the test database cannot be dropped


@pytest.fixture
def served(redis_prefix):
    """The real server: convostore-serve (3 workers) on a free port, on the test database and Redis."""
    import socket
    import subprocess
    import sys

    from django.conf import settings as django_settings
    from django.db import connection

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "convostore.settings.base",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": django_settings.CACHES["hot"]["LOCATION"],
        "CONVOSTORE_KEY_PREFIX": redis_prefix,
        "CONVOSTORE_RATE_LIMIT_PER_MINUTE": "0",
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "convostore.serve", "--bind", f"127.0.0.1:{port}", "--workers", "3"],
        env=env, cwd=Path(__file__).resolve().parents[2],
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(30)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "seconds,conversation_count,max_ops",
    [pytest.param(6, 200, 150, id="short"), pytest.param(60, 1000, 5000, id="long", marks=pytest.mark.slow)],
)
def test_mixed_load_with_eviction_loses_nothing(served, settings, seconds, conversation_count, max_ops):
    settings.CONVOSTORE = {**settings.CONVOSTORE, "RATE_LIMIT_PER_MINUTE": 0}
    tenant, _ = tenant_create(name=f"load-{seconds}")
    key = api_key_create(tenant=tenant).raw_key
    conversations = [f"load-{i}" for i in range(conversation_count)]
    acknowledged = {c: [] for c in conversations}
    latencies = {k: [] for k in ("append", "respond", "resolve", "context", "cache")}
    errors, lock, stop = [], threading.Lock(), threading.Event()
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(target=_worker, args=(Client(served, key), i, deadline, max_ops, conversations,
                                               acknowledged, latencies, errors, lock))
        for i in range(CLIENTS)
    ]
    evictor = threading.Thread(target=_evictor, args=(deadline, stop))
    for thread in threads + [evictor]:
        thread.start()
    for thread in threads:
        thread.join(seconds + 120)
    stop.set()
    evictor.join(30)

    assert errors == [], errors[:5]
    total_items = 0
    for conversation in Conversation.objects.filter(tenant=tenant):
        entries = context_entries(conversation, conversation.last_seq)
        ids = [json.loads(entry.raw)["id"] for entry in entries]
        assert len(ids) == len(set(ids)), "an item appears twice"
        assert [e.seq for e in entries] == list(range(1, conversation.last_seq + 1)), "seqs not gapless"
        assert set(acknowledged[conversation.conversation_id]) <= set(ids), "an acknowledged item is missing"
        total_items += len(ids)
    report = {
        "clients": CLIENTS, "seconds": seconds, "conversations": conversation_count,
        "requests": {k: len(v) for k, v in latencies.items()}, "latency_ms": {k: _percentiles(v) for k, v in latencies.items()},
        "items_reconciled": total_items, "errors": len(errors),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"load-{seconds}s.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report))
    assert sum(report["requests"].values()) > 0
