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

    settings.CONVOSTORE = {**settings.CONVOSTORE, "RATE_LIMIT_PER_MINUTE": 0}
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
