"""Every setting, command, metric and endpoint README.md and docs/ name exists in the code.

Names are taken from the prose as a reader would: environment variables in capitals, `manage.py X` and
`make manage ARGS="X …"`, backticked commands with options, Prometheus series, and URL paths.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.management import get_commands
from django.urls import Resolver404, resolve

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SOURCES = [*ROOT.glob("convostore/**/*.py"), *ROOT.glob("sessions_app/**/*.py"), *ROOT.glob("cache_app/**/*.py"),
           *ROOT.glob("archive_app/**/*.py"), *ROOT.glob("tests/**/*.py"), *ROOT.glob("bench/*.py"),
           ROOT / "scripts" / "devservers.py", ROOT / "Makefile", ROOT / "manage.py"]
SETTING = re.compile(r"\b((?:CONVOSTORE|DJANGO|DATABASE|REDIS|CELERY|LOG|PROMETHEUS|GUNICORN|OTEL)_[A-Z0-9_]*[A-Z0-9]"
                     r"|WEB_CONCURRENCY|DATA_UPLOAD_MAX_MEMORY_SIZE)\b")
COMMAND = re.compile(r"manage\.py (\w+)|ARGS=\"(\w+)|`(\w+_\w+) (?:--|[A-Z]{2,}\b)")
METRIC = re.compile(r"`((?:\w+_total|\w+_ms|django_http_\w+|\w+(?=\{)))(?:\{[^`]*\})?`")
ENDPOINT = re.compile(r"(?<![\w.])(/(?:v1|healthz|readyz|metrics|admin|api)(?:/[^\s`'\")\]?#,]*)?)")
PLACEHOLDER = re.compile(r"\{[^}]*\}|…")


def docs_text() -> str:
    return "\n".join(path.read_text() for path in DOCS)


def named(pattern: re.Pattern) -> set[str]:
    return {next(group for group in match.groups() if group) for match in pattern.finditer(docs_text())}


def test_every_named_setting_is_read_by_the_code():
    source = "\n".join(path.read_text() for path in SOURCES if path.exists())
    env_example = ROOT / ".env.example"
    source += env_example.read_text() if env_example.exists() else ""
    # REDIS_*_URL-style patterns are prose; a name the docs have the reader export (`export X=`, `--key-env X`)
    # is the reader's own variable, not a setting.
    own = set(re.findall(r"(?:export |--key-env |_ENV=)([A-Z][A-Z0-9_]+)", docs_text()))
    names = {name for name in named(SETTING) if not name.endswith("_")} - own
    assert len(names) > 20
    assert sorted(name for name in names if name not in source) == []


def test_every_named_settings_key_exists(settings):
    """``REST_FRAMEWORK["…"]`` / ``CONVOSTORE["…"]`` in the docs are keys of those settings (no DRF throttle scope 'openai')."""
    keys = re.findall(r'\b(REST_FRAMEWORK|CONVOSTORE|SPECTACULAR_SETTINGS|CACHES)\["(\w+)"\]', docs_text())
    assert keys
    assert [f"{name}[{key!r}]" for name, key in keys if key not in getattr(settings, name)] == []


def test_every_named_command_exists():
    commands = named(COMMAND)
    assert {"evict", "archive", "export_conversations", "purge_conversation"} <= commands
    assert sorted(commands - set(get_commands())) == []


@pytest.mark.django_db
def test_every_named_metric_is_exported(client):
    client.get("/healthz")  # HTTP series are labelled by view: one request makes them appear
    scrape = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    exported = set(re.findall(r"^# TYPE (\w+) ", scrape, re.M))
    exported |= {f"{name}_total" for name in exported}
    metrics = named(METRIC)
    assert {"redis_failures_total", "task_failures_total", "resolve_latency_ms"} <= metrics
    assert sorted(metrics - exported) == []


def _resolves(path: str) -> bool:
    concrete = PLACEHOLDER.sub("x1", path)
    for candidate in (concrete, concrete + "/"):
        try:
            resolve(candidate)
            return True
        except Resolver404:
            continue
    return False


def test_every_named_endpoint_resolves():
    """Paths resolve; a prefix of routes (``/v1/sessions``) counts; lines saying a path is not served, or naming
    an upstream model server's endpoint, are not claims about ConvoStore's routes."""
    lines = [line for line in docs_text().splitlines() if not re.search(r"[Nn]ot served|vLLM|upstream", line)]
    paths = {match.group(1) for line in lines for match in ENDPOINT.finditer(line)}
    assert {"/v1/sessions/resolve", "/healthz", "/metrics", "/api/schema/"} <= paths
    served = {path for path in paths if _resolves(path)}
    missing = [path for path in sorted(paths - served) if not any(other.startswith(path + "/") for other in served)]
    assert missing == []
