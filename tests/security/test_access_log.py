"""convostore-serve --access-log writes one JSON object per request, like every other log line (docs/operations.md)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.security.test_slow_clients import get, serve

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_access_log_is_one_json_object_per_request_without_the_query_string(redis_prefix, tmp_path):
    process, port = serve(redis_prefix, tmp_path, "--workers", "1", "--threads", "1", "--access-log",
                          stderr=subprocess.PIPE, LOG_FORMAT="json", LOG_LEVEL="INFO")
    try:
        assert get(port, "/healthz?probe=secret-value") == 200
        assert get(port, "/no-such-page") == 404
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[1].decode()
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("logger") == "granian.access"]
    assert {(line["method"], line["path"], line["status"]) for line in access} >= {
        ("GET", "/healthz", 200), ("GET", "/no-such-page", 404)}
    assert all(isinstance(line["dt_ms"], float) and line["dt_ms"] >= 0 and line["addr"] for line in access)
    assert "secret-value" not in output
