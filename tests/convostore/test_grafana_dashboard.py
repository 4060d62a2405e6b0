"""docs/grafana/convostore.json: it parses, and every query names only series /metrics exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "convostore.json"
PROMQL_WORDS = {"sum", "avg", "min", "max", "count", "rate", "irate", "increase", "histogram_quantile", "by", "without",
                "and", "or", "unless", "on", "ignoring", "clamp_min", "clamp_max", "abs", "topk", "bottomk"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def metric_names(expression: str) -> set[str]:
    """Series names in a PromQL expression: label matchers, grouping labels, ranges and functions removed."""
    bare = re.sub(r"\{[^}]*\}", "", expression)
    bare = re.sub(r"\b(by|without)\s*\([^)]*\)", "", bare)
    bare = re.sub(r"\[[^\]]*\]", "", bare)
    return {name for name in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", bare) if name not in PROMQL_WORDS}


def exported(scrape: str) -> set[str]:
    names = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{| )", scrape, re.M))
    return names | {name for name in names for suffix in HISTOGRAM_SUFFIXES if name.endswith(suffix)}


@pytest.mark.django_db
def test_every_dashboard_query_names_an_exported_series(client):
    dashboard = json.loads(DASHBOARD.read_text())
    client.get("/healthz")  # the HTTP series are labelled by view: one request makes them appear
    scrape = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    series = exported(scrape)
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(queries) >= 15
    named = set().union(*(metric_names(query) for query in queries))
    assert named - series == set()
    for wanted in ("resolve_latency_ms_bucket", "append_latency_ms_bucket", "conversations", "archived_bytes_total",
                   "semantic_cache_lookups_total", "django_http_responses_total_by_status_view_method_total"):
        assert wanted in named, wanted
    titles = " ".join(panel["title"] for panel in dashboard["panels"]).lower()
    for topic in ("resolve latency", "append latency", "error", "tier", "evictions", "archive ratio", "cache hit rate"):
        assert topic in titles, topic
