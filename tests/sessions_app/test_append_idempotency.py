"""Idempotency-Key on append and on store-response: replays, key reuse, expiry, scope."""

import json

import pytest
from django.utils import timezone

from sessions_app.models import IdempotencyRecord, Item, Response

pytestmark = pytest.mark.django_db


def post(api, path, body, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return api.post(path, body, format="json", **headers)


def raw_post(api, path, text, key):
    return api.generic("POST", path, text.encode("utf-8"), content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)


def test_replay_returns_original_status_and_body_and_stores_nothing_new(api):
    body = {"items": [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi"}]}
    first = post(api, "/v1/sessions/idem/append", body, key="k-1")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    again = post(api, "/v1/sessions/idem/append", body, key="k-1")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Item.objects.filter(conversation__conversation_id="idem").count() == 2
    assert api.get("/v1/sessions/idem").json()["version"] == 1


def test_replay_matches_on_the_canonical_body_not_the_bytes(api):
    first = raw_post(api, "/v1/sessions/canon/append", '{"items":[{"role":"user","content":"Hi"}]}', "k")
    spaced = raw_post(api, "/v1/sessions/canon/append", '{ "items" : [ { "content" : "Hi", "role" : "user" } ] }', "k")
    assert first.status_code == spaced.status_code == 201
    assert spaced["Idempotent-Replayed"] == "true"
    assert spaced.json() == first.json()


def test_bare_item_replay(api):
    body = {"role": "user", "content": "Hello"}
    first = post(api, "/v1/sessions/bare/append", body, key="k")
    again = post(api, "/v1/sessions/bare/append", body, key="k")
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert api.get("/v1/sessions/bare").json()["last_seq"] == 1


def test_same_key_with_another_body_is_409_and_changes_nothing(api):
    post(api, "/v1/sessions/reuse/append", {"items": [{"role": "user", "content": "one"}]}, key="k")
    before = api.get("/v1/sessions/reuse").json()
    conflict = post(api, "/v1/sessions/reuse/append", {"items": [{"role": "user", "content": "two"}]}, key="k")
    assert conflict.status_code == 409
    error = conflict.json()["error"]
    assert error["code"] == "idempotency_key_reused"
    assert set(error) >= {"message", "type", "param", "code"}
    after = api.get("/v1/sessions/reuse").json()
    assert (after["version"], after["last_seq"]) == (before["version"], before["last_seq"])
    assert [i["content"] for i in api.get("/v1/sessions/reuse/items").json()["data"]] == ["one"]


def test_expected_version_is_part_of_the_body_hash(api):
    post(api, "/v1/sessions/ev/append", {"items": [{"role": "user", "content": "a"}], "expected_version": 0}, key="k")
    conflict = post(api, "/v1/sessions/ev/append", {"items": [{"role": "user", "content": "a"}], "expected_version": 1}, key="k")
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "idempotency_key_reused"


def test_replay_wins_over_a_version_check_that_would_now_fail(api):
    """A retried CAS append whose first attempt succeeded gets its original answer, not version_conflict."""
    body = {"items": [{"role": "user", "content": "a"}], "expected_version": 0}
    first = post(api, "/v1/sessions/cas-retry/append", body, key="k")
    again = post(api, "/v1/sessions/cas-retry/append", body, key="k")
    assert again.status_code == 201 and again.json() == first.json() and again["Idempotent-Replayed"] == "true"


def test_keys_are_scoped_per_conversation(api):
    body = {"items": [{"role": "user", "content": "a"}]}
    a = post(api, "/v1/sessions/scope-a/append", body, key="k")
    b = post(api, "/v1/sessions/scope-b/append", body, key="k")
    assert a.status_code == b.status_code == 201
    assert "Idempotent-Replayed" not in b
    assert b.json()["conversation_id"] == "scope-b"


def test_keys_are_scoped_per_tenant(api, other_api):
    body = {"items": [{"role": "user", "content": "a"}]}
    mine = post(api, "/v1/sessions/shared/append", body, key="k")
    theirs = post(other_api, "/v1/sessions/shared/append", body, key="k")
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs
    assert mine.json()["items"][0]["id"] != theirs.json()["items"][0]["id"]


def test_an_expired_record_no_longer_replays(api):
    body = {"items": [{"role": "user", "content": "a"}]}
    post(api, "/v1/sessions/exp/append", body, key="k")
    IdempotencyRecord.objects.filter(key="k").update(expires_at=timezone.now() - timezone.timedelta(seconds=1))
    again = post(api, "/v1/sessions/exp/append", {"items": [{"role": "user", "content": "b"}]}, key="k")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert api.get("/v1/sessions/exp").json()["last_seq"] == 2


def test_records_live_for_the_configured_ttl(api, settings):
    settings.CONVOSTORE = {**settings.CONVOSTORE, "IDEMPOTENCY_TTL_SECONDS": 120}
    post(api, "/v1/sessions/ttl/append", {"role": "user", "content": "a"}, key="k")
    record = IdempotencyRecord.objects.get(key="k")
    lifetime = (record.expires_at - record.created_at).total_seconds()
    assert 110 <= lifetime <= 130


def test_replay_survives_a_redis_flush(api, own_redis):
    body = {"items": [{"role": "user", "content": "a"}]}
    first = post(api, "/v1/sessions/flush/append", body, key="k")
    own_redis_client(own_redis).flushall()
    again = post(api, "/v1/sessions/flush/append", body, key="k")
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()


def own_redis_client(server):
    import redis

    return redis.Redis.from_url(server.url)


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "tab\tkey"])
def test_malformed_keys_are_400(api, key):
    response = post(api, "/v1/sessions/badkey/append", {"role": "user", "content": "a"}, key=key)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "Idempotency-Key"
    assert api.get("/v1/sessions/badkey").status_code == 404


def store(api, body, key=None):
    return post(api, "/v1/sessions/responses", body, key=key)


def test_store_response_replay(api):
    body = {"conversation_id": "r", "input": [{"role": "user", "content": "q"}], "output": [{"role": "assistant", "content": "a"}]}
    first = store(api, body, key="rk")
    again = store(api, body, key="rk")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert Response.objects.filter(tenant=api.tenant).count() == 1
    assert api.get("/v1/sessions/r").json()["last_seq"] == 2


def test_store_response_key_reuse_is_409(api):
    store(api, {"conversation_id": "r2", "input": [{"role": "user", "content": "q"}]}, key="rk")
    conflict = store(api, {"conversation_id": "r2", "input": [{"role": "user", "content": "other"}]}, key="rk")
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "idempotency_key_reused"
    assert Response.objects.filter(tenant=api.tenant).count() == 1


def test_replayed_body_is_byte_identical(api):
    body = {"conversation_id": "bytes", "output": [{"role": "assistant", "content": "é ✓"}]}
    first = store(api, body, key="rk")
    again = store(api, body, key="rk")
    assert json.loads(again.content) == json.loads(first.content)
