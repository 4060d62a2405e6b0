"""Slow and idle clients do not starve the production server (convostore-serve) — real sockets, real processes.

With 16 connections of each kind open — idle, trickling their headers, trickling their body, asking for a
streaming answer and never reading it — /healthz and a hot resolve still answer. The bound (5 s) only
says "answered at all"; the latencies are measured in bench/http_servers.py.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from bench.slow_clients import slow_connections
from sessions_app.services import api_key_create, response_store

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(port: int, path: str, headers: dict | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        return conn.getresponse().status
    finally:
        conn.close()


def serve(redis_prefix, tmp_path, *args: str, stderr=None, **environ: str):
    """Start `convostore-serve` (its console-script entry point) on the test database; (process, port) once it answers."""
    port = free_port()
    db = connection.settings_dict
    metrics = tmp_path / "prometheus"
    metrics.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.security.serving_settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": django_settings.CACHES["hot"]["LOCATION"],
        "CONVOSTORE_KEY_PREFIX": redis_prefix,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        "LOG_LEVEL": "WARNING",
        **environ,
    }
    process = subprocess.Popen([sys.executable, "-c", "from convostore.serve import main; main()", "--bind",
                                f"127.0.0.1:{port}", *args], env=env, cwd=ROOT, stderr=stderr)
    deadline = time.monotonic() + 60
    while True:
        try:
            if get(port, "/healthz") == 200:
                return process, port
        except OSError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, "convostore-serve did not start"
        time.sleep(0.2)


@pytest.fixture
def served(redis_prefix, tmp_path):
    """convostore-serve with 2 workers × 2 threads."""
    process, port = serve(redis_prefix, tmp_path, "--workers", "2", "--threads", "2")
    yield port
    process.terminate()
    assert process.wait(30) == 0


@pytest.fixture
def hot_resolve(tenant):
    key = api_key_create(tenant=tenant, name="slow-clients").raw_key
    stored = response_store(tenant=tenant, conversation_id="slow-hot", input_items=[{"role": "user", "content": "hi"}],
                            output_items=[{"role": "assistant", "content": "hello"}])
    return f"/v1/sessions/resolve?previous_response_id={stored.body['response_id']}", {"Authorization": f"Bearer {key}"}


def test_the_console_script_is_convostore_serve():
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["convostore-serve"] == "convostore.serve:main"


def test_sixteen_slow_clients_leave_health_and_resolve_answering(served, hot_resolve):
    path, auth = hot_resolve
    assert get(served, path, auth) == 200
    # 16 of a kind against 2 workers × 2 threads: a server that gave each a thread would have none left.
    # One server for every kind (starting one costs seconds); each kind's connections close before the next.
    for kinds in ({"idle": 16}, {"slow_headers": 16}, {"slow_body": 16}, {"stalled_reader": 16},
                  {"idle": 4, "slow_headers": 4, "slow_body": 4, "stalled_reader": 4}):
        with slow_connections(served, kinds, stream_path="/test/stream", headers=auth):
            for _ in range(3):
                assert get(served, "/healthz") == 200, kinds
                assert get(served, path, auth) == 200, kinds
