"""/metrics: every documented series from the first scrape, commands counted with the rest, HTTP series by view."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from prometheus_client import CollectorRegistry, generate_latest, multiprocess

from convostore.schedule import SCHEDULE
from tests.sessions_app.admin_fixtures import build_conversation

ROOT = Path(__file__).resolve().parents[2]
FIRST_SCRAPE = """
import django
django.setup()
from django.test import Client
print(Client().get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode())
"""


def documented_metrics() -> list[str]:
    """The series docs/operations.md lists (the backticked names of its "Series:" paragraph)."""
    text = (ROOT / "docs" / "operations.md").read_text()
    series = text[text.index("Series:"):].split("\n- ", 1)[0]
    return re.findall(r"`([a-z_]+)(?:\{[^`]*\})?`", series)


def samples(body: str) -> dict[str, float]:
    """'name{labels}' → value, for every sample line of an exposition."""
    found = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


@pytest.fixture
def multiproc_dir(tmp_path):
    """An empty multiprocess directory of the test's own (as `make run` empties its own at each start)."""
    path = tmp_path / "prometheus"
    path.mkdir()
    return path


def run_python(code_or_args, multiproc_dir, **env) -> str:
    """A fresh process of the project (its own first scrape or command) writing to ``multiproc_dir``."""
    args = ["-c", code_or_args] if isinstance(code_or_args, str) else code_or_args
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir), **env}
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def database_url() -> str:
    database = connection.settings_dict
    return f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_the_first_scrape_exports_every_documented_series_at_zero(multiproc_dir):
    body = run_python(FIRST_SCRAPE, multiproc_dir, DATABASE_URL=database_url())
    values = samples(body)
    documented = documented_metrics()
    assert len(documented) >= 14 and {"redis_failures_total", "archived_bytes_total", "semantic_cache_lookups_total",
                                      "task_failures_total"} <= set(documented)
    for name in documented:
        assert re.search(rf"^# TYPE {name.removesuffix('_total')}(_total)? ", body, re.M), name
    for event in ("hit", "miss", "rebuild"):
        assert values[f'hot_window_events_total{{event="{event}"}}'] == 0
    for form in ("raw", "stored"):
        assert values[f'archived_bytes_total{{form="{form}"}}'] == 0
    for outcome in ("hit", "miss", "unavailable"):
        assert values[f'semantic_cache_lookups_total{{outcome="{outcome}"}}'] == 0
    for layer in ("hot", "semantic", "embeddings"):
        assert values[f'redis_failures_total{{layer="{layer}"}}'] == 0
    for kind in ("evict", "archive", "rehydrate", "summarise", "embed", "purge"):
        assert values[f'lifecycle_conversations_total{{kind="{kind}"}}'] == 0
    for _, task, _ in SCHEDULE:
        assert values[f'task_failures_total{{task="{task}"}}'] == 0
        assert values[f'task_duration_seconds_count{{task="{task}"}}'] == 0
    for name in ("append_conflicts_total", "idempotent_replays_total", "apc_fingerprint_changes_total"):
        assert values[name] == 0
    for name in ("resolve_latency_ms", "append_latency_ms", "session_size_bytes", "estimated_input_tokens"):
        assert values[f"{name}_count"] == 0
    for tier in ("hot", "warm", "cold"):
        assert values[f'conversations{{tier="{tier}"}}'] == 0 and values[f'conversation_bytes{{tier="{tier}"}}'] == 0


@pytest.mark.django_db(transaction=True)
def test_work_done_by_a_command_is_counted_in_the_same_metrics(tenant, multiproc_dir):
    build_conversation(tenant, "idle", 4, with_call=False)
    out = run_python([str(ROOT / "manage.py"), "evict", "--idle-seconds", "0", "--tenant", tenant.name], multiproc_dir,
                     DATABASE_URL=database_url())
    assert out.strip() == "1 conversation evicted"
    out = run_python([str(ROOT / "manage.py"), "archive", "--all", "--tenant", tenant.name], multiproc_dir,
                     DATABASE_URL=database_url())
    assert out.strip() == "1 conversation archived"
    aggregate = CollectorRegistry()
    multiprocess.MultiProcessCollector(aggregate, path=str(multiproc_dir))
    values = samples(generate_latest(aggregate).decode())
    assert values['lifecycle_conversations_total{kind="evict"}'] == 1
    assert values['lifecycle_conversations_total{kind="archive"}'] == 1  # bulk-created events are counted too
    assert values['archived_bytes_total{form="raw"}'] > values['archived_bytes_total{form="stored"}'] > 0


@pytest.mark.django_db
def test_http_requests_are_counted_by_view_method_and_status(client):
    client.get("/healthz")
    client.get("/v1/sessions/resolve?previous_response_id=resp_x")  # 401 without a key
    values = samples(client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode())
    assert values['django_http_responses_total_by_status_view_method_total{method="GET",status="200",view="healthz"}'] >= 1
    assert any(name.startswith("django_http_responses_total_by_status_view_method_total{") and 'status="401"' in name
               for name in values)
    assert values['django_http_requests_latency_seconds_by_view_method_count{method="GET",view="healthz"}'] >= 1


@pytest.mark.django_db
def test_api_work_feeds_the_histograms_and_counters(api, client):
    api.post("/v1/sessions/m1/append", {"items": [{"role": "user", "content": "hi"}]}, format="json")
    api.get("/v1/sessions/m1/context")
    values = samples(client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode())
    assert values["session_size_bytes_count"] >= 1 and values["estimated_input_tokens_count"] >= 1
    assert values["append_latency_ms_count"] >= 1
    assert values['conversations{tier="hot"}'] == 1 and values['conversation_bytes{tier="hot"}'] > 0
