"""Request ids, JSON log lines with bound context, and the protected /metrics endpoint."""

import copy
import json
import logging
import logging.config

import pytest
from django.conf import settings as django_settings

from convostore.observability import ContextFilter, scope

pytestmark = pytest.mark.django_db


def json_formatter() -> logging.Formatter:
    """The formatter settings.LOGGING names "json" (built from a copy: dictConfig consumes the "()" key)."""
    config = copy.deepcopy(django_settings.LOGGING)
    return logging.config.DictConfigurator(config).configure_formatter(config["formatters"]["json"])


def test_request_id_is_echoed_or_generated(api):
    given = api.get("/healthz", HTTP_X_REQUEST_ID="abc123")
    assert given["X-Request-ID"] == "abc123"
    assert len(api.get("/healthz")["X-Request-ID"]) == 32


def test_json_log_line_carries_bound_context():
    record = logging.LogRecord("convostore.test", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    with scope(request_id="r1", tenant_id=7, conversation_id="c1"):
        ContextFilter().filter(record)
    line = json.loads(json_formatter().format(record))
    assert line["message"] == "hello world"
    assert (line["request_id"], line["tenant_id"], line["conversation_id"]) == ("r1", 7, "c1")


def test_metrics_is_open_to_loopback_and_lists_the_api_histograms(api, client):
    api.post("/v1/sessions/m1/append", {"role": "user", "content": "hi"}, format="json")
    body = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert "append_latency_ms_bucket" in body and "resolve_latency_ms" in body


def test_metrics_refuses_other_networks_and_wants_the_token_when_set(client, settings):
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    settings.CONVOSTORE = {**settings.CONVOSTORE, "METRICS_TOKEN": "s3cret"}
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200
