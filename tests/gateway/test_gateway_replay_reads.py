"""What an Idempotency-Key replay of POST /v1/responses reads: the stored response and its output in one statement
(sessions_app.lookups.response_output_row, the read GET /v1/responses/{id} makes), or from the archive."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sessions_app.gateway.services import stored_response
from sessions_app.lifecycle.archive import conversation_archive
from sessions_app.models import Conversation

pytestmark = pytest.mark.django_db

RESPONSE_OR_ITEMS = ("sessions_app_response", "sessions_app_item")


def create(api, key):
    return api.post("/v1/responses", {"model": "m", "input": "once"}, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_replay_reads_the_stored_response_and_its_output_in_one_statement(api, upstream, default_route):
    first = create(api, "turn-1")
    assert first.status_code == 200, first.content
    with CaptureQueriesContext(connection) as captured:
        again = create(api, "turn-1")
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    reads = [q["sql"] for q in captured.captured_queries if any(table in q["sql"] for table in RESPONSE_OR_ITEMS)]
    assert len(reads) == 1, reads  # before: the response, then its items (two statements)
    assert len(upstream.calls("/chat/completions")) == 1


def test_stored_response_is_the_retrieve_answer_in_one_query_or_from_the_archive(api, upstream, default_route,
                                                                                  django_assert_num_queries):
    created = create(api, "turn-2").json()
    retrieved = api.get(f"/v1/responses/{created['id']}").json()
    with django_assert_num_queries(1):
        assert stored_response(tenant=api.tenant, response_id=created["id"]) == retrieved
    conversation_archive(conversation=Conversation.objects.get(tenant=api.tenant), keep_window=False)
    assert stored_response(tenant=api.tenant, response_id=created["id"]) == retrieved  # output from the segment
