"""Tenant isolation on every endpoint: another tenant's ids answer 404 (never 403) and are never touched."""

import pytest

from sessions_app.models import Conversation, Item

pytestmark = pytest.mark.django_db


def msg(content):
    return {"role": "user", "content": content}


@pytest.fixture
def mine(api):
    api.post("/v1/sessions/secret/append", msg("my secret"), format="json")
    stored = api.post("/v1/sessions/responses", {"conversation_id": "secret", "response_id": "resp_shared", "output": [msg("a")]}, format="json")
    assert stored.status_code == 201
    api.get("/v1/sessions/resolve", {"previous_response_id": "resp_shared"})  # hot in Redis
    return stored.json()


def test_read_endpoints_answer_404(api, other_api, mine):
    for response in (
        other_api.get("/v1/sessions/secret"),
        other_api.get("/v1/sessions/secret/items"),
        other_api.get("/v1/sessions/resolve", {"previous_response_id": mine["response_id"]}),
    ):
        assert response.status_code == 404, response.content
        assert "my secret" not in response.content.decode()


def test_delete_of_another_tenants_conversation_is_404_and_keeps_it(api, other_api, mine):
    assert other_api.delete("/v1/sessions/secret").status_code == 404
    assert api.get("/v1/sessions/secret").status_code == 200
    assert api.get("/v1/sessions/resolve", {"previous_response_id": "resp_shared"}).status_code == 200


def test_same_conversation_id_is_a_separate_conversation(api, other_api, mine):
    theirs = other_api.post("/v1/sessions/secret/append", {"items": [msg("theirs")], "expected_version": 0}, format="json")
    assert theirs.status_code == 201 and theirs.json()["version"] == 1 and theirs.json()["items"][0]["seq"] == 1
    assert [i["content"] for i in other_api.get("/v1/sessions/secret/items").json()["data"]] == ["theirs"]
    assert [i["content"] for i in api.get("/v1/sessions/secret/items").json()["data"]] == ["my secret", "a"]
    assert other_api.delete("/v1/sessions/secret").status_code == 200
    assert api.get("/v1/sessions/secret").json()["version"] == 2


def test_cannot_fork_or_continue_from_another_tenants_response(api, other_api, mine):
    response = other_api.post("/v1/sessions/responses", {"previous_response_id": mine["response_id"], "output": [msg("x")]}, format="json")
    assert response.status_code == 404
    assert Conversation.objects.filter(tenant=other_api.tenant).count() == 0
    assert api.get("/v1/sessions/secret").json()["version"] == 2


def test_response_ids_are_unique_per_tenant_only(api, other_api, mine):
    response = other_api.post("/v1/sessions/responses", {"conversation_id": "t2", "response_id": "resp_shared", "output": [msg("b")]}, format="json")
    assert response.status_code == 201
    mine_resolved = api.get("/v1/sessions/resolve", {"previous_response_id": "resp_shared"}).json()
    theirs_resolved = other_api.get("/v1/sessions/resolve", {"previous_response_id": "resp_shared"}).json()
    assert mine_resolved["conversation_id"] == "secret" and theirs_resolved["conversation_id"] == "t2"
    assert [i["content"] for i in theirs_resolved["items"]] == ["b"]


def test_item_ids_and_after_do_not_cross_tenants(api, other_api, mine):
    my_items = api.get("/v1/sessions/secret/items").json()["data"]
    other_api.post("/v1/sessions/secret/append", msg("theirs"), format="json")
    response = other_api.get("/v1/sessions/secret/items", {"after": my_items[0]["id"]})
    assert response.status_code == 404
    # a client-chosen item id may repeat across tenants
    same_id = other_api.post("/v1/sessions/secret/append", {"items": [{"id": my_items[0]["id"], "role": "user", "content": "x"}]}, format="json")
    assert same_id.status_code == 201


def test_idempotency_keys_do_not_cross_tenants(api, other_api):
    body = {"items": [msg("a")]}
    api.post("/v1/sessions/k/append", body, format="json", HTTP_IDEMPOTENCY_KEY="key")
    theirs = other_api.post("/v1/sessions/k/append", {"items": [msg("different")]}, format="json", HTTP_IDEMPOTENCY_KEY="key")
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs


def test_tombstones_do_not_cross_tenants(api, other_api):
    api.post("/v1/sessions/tomb/append", msg("a"), format="json")
    api.delete("/v1/sessions/tomb")
    assert other_api.post("/v1/sessions/tomb/append", msg("b"), format="json").status_code == 201


def test_items_of_each_tenant_stay_apart_in_the_database(api, other_api, mine):
    other_api.post("/v1/sessions/secret/append", msg("theirs"), format="json")
    assert set(Item.objects.filter(conversation__tenant=other_api.tenant).values_list("role", flat=True)) == {"user"}
    assert Item.objects.filter(conversation__tenant=api.tenant).count() == 2
