"""Query-count guards on the hot paths (the API key lookup is cached in Redis)."""

import pytest

pytestmark = pytest.mark.django_db


def msg(content):
    return {"role": "user", "content": content}


def test_append_to_an_existing_conversation(api, django_assert_max_num_queries):
    api.post("/v1/sessions/q/append", msg("first"), format="json")
    with django_assert_max_num_queries(6):
        response = api.post("/v1/sessions/q/append", {"items": [msg(str(i)) for i in range(20)]}, format="json")
    assert response.status_code == 201


def test_append_creating_a_conversation(api, django_assert_max_num_queries):
    api.get("/v1/sessions/warm-auth")
    with django_assert_max_num_queries(7):
        response = api.post("/v1/sessions/new/append", msg("first"), format="json")
    assert response.status_code == 201


def test_append_with_idempotency_key(api, django_assert_max_num_queries):
    api.post("/v1/sessions/qi/append", msg("first"), format="json")
    with django_assert_max_num_queries(8):
        api.post("/v1/sessions/qi/append", msg("x"), format="json", HTTP_IDEMPOTENCY_KEY="k")
    with django_assert_max_num_queries(5):
        replay = api.post("/v1/sessions/qi/append", msg("x"), format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert replay["Idempotent-Replayed"] == "true"


def test_hot_resolve_does_at_most_one_query(api, django_assert_max_num_queries):
    stored = api.post(
        "/v1/sessions/responses", {"conversation_id": "h", "input": [msg("q")], "output": [msg("a")]}, format="json"
    ).json()
    with django_assert_max_num_queries(1):
        response = api.get("/v1/sessions/resolve", {"previous_response_id": stored["response_id"]})
    assert response.status_code == 200 and len(response.json()["items"]) == 2


def test_cold_resolve_is_bounded_too(api, django_assert_max_num_queries):
    from cache_app import redis_client

    stored = api.post(
        "/v1/sessions/responses", {"conversation_id": "cold", "input": [msg("q")], "output": [msg("a")]}, format="json"
    ).json()
    api.get("/v1/sessions/resolve", {"previous_response_id": stored["response_id"]})  # caches the API key
    client = redis_client.connection("hot")
    for pattern in ("*:win", "*:meta", "*:resp:*"):
        for key in list(client.scan_iter(match=pattern, count=1000)):  # SCAN walks every primary of a cluster
            client.delete(key)
    with django_assert_max_num_queries(3):
        response = api.get("/v1/sessions/resolve", {"previous_response_id": stored["response_id"]})
    assert response.status_code == 200
