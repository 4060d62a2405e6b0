"""DELETE /v1/sessions/{id}: rows, forks, idempotency records and every Redis key of it go; a tombstone blocks reuse."""

import pytest

from cache_app import keys, lru, redis_client
from sessions_app.models import Conversation, IdempotencyRecord, InvalidationOutbox, Item, Response, Tombstone

pytestmark = pytest.mark.django_db


def store(api, **body):
    response = api.post("/v1/sessions/responses", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def msg(content):
    return {"role": "user", "content": content}


def redis_keys(prefix):
    # SCAN, not KEYS: on a Redis Cluster (--redis-cluster) KEYS answers from one node, SCAN walks every primary
    return {k.decode() for k in redis_client.connection("hot").scan_iter(match=f"{prefix}:*", count=1000)}


def conversation_keys(prefix, tenant_id, conversation_id):
    """Keys that name this conversation (the API-key cache is the tenant's, not the conversation's)."""
    tag = keys.conversation_tag(tenant_id, conversation_id)
    return {k for k in redis_keys(prefix) if tag in k or ":resp:" in k}


def lru_has(tenant_id, conversation_id):
    client = redis_client.connection("hot")
    bucket = keys.lru_bucket(lru.bucket_of(tenant_id, conversation_id))
    return client.zscore(bucket, keys.lru_member(tenant_id, conversation_id)) is not None


def test_delete_answers_and_removes_everything(api, redis_prefix):
    r1 = store(api, conversation_id="gone", input=[msg("q")], output=[msg("a")])
    api.post("/v1/sessions/gone/append", {"items": [msg("more")]}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    api.get("/v1/sessions/resolve", {"previous_response_id": r1["response_id"]})
    tenant_id = api.tenant.pk
    assert conversation_keys(redis_prefix, tenant_id, "gone")
    assert lru_has(tenant_id, "gone")

    response = api.delete("/v1/sessions/gone")
    assert response.status_code == 200
    assert response.json() == {"id": "gone", "deleted": True}

    assert api.get("/v1/sessions/gone").status_code == 404
    assert api.get("/v1/sessions/gone/items").status_code == 404
    assert api.get("/v1/sessions/resolve", {"previous_response_id": r1["response_id"]}).status_code == 404
    assert not Conversation.objects.filter(conversation_id="gone").exists()
    assert not Item.objects.filter(conversation__tenant=api.tenant).exists()
    assert not Response.objects.filter(tenant=api.tenant).exists()
    assert not IdempotencyRecord.objects.filter(tenant=api.tenant, scope="gone").exists()
    assert conversation_keys(redis_prefix, tenant_id, "gone") == set()
    assert not lru_has(tenant_id, "gone")


def test_deleting_the_parent_deletes_its_forks(api, redis_prefix):
    r1 = store(api, conversation_id="parent", output=[msg("1")])
    store(api, previous_response_id=r1["response_id"], output=[msg("2")])
    fork = store(api, previous_response_id=r1["response_id"], output=[msg("3")])
    grandchild = store(api, previous_response_id=fork["response_id"], output=[msg("4")])
    store(api, previous_response_id=fork["response_id"], output=[msg("5")])
    api.get("/v1/sessions/resolve", {"previous_response_id": grandchild["response_id"]})

    assert api.delete("/v1/sessions/parent").status_code == 200
    for response in (r1, fork, grandchild):
        assert api.get("/v1/sessions/resolve", {"previous_response_id": response["response_id"]}).status_code == 404
    assert api.get(f"/v1/sessions/{fork['conversation_id']}").status_code == 404
    assert not Conversation.objects.filter(tenant=api.tenant).exists()
    assert not Item.objects.filter(conversation__tenant=api.tenant).exists()
    tenant_tag = "{t%d" % api.tenant.pk
    assert {k for k in redis_keys(redis_prefix) if ":win" in k or ":meta" in k or ":resp:" in k or tenant_tag + ":" in k} == set()


def test_deleting_a_fork_keeps_the_parent(api):
    r1 = store(api, conversation_id="keep", output=[msg("1")])
    store(api, previous_response_id=r1["response_id"], output=[msg("2")])
    fork = store(api, previous_response_id=r1["response_id"], output=[msg("3")])
    assert api.delete(f"/v1/sessions/{fork['conversation_id']}").status_code == 200
    resolved = api.get("/v1/sessions/resolve", {"previous_response_id": r1["response_id"]})
    assert [i["content"] for i in resolved.json()["items"]] == ["1"]
    assert api.get("/v1/sessions/keep").json()["last_seq"] == 2


def test_deleted_id_cannot_be_recreated_while_tombstoned(api):
    api.post("/v1/sessions/tomb/append", msg("a"), format="json")
    api.delete("/v1/sessions/tomb")
    again = api.post("/v1/sessions/tomb/append", msg("b"), format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "conversation_deleted"
    assert not Conversation.objects.filter(conversation_id="tomb").exists()
    stored = api.post("/v1/sessions/responses", {"conversation_id": "tomb", "output": [msg("c")]}, format="json")
    assert stored.status_code == 409 and stored.json()["error"]["code"] == "conversation_deleted"


def test_tombstone_expires(api):
    from django.utils import timezone

    api.post("/v1/sessions/tomb2/append", msg("a"), format="json")
    api.delete("/v1/sessions/tomb2")
    Tombstone.objects.filter(conversation_id="tomb2").update(expires_at=timezone.now() - timezone.timedelta(seconds=1))
    again = api.post("/v1/sessions/tomb2/append", msg("b"), format="json")
    assert again.status_code == 201 and again.json()["items"][0]["seq"] == 1


def test_deleted_idempotency_key_does_not_replay_into_a_new_conversation(api):
    from django.utils import timezone

    body = {"items": [msg("a")]}
    api.post("/v1/sessions/idem-del/append", body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    api.delete("/v1/sessions/idem-del")
    Tombstone.objects.all().update(expires_at=timezone.now())
    again = api.post("/v1/sessions/idem-del/append", body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert api.get("/v1/sessions/idem-del").json()["last_seq"] == 1


def test_delete_unknown_is_404(api):
    response = api.delete("/v1/sessions/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["param"] == "conversation_id"


def test_delete_with_redis_down_records_the_outbox_and_the_sweep_cleans_up(api, own_redis):
    from sessions_app.services.outbox import outbox_apply

    r1 = store(api, conversation_id="down", output=[msg("a")])
    own_redis.stop()
    assert api.delete("/v1/sessions/down").status_code == 200
    assert api.get("/v1/sessions/resolve", {"previous_response_id": r1["response_id"]}).status_code == 404
    assert InvalidationOutbox.objects.filter(conversation_id="down").exists()
    own_redis.start()
    redis_client.reset_breaker()
    assert outbox_apply() >= 1
    assert not InvalidationOutbox.objects.exists()
