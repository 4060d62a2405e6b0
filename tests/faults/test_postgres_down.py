"""Postgres unreachable: the API answers 503 JSON (never a hang, never HTML); /readyz says not ready.

The default connection is pointed at a closed port for the duration of the test and restored afterwards.
"""

import socket
from contextlib import contextmanager

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


@contextmanager
def postgres_unreachable():
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update({"HOST": "127.0.0.1", "PORT": str(closed_port())})
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


def assert_503_json(response):
    assert response.status_code == 503, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    assert error["type"] == "server_error"


def test_append_answers_503_json(api):
    api.post("/v1/sessions/pg/append", {"role": "user", "content": "before"}, format="json")  # key cached in Redis
    with postgres_unreachable():
        assert_503_json(api.post("/v1/sessions/pg/append", {"role": "user", "content": "during"}, format="json"))
        assert_503_json(api.post("/v1/sessions/responses", {"conversation_id": "pg", "output": []}, format="json"))
        assert_503_json(api.get("/v1/sessions/pg"))
        assert_503_json(api.get("/v1/sessions/pg/items"))
        assert_503_json(api.delete("/v1/sessions/pg"))
    # nothing was written while it was down, and it works again once it is back
    assert api.get("/v1/sessions/pg").json()["last_seq"] == 1
    assert api.post("/v1/sessions/pg/append", {"role": "user", "content": "after"}, format="json").status_code == 201


def test_uncached_key_answers_503_not_401(api):
    from cache_app import redis_client

    redis_client.connection("default").flushdb()
    with postgres_unreachable():
        assert_503_json(api.get("/v1/sessions/pg"))


def test_cold_resolve_answers_503_json(api):
    from cache_app import redis_client

    stored = api.post("/v1/sessions/responses", {"conversation_id": "pg", "input": [{"role": "user", "content": "q"}]}, format="json").json()
    api.get("/v1/sessions/pg")
    client = redis_client.connection("hot")
    for key in client.keys("*:win") + client.keys("*:meta") + client.keys("*:resp:*"):
        client.delete(key)
    with postgres_unreachable():
        assert_503_json(api.get("/v1/sessions/resolve", {"previous_response_id": stored["response_id"]}))


def test_readyz_is_503_json_when_postgres_is_down(client):
    with postgres_unreachable():
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["postgres"] != "ok"
    assert client.get("/healthz").status_code == 200
