"""Append, store response, resolve: the happy paths and their exact shapes."""

import pytest

pytestmark = pytest.mark.django_db


def test_append_creates_conversation_and_answers_ids_and_seqs(api):
    response = api.post("/v1/sessions/chat-1/append", {"items": [{"role": "user", "content": "Hello"}]}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["conversation_id"] == "chat-1"
    assert body["version"] == 1
    assert [item["seq"] for item in body["items"]] == [1]
    assert body["items"][0]["id"].startswith("msg_")


def test_bare_item_becomes_a_message(api):
    response = api.post("/v1/sessions/chat-2/append", {"role": "user", "content": "Hello"}, format="json")
    assert response.status_code == 201, response.content
    items = api.get("/v1/sessions/chat-2/items").json()["data"]
    assert items[0]["type"] == "message" and items[0]["content"] == "Hello" and items[0]["seq"] == 1


def test_version_goes_up_by_one_per_call_whatever_the_item_count(api):
    items = [{"role": "user", "content": str(i)} for i in range(5)]
    first = api.post("/v1/sessions/v/append", {"items": items}, format="json").json()
    second = api.post("/v1/sessions/v/append", {"items": items[:1]}, format="json").json()
    assert (first["version"], second["version"]) == (1, 2)
    assert [i["seq"] for i in first["items"]] == [1, 2, 3, 4, 5]
    assert second["items"][0]["seq"] == 6


def test_store_response_and_resolve_returns_the_whole_context(api):
    api.post("/v1/sessions/c/append", {"role": "system", "content": "Be brief."}, format="json")
    stored = api.post(
        "/v1/sessions/responses",
        {"conversation_id": "c", "input": [{"role": "user", "content": "Hi"}], "output": [{"role": "assistant", "content": "Hello!"}], "model": "m"},
        format="json",
    )
    assert stored.status_code == 201, stored.content
    body = stored.json()
    assert body["forked"] is False and body["conversation_id"] == "c" and body["version"] == 2
    resolved = api.get("/v1/sessions/resolve", {"previous_response_id": body["response_id"]})
    assert resolved.status_code == 200
    data = resolved.json()
    assert [i["content"] for i in data["items"]] == ["Be brief.", "Hi", "Hello!"]
    assert data["version"] == 2 and data["conversation_id"] == "c" and data["estimated_input_tokens"] > 0


def test_conversation_detail_shape(api):
    api.post("/v1/sessions/d/append", {"role": "user", "content": "Hello"}, format="json")
    body = api.get("/v1/sessions/d").json()
    assert set(body) == {"id", "version", "last_seq", "tier", "items", "bytes", "estimated_tokens", "metadata", "parent",
                         "fork_seq", "created_at", "last_active_at"}
    assert body["items"] == 1 and body["last_seq"] == 1 and body["tier"] == "hot"
