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


# Exact SQL and Redis costs of every request a gateway or the SDK makes on a hot conversation (issue 15).
# A Redis round trip is one command packet written (a pipeline is one); on a cluster a pipeline is one per
# node, so the Redis counts are guarded on a single Redis only (bench/api_latency.py measures the cluster).


@pytest.fixture
def hot(api):
    """A hot conversation with a stored response; the API key cached and every script loaded by a first round."""
    api.post("/v1/sessions/hot/append", {"items": [msg(f"m{i}") for i in range(6)]}, format="json")
    stored = api.post("/v1/sessions/responses", {"conversation_id": "hot", "input": [msg("q")], "output": [msg("a")]},
                      format="json").json()
    item_id = api.get("/v1/sessions/hot/items", {"limit": 1}).json()["data"][0]["id"]
    return {"response_id": stored["response_id"], "item_id": item_id}


HOT_READS = [
    # (path, SQL queries, Redis round trips): every Redis read a view can name from its URL rides the API key's
    # round trip (sessions_app.auth prefetch); resolve's window too, once this process knows where the response lives.
    ("/v1/sessions/resolve?previous_response_id={response_id}", 0, 1),  # key + response index + window
    ("/v1/sessions/hot/context", 0, 1),  # key + window + context header
    ("/v1/sessions/context?previous_response_id={response_id}", 0, 1),
    ("/v1/sessions/hot", 1, 1),
    ("/v1/sessions/hot/items?limit=5", 1, 1),
    ("/v1/conversations/hot", 1, 1),
    ("/v1/conversations/hot/items", 1, 1),
    ("/v1/conversations/hot/items/{item_id}", 1, 1),
    ("/v1/responses/{response_id}", 1, 1),
]


@pytest.mark.parametrize("path, queries, trips", HOT_READS)
def test_each_hot_read_costs_exactly(api, hot, round_trips, django_assert_num_queries, request, path, queries, trips):
    path = path.format(**hot)
    assert api.get(path).status_code == 200  # warm: scripts loaded, windows filled
    before = round_trips["count"]
    with django_assert_num_queries(queries):
        response = api.get(path)
    assert response.status_code == 200, response.content
    if not request.config.getoption("--redis-cluster"):
        assert round_trips["count"] - before == trips


def test_a_durable_append_is_one_statement_and_two_round_trips(api, hot, round_trips, django_assert_num_queries, request):
    """The statement commits on its own (autocommit); then the key's round trip and the window's."""
    before = round_trips["count"]
    with django_assert_num_queries(1) as captured:
        response = api.post("/v1/sessions/hot/append", msg("one more"), format="json")
    assert response.status_code == 201
    assert captured.captured_queries[0]["sql"].lstrip().startswith("WITH conv AS")
    if not request.config.getoption("--redis-cluster"):
        assert round_trips["count"] - before == 2
