"""Schemathesis against /api/schema/: generated requests to every operation never get a 5xx or an off-schema answer."""

import json
import os
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from convostore.wsgi import application

EXAMPLES = int(os.environ.get("CONVOSTORE_FUZZ_EXAMPLES", "40"))

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
CASES = {"count": 0, "operations": set(), "statuses": {}}
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@pytest.fixture(scope="module", autouse=True)
def fuzz_report():
    """How many generated cases ran, over how many operations (docs/reliability.md quotes it)."""
    yield
    ARTIFACTS.mkdir(exist_ok=True)
    report = {"cases": CASES["count"], "operations": len(CASES["operations"]), "statuses": CASES["statuses"],
              "examples_per_operation": EXAMPLES}
    (ARTIFACTS / "fuzz.json").write_text(json.dumps(report, indent=2, sort_keys=True))


@pytest.fixture
def in_process_requests():
    """Like Django's test client: requests must not close the test's database connection."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_headers(db, settings, in_process_requests):
    from sessions_app.services import api_key_create, conversation_append, response_store, tenant_create

    # Generated headers often replace the key (401s): no limit must turn those into 429s.
    settings.CONVOSTORE = {**settings.CONVOSTORE, "RATE_LIMIT_PER_MINUTE": 0, "AUTH_FAILURES_PER_MINUTE": 0}
    tenant, _ = tenant_create(name="fuzz")
    key = api_key_create(tenant=tenant).raw_key
    # Some real ids so generated strings sometimes hit existing rows.
    conversation_append(tenant=tenant, conversation_id="a", items=[{"role": "user", "content": "hi"}])
    response_store(tenant=tenant, conversation_id="a", response_id="r", input_items=[], output_items=[{"role": "assistant", "content": "x"}])
    return {"Authorization": f"Bearer {key}"}


def not_a_server_error(ctx, response, case):
    assert response.status_code < 500, f"{case.method} {case.formatted_path} → {response.status_code}: {response.text[:300]}"


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_operation_answers_within_its_schema(case, fuzz_headers):
    response = case.call(headers=fuzz_headers)
    CASES["count"] += 1
    CASES["operations"].add(f"{case.method} {case.path}")
    CASES["statuses"][str(response.status_code)] = CASES["statuses"].get(str(response.status_code), 0) + 1
    case.validate_response(
        response,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )


# --- hostile strings in every parameter ------------------------------------------------------------
# Generated strings rarely hold NUL and never a lone surrogate (the codec is UTF-8), so every path, query
# and header parameter of every operation, and the Authorization header, also gets each of these. A URL
# cannot carry a surrogate itself: a hostile client sends its WTF-8 bytes, percent-encoded.
HOSTILE = {
    "nul": {"text": "a\x00b", "path": "a%00b", "query": None},
    "surrogate": {"text": "a\ud800b", "path": "a%ED%A0%80b", "query": "a%ED%A0%80b"},
    "long": {"text": "x" * 70_000, "path": "x" * 70_000, "query": None},
}
SAFE_PATH = {"conversation_id": "a", "response_id": "r", "item_id": "msg_x", "key": "k", "namespace": "ns", "entry_id": "sce_x"}


def hostile_params():
    for result in schema.get_all_operations():
        operation = result.ok()
        targets = [(p.location.value, p.name) for p in operation.iter_parameters()] + [("header", "Authorization")]
        for location, name in targets:
            for kind in HOSTILE:
                yield pytest.param(operation, location, name, kind, id=f"{operation.method.upper()} {operation.path} {location}:{name} {kind}")


@pytest.mark.parametrize("operation, location, name, kind", list(hostile_params()))
def test_hostile_strings_in_every_parameter_are_4xx(fuzz_headers, operation, location, name, kind):
    """NUL and over-long values are 400 naming the parameter; a lone surrogate is never a 5xx (in a header, 400)."""
    values = HOSTILE[kind]
    path = {p.name: SAFE_PATH.get(p.name, "a") for p in operation.path_parameters}
    headers, query, params = dict(fuzz_headers), {}, None
    if location == "path":
        path[name] = values["path"]
    elif location == "header":
        headers[name] = values["text"]
    elif values["query"] is not None:
        params = f"{name}={values['query']}"
    else:
        query[name] = values["text"]
    case = operation.Case(path_parameters=path, query=query, headers=headers)
    response = case.call(params=params) if params else case.call()
    CASES["count"] += 1
    CASES["statuses"][str(response.status_code)] = CASES["statuses"].get(str(response.status_code), 0) + 1
    assert response.status_code < 500, f"{case.method} {case.formatted_path} {location}:{name} → {response.status_code}: {response.text[:300]}"
    if kind != "surrogate" or location == "header":
        assert response.status_code == 400, response.text[:300]
        assert response.json()["error"]["param"] == name
    case.validate_response(response, checks=[status_code_conformance, content_type_conformance])
