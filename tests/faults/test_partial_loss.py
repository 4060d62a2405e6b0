"""Redis loses one key (or one hash field) of a structure: every read stays what Postgres holds.

Issue 11 part 1, the literal reproduction: the window list is deleted while its meta hash and the
response index survive. Every test runs on its own redis-server (``own_redis``).
"""

import json

import openai
import pytest
import redis

from cache_app import keys

pytestmark = pytest.mark.django_db(transaction=True)


def msg(role, content):
    return {"role": role, "content": content}


def store(api, **body):
    response = api.post("/v1/sessions/responses", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def texts(items):
    return [item["content"] if isinstance(item["content"], str) else item["content"][0]["text"] for item in items]


def test_window_list_lost_while_meta_and_response_index_survive(api, own_redis, live_server):
    tenant_id = api.tenant.pk
    raw = redis.Redis.from_url(own_redis.url)
    store(api, conversation_id="C", response_id="C_r1", input=[msg("user", "u1")], output=[msg("assistant", "a1")])
    assert raw.exists(keys.window(tenant_id, "C"), keys.window_meta(tenant_id, "C"), keys.response_index(tenant_id, "C_r1")) == 3

    raw.delete(keys.window(tenant_id, "C"))  # the meta hash and the response index survive

    first = api.get("/v1/sessions/resolve", {"previous_response_id": "C_r1"})
    assert first.status_code == 200
    assert texts(first.json()["items"]) == ["u1", "a1"]

    store(api, previous_response_id="C_r1", response_id="C_r2", input=[msg("user", "u2")], output=[msg("assistant", "a2")])
    expected = ["u1", "a1", "u2", "a2"]
    assert texts(api.get("/v1/sessions/resolve", {"previous_response_id": "C_r2"}).json()["items"]) == expected
    context = api.get("/v1/sessions/C/context")
    assert context.status_code == 200
    assert [m["content"] for m in context.json()["messages"]] == expected
    native = api.get("/v1/sessions/C/items", {"limit": 100})
    assert texts(native.json()["data"]) == expected
    sdk = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=api.raw_key, max_retries=0, timeout=30)
    try:
        listed = sdk.conversations.items.list("C", order="asc")
        assert [part.text for item in listed.data for part in item.content] == expected
    finally:
        sdk.close()
    # The same answers again, now that every path has rebuilt what it read (or read it from Redis).
    again = api.get("/v1/sessions/resolve", {"previous_response_id": "C_r2"})
    assert json.loads(again.content)["items"] == api.get("/v1/sessions/resolve", {"previous_response_id": "C_r2"}).json()["items"]
    assert texts(again.json()["items"]) == expected
