"""Every error case of the /v1 contract: OpenAI-shaped JSON, the offending param, and bad input changes nothing."""

import json

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from rest_framework.test import APIClient

from cache_app import redis_client
from sessions_app.models import Conversation, IdempotencyRecord, Item, Response

pytestmark = pytest.mark.django_db


def error_of(response, status):
    assert response.status_code == status, (response.status_code, response.content)
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"}
    assert {"message", "type", "param", "code"} <= set(body["error"])
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def snapshot(tenant):
    client = redis_client.connection("hot")
    windows = sorted(k for k in client.keys("*") if k.endswith((b":win", b":meta")))
    return (
        list(Conversation.objects.filter(tenant=tenant).order_by("pk").values_list("conversation_id", "version", "last_seq")),
        Item.objects.filter(conversation__tenant=tenant).count(),
        Response.objects.filter(tenant=tenant).count(),
        IdempotencyRecord.objects.filter(tenant=tenant).count(),
        windows,
    )


def raw(api, method, path, data: bytes, content_type="application/json", **extra):
    return api.generic(method, path, data, content_type=content_type, **extra)


@pytest.fixture
def seeded(api):
    api.post("/v1/sessions/seed/append", {"role": "user", "content": "hello"}, format="json")
    return snapshot(api.tenant)


# --- conversation ids ---------------------------------------------------------------------------

BAD_IDS = ["a" * 65, "_leading", "-leading", ".leading", "has%20space", "semi;colon", "caf\u00e9", "tab%09id", "nl%0Aid", "per%25cent", "%00nul"]


@pytest.mark.parametrize("bad_id", BAD_IDS)
@pytest.mark.parametrize("method,suffix", [("post", "/append"), ("get", ""), ("get", "/items"), ("delete", "")])
def test_invalid_conversation_id_is_400(api, seeded, bad_id, method, suffix):
    path = f"/v1/sessions/{bad_id}{suffix}"
    body = {"role": "user", "content": "x"} if method == "post" else None
    response = getattr(api, method)(path, body, format="json") if body else getattr(api, method)(path)
    error = error_of(response, 400)
    assert error["param"] == "conversation_id"
    assert snapshot(api.tenant) == seeded


@pytest.mark.parametrize("reserved", ["resolve", "context", "responses"])
def test_reserved_words_cannot_be_conversation_ids(api, seeded, reserved):
    error = error_of(api.post(f"/v1/sessions/{reserved}/append", {"role": "user", "content": "x"}, format="json"), 400)
    assert error["param"] == "conversation_id"
    stored = api.post("/v1/sessions/responses", {"conversation_id": reserved, "output": []}, format="json")
    assert error_of(stored, 400)["param"] == "conversation_id"
    assert snapshot(api.tenant) == seeded


@pytest.mark.parametrize("good_id", ["a", "A" * 64, "0abc", "a_b.c:d-e", "conv_123"])
def test_valid_conversation_ids(api, good_id):
    assert api.post(f"/v1/sessions/{good_id}/append", {"role": "user", "content": "x"}, format="json").status_code == 201
    assert api.get(f"/v1/sessions/{good_id}").json()["id"] == good_id


def test_invalid_conversation_id_in_store_response_body(api, seeded):
    for bad in ["a" * 65, "_x", 5, ["a"]]:
        response = api.post("/v1/sessions/responses", {"conversation_id": bad, "output": []}, format="json")
        assert error_of(response, 400)["param"] == "conversation_id"
    assert snapshot(api.tenant) == seeded


# --- items ------------------------------------------------------------------------------------------


def test_twenty_items_pass_and_twenty_one_are_400(api, seeded):
    items = [{"role": "user", "content": str(i)} for i in range(21)]
    error = error_of(api.post("/v1/sessions/many/append", {"items": items}, format="json"), 400)
    assert error["param"] == "items"
    assert snapshot(api.tenant) == seeded
    assert api.post("/v1/sessions/many/append", {"items": items[:20]}, format="json").status_code == 201


@pytest.mark.parametrize(
    "body,param",
    [
        ({"items": []}, "items"),
        ({"items": "hello"}, "items"),
        ({"items": {"role": "user"}}, "items"),
        ({"items": None}, "items"),
        ({"items": [5]}, "items[0]"),
        ({"items": ["text"]}, "items[0]"),
        ({"items": [{"content": "no role or type"}]}, "items[0]"),
        ({"items": [{"role": "user"}]}, "items[0].content"),
        ({"items": [{"role": "user", "content": 5}]}, "items[0].content"),
        ({"items": [{"role": 5, "content": "x"}]}, "items[0].role"),
        ({"items": [{"type": 5, "role": "user", "content": "x"}]}, "items[0].type"),
        ({"items": [{"type": "", "content": "x"}]}, "items[0].type"),
        ({"items": [{"role": "user", "content": "x", "id": "bad id"}]}, "items[0].id"),
        ({"items": [{"role": "user", "content": "x", "id": 7}]}, "items[0].id"),
        ({"items": [{"role": "user", "content": "a", "id": "m1"}, {"role": "user", "content": "b", "id": "m1"}]}, "items[1].id"),
        ({"items": [{"role": "user", "content": "ok"}], "metadata": "x"}, "metadata"),
        ({"items": [{"role": "user", "content": "ok"}], "metadata": {"k": 5}}, "metadata.k"),
        ({"items": [{"role": "user", "content": "ok"}], "metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
        ({"items": [{"role": "user", "content": "ok"}], "ttl_seconds": 0}, "ttl_seconds"),
        ({"items": [{"role": "user", "content": "ok"}], "expected_version": "1"}, "expected_version"),
        ({"role": "user"}, "items[0].content"),
        ({"content": "bare without role"}, "items[0]"),
    ],
)
def test_invalid_items_are_400_with_the_param(api, seeded, body, param):
    error = error_of(api.post("/v1/sessions/seed/append", body, format="json"), 400)
    assert error["param"] == param, error
    error_of(api.post("/v1/sessions/brand-new/append", body, format="json"), 400)
    assert snapshot(api.tenant) == seeded


def test_reusing_an_item_id_of_the_conversation_is_409(api, seeded):
    api.post("/v1/sessions/ids/append", {"items": [{"id": "msg_1", "role": "user", "content": "a"}]}, format="json")
    before = snapshot(api.tenant)
    error = error_of(api.post("/v1/sessions/ids/append", {"items": [{"id": "msg_1", "role": "user", "content": "b"}]}, format="json"), 409)
    assert error["param"] == "items"
    assert snapshot(api.tenant) == before


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"{",
        b"not json",
        b"[1, 2]",
        b'"a string"',
        b"42",
        b"null",
        b'{"items": [{"role": "user", "content": NaN}]}',
        b'{"items": [{"role": "user", "content": Infinity}]}',
        b'{"items": [{"role": "user", "content": "\\ud800"}]}',
        b'{"items": [{"role": "user", "content": "\\udfff tail"}]}',
        b'{"items": [{"role": "user", "\\ud800": "x"}]}',
        b'{"items": [{"role": "user", "content": "\\u0000"}]}',
        b'{"items": [{"role": "user", "content": "\xff\xfe"}]}',
        b'{"items": [{"role": "user", "content": "\xed\xa0\x80"}]}',
        b"\xef\xbb\xbf" + b'{"role": "user", "content": "bom"}',
        b"[" * 100000 + b"]" * 100000,
    ],
)
def test_malformed_bodies_are_400_json(api, seeded, payload):
    for path in ("/v1/sessions/seed/append", "/v1/sessions/responses"):
        response = raw(api, "POST", path, payload)
        error_of(response, 400)
    assert snapshot(api.tenant) == seeded


def test_nul_inside_an_item_names_the_item(api, seeded):
    body = {"items": [{"role": "user", "content": "ok"}, {"role": "user", "content": "nul\u0000"}]}
    error = error_of(api.post("/v1/sessions/seed/append", body, format="json"), 400)
    assert error["param"] in ("items", "items[1]", "items[1].content")
    assert snapshot(api.tenant) == seeded


def test_lone_surrogate_inside_a_store_response_names_the_item(api, seeded):
    payload = b'{"conversation_id": "seed", "output": [{"role": "assistant", "content": "\\ud83d"}]}'
    error = error_of(raw(api, "POST", "/v1/sessions/responses", payload), 400)
    assert error["param"] in ("output", "output[0]", "output[0].content")
    assert snapshot(api.tenant) == seeded


def test_deeply_nested_item_is_rejected_without_a_5xx(api, seeded):
    content = {"a": None}
    for _ in range(900):
        content = {"a": content}
    response = api.post("/v1/sessions/deep/append", {"items": [{"type": "custom", "data": content}]}, format="json")
    assert response.status_code in (201, 400, 413), response.content


def test_wrong_content_type_is_a_4xx_json(api, seeded):
    response = raw(api, "POST", "/v1/sessions/seed/append", b"role=user&content=x", content_type="application/x-www-form-urlencoded")
    assert 400 <= response.status_code < 500
    assert response.json()["error"]
    assert snapshot(api.tenant) == seeded


# --- sizes ------------------------------------------------------------------------------------------


def test_item_over_max_item_bytes_is_413(api, seeded, settings):
    settings.CONVOSTORE_MAX_ITEM_BYTES = 2000
    error = error_of(api.post("/v1/sessions/seed/append", {"items": [{"role": "user", "content": "x" * 3000}]}, format="json"), 413)
    assert error["param"] == "items[0]"
    assert snapshot(api.tenant) == seeded
    assert api.post("/v1/sessions/seed/append", {"items": [{"role": "user", "content": "x" * 1500}]}, format="json").status_code == 201


def test_item_over_max_item_bytes_in_a_response_is_413(api, seeded, settings):
    settings.CONVOSTORE_MAX_ITEM_BYTES = 2000
    body = {"conversation_id": "seed", "input": [{"role": "user", "content": "ok"}], "output": [{"role": "assistant", "content": "x" * 3000}]}
    error = error_of(api.post("/v1/sessions/responses", body, format="json"), 413)
    assert error["param"] == "output[0]"
    assert snapshot(api.tenant) == seeded


def test_item_bytes_count_utf8_not_characters(api, seeded, settings):
    settings.CONVOSTORE_MAX_ITEM_BYTES = 2000
    error_of(api.post("/v1/sessions/seed/append", {"items": [{"role": "user", "content": "é" * 1000}]}, format="json"), 413)


def test_body_over_data_upload_max_memory_size_is_413_json(api, seeded, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 5000
    body = {"items": [{"role": "user", "content": "x" * 1000} for _ in range(8)]}
    error = error_of(api.post("/v1/sessions/seed/append", body, format="json"), 413)
    assert error["code"] == "payload_too_large"
    assert snapshot(api.tenant) == seeded


def test_body_over_data_upload_max_memory_size_on_store_response(api, seeded, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 5000
    body = {"conversation_id": "seed", "input": [{"role": "user", "content": "x" * 1000} for _ in range(8)]}
    error_of(api.post("/v1/sessions/responses", body, format="json"), 413)
    assert snapshot(api.tenant) == seeded


# --- auth -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic abc", "Token cs_abc", "Bearer cs_00000000_nope", "bearer x y"],
)
def test_bad_or_missing_key_is_401_json(db, header):
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    for method, path in [("get", "/v1/sessions/x"), ("post", "/v1/sessions/x/append"), ("get", "/v1/sessions/resolve?previous_response_id=r"),
                         ("delete", "/v1/sessions/x"), ("post", "/v1/sessions/responses"), ("get", "/v1/sessions/x/items")]:
        response = getattr(client, method)(path, {"role": "user", "content": "x"} if method == "post" else None, format="json")
        error = error_of(response, 401)
        assert error["code"] == "invalid_api_key"
    assert not Conversation.objects.exists()


def test_revoked_key_is_401(api):
    from sessions_app.services import api_key_revoke

    assert api.get("/v1/sessions/x").status_code == 404
    api_key_revoke(prefix=api.raw_key[:11])
    error_of(api.get("/v1/sessions/x"), 401)


def test_expired_key_is_401(api):
    from django.utils import timezone

    from sessions_app.models import ApiKey

    ApiKey.objects.filter(tenant=api.tenant).update(expires_at=timezone.now())
    redis_client.connection("default").flushdb()
    error_of(api.get("/v1/sessions/x"), 401)


# --- 404 / 405 ----------------------------------------------------------------------------------------


def test_unknown_conversation_is_404_everywhere(api):
    for response in (api.get("/v1/sessions/nope"), api.get("/v1/sessions/nope/items"), api.delete("/v1/sessions/nope")):
        assert error_of(response, 404)["param"] == "conversation_id"


def test_unknown_response_is_404(api):
    error_of(api.get("/v1/sessions/resolve", {"previous_response_id": "resp_nope"}), 404)


def test_resolve_parameter_errors(api):
    assert error_of(api.get("/v1/sessions/resolve"), 400)["param"] == "previous_response_id"
    assert error_of(api.get("/v1/sessions/resolve", {"previous_response_id": "bad id!"}), 400)["param"] == "previous_response_id"
    assert error_of(api.get("/v1/sessions/resolve", {"previous_response_id": "x" * 200}), 400)["param"] == "previous_response_id"


def test_unknown_after_is_404(api):
    api.post("/v1/sessions/page/append", {"role": "user", "content": "x"}, format="json")
    assert error_of(api.get("/v1/sessions/page/items", {"after": "msg_nope"}), 404)["param"] == "after"


@pytest.mark.parametrize("query,param", [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"limit": "ten"}, "limit"),
                                          ({"limit": -1}, "limit"), ({"order": "up"}, "order")])
def test_item_list_query_errors(api, query, param):
    api.post("/v1/sessions/page/append", {"role": "user", "content": "x"}, format="json")
    assert error_of(api.get("/v1/sessions/page/items", query), 400)["param"] == param


@pytest.mark.parametrize("path", ["/v1/nope", "/v1/sessions/a/b/c", "/v1/sessions/a/append/x", "/v1", "/v1/", "/v1/sessions/"])
def test_unknown_paths_under_v1_are_404_json(api, path):
    error = error_of(api.get(path), 404)
    assert error["code"] == "not_found"
    error_of(APIClient().get(path), 404)  # even without a key, never HTML


@pytest.mark.parametrize(
    "method,path",
    [("get", "/v1/sessions/x/append"), ("put", "/v1/sessions/x/append"), ("get", "/v1/sessions/responses"),
     ("delete", "/v1/sessions/resolve"), ("post", "/v1/sessions/resolve"), ("patch", "/v1/sessions/x"), ("put", "/v1/sessions/x/items")],
)
def test_wrong_methods_are_405_json(api, method, path):
    error = error_of(getattr(api, method)(path), 405)
    assert error["code"] == "method_not_allowed"


# --- 409 ----------------------------------------------------------------------------------------------


def test_response_id_taken_is_409(api):
    body = {"response_id": "resp_mine", "conversation_id": "r", "output": [{"role": "assistant", "content": "a"}]}
    assert api.post("/v1/sessions/responses", body, format="json").status_code == 201
    before = snapshot(api.tenant)
    error = error_of(api.post("/v1/sessions/responses", {**body, "conversation_id": "other"}, format="json"), 409)
    assert error["code"] == "response_id_taken" and error["param"] == "response_id"
    assert snapshot(api.tenant) == before


def test_store_response_without_conversation_or_previous_is_400(api, seeded):
    error = error_of(api.post("/v1/sessions/responses", {"output": [{"role": "assistant", "content": "a"}]}, format="json"), 400)
    assert error["param"] == "conversation_id"
    assert snapshot(api.tenant) == seeded


@pytest.mark.parametrize(
    "body,param",
    [
        ({"conversation_id": "seed", "input": "x"}, "input"),
        ({"conversation_id": "seed", "output": {"role": "assistant"}}, "output"),
        ({"conversation_id": "seed", "usage": 5}, "usage"),
        ({"conversation_id": "seed", "model": 5}, "model"),
        ({"conversation_id": "seed", "response_id": "bad id"}, "response_id"),
        ({"conversation_id": "seed", "response_id": 5}, "response_id"),
        ({"previous_response_id": "bad id"}, "previous_response_id"),
        ({"conversation_id": "seed", "input": [{"role": "user", "content": "x"}] * 21}, "input"),
        ({"conversation_id": "seed", "output": [{"role": "user"}]}, "output[0].content"),
    ],
)
def test_store_response_validation(api, seeded, body, param):
    error = error_of(api.post("/v1/sessions/responses", body, format="json"), 400)
    assert error["param"] == param, error
    assert snapshot(api.tenant) == seeded


# --- no 5xx on malformed input ------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
item_like = st.fixed_dictionaries(
    {}, optional={"role": json_values | st.sampled_from(["user", "assistant"]), "content": json_values | st.text(max_size=20),
                  "type": json_values | st.sampled_from(["message", "function_call", "x" * 65]), "id": json_values | st.text(max_size=100)}
)
append_bodies = (
    json_values
    | item_like
    | st.fixed_dictionaries({"items": st.lists(item_like, max_size=22) | json_values},
                            optional={"expected_version": json_values, "metadata": json_values, "ttl_seconds": json_values})
)
store_bodies = st.fixed_dictionaries(
    {},
    optional={"conversation_id": json_values | st.sampled_from(["fz", "resolve", "a" * 65]), "previous_response_id": json_values,
              "response_id": json_values | st.text(max_size=100), "input": st.lists(item_like, max_size=3) | json_values,
              "output": st.lists(item_like, max_size=3) | json_values, "model": json_values, "usage": json_values},
)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=append_bodies, conversation_id=st.text(min_size=1, max_size=70).filter(lambda s: "/" not in s and "?" not in s and "#" not in s))
def test_random_append_bodies_never_5xx(api, body, conversation_id):
    from urllib.parse import quote

    response = api.post(f"/v1/sessions/{quote(conversation_id, safe='')}/append", body, format="json")
    assert response.status_code < 500, (response.status_code, response.content)
    if response.status_code >= 400:
        assert response.json()["error"]["message"]


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=store_bodies)
def test_random_store_response_bodies_never_5xx(api, body):
    response = api.post("/v1/sessions/responses", body, format="json")
    assert response.status_code < 500, (response.status_code, response.content)


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(after=st.text(max_size=30), limit=st.text(max_size=5), order=st.text(max_size=5), response_id=st.text(max_size=30))
def test_random_query_strings_never_5xx(api, after, limit, order, response_id):
    api.post("/v1/sessions/q/append", {"role": "user", "content": "x"}, format="json")
    assert api.get("/v1/sessions/q/items", {"after": after, "limit": limit, "order": order}).status_code < 500
    assert api.get("/v1/sessions/resolve", {"previous_response_id": response_id}).status_code < 500
