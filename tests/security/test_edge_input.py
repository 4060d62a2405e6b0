"""Client input that could reach SQL or Redis is checked at the edge: NUL, lone surrogates, length, id patterns.

Each case answers 400 in the OpenAI shape with ``param`` naming the parameter, on every route (the
URLconf is enumerated), in the admin too, and never a 5xx. See docs/reliability.md, "Hostile input".
"""

from __future__ import annotations

import re

import pytest
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from cache_app import redis_client
from sessions_app.services import conversation_append, response_store
from tests.sessions_app.admin_fixtures import superuser, support_user  # noqa: F401

pytestmark = pytest.mark.django_db

NUL = "a%00b"


def drop_hot_copies(prefix: str) -> None:
    """Remove every Redis key of this test: the conversation is then not wholly hot (Postgres answers)."""
    client = redis_client.connection("hot")
    for name in client.scan_iter(f"{prefix}:*"):
        client.delete(name)


@pytest.fixture
def cold(api, redis_prefix):
    conversation_append(tenant=api.tenant, conversation_id="cold", items=[{"role": "user", "content": "hi"}])
    response_store(tenant=api.tenant, conversation_id="cold", response_id="resp_cold", input_items=[{"role": "user", "content": "q"}],
                   output_items=[{"role": "assistant", "content": "a"}])
    drop_hot_copies(redis_prefix)
    return api


def assert_400(response, param: str):
    assert response.status_code == 400, (response.status_code, response.content[:300])
    error = response.json()["error"]
    assert error["param"] == param, error
    assert error["type"] == "invalid_request_error" and error["message"]


@pytest.mark.parametrize("path", ["/v1/sessions/cold/items", "/v1/conversations/cold/items", "/v1/responses/resp_cold/input_items"])
def test_nul_in_after_on_a_conversation_not_wholly_hot_is_400(cold, path):
    assert_400(cold.get(f"{path}?after={NUL}"), "after")


@pytest.mark.parametrize("path", ["/v1/sessions/cold/items", "/v1/conversations/cold/items"])
def test_an_after_that_is_not_an_item_id_is_400(cold, path):
    assert_400(cold.get(f"{path}?after=" + "a" * 97), "after")
    assert_400(cold.get(f"{path}?after=has%20space"), "after")


def test_nul_in_previous_response_id_is_400(cold):
    assert_400(cold.get(f"/v1/sessions/resolve?previous_response_id={NUL}"), "previous_response_id")
    assert_400(cold.get(f"/v1/sessions/context?previous_response_id={NUL}"), "previous_response_id")


def test_nul_in_a_query_parameter_no_view_reads_is_still_400(cold):
    assert_400(cold.get(f"/v1/sessions/cold/items?unknown={NUL}"), "unknown")
    assert_400(cold.get("/v1/sessions/cold/items?a%00b=1"), "a\x00b")


def test_an_overlong_query_value_is_400(cold):
    assert_400(cold.get("/v1/sessions/cold/items?unknown=" + "x" * 5000), "unknown")
    # A parameter with its own larger bound keeps it: 64 KB of instructions are accepted.
    assert cold.get("/v1/sessions/cold/context?instructions=" + "x" * 10000).status_code == 200


@pytest.mark.parametrize("header, param", [
    ("HTTP_IDEMPOTENCY_KEY", "Idempotency-Key"),
    ("HTTP_X_CONVOSTORE_CONVERSATION", "X-ConvoStore-Conversation"),
    ("HTTP_USER_AGENT", "User-Agent"),
])
def test_nul_in_a_header_is_400(cold, header, param):
    response = cold.post("/v1/sessions/cold/append", {"role": "user", "content": "x"}, format="json", **{header: "a\x00b"})
    assert_400(response, param)


def test_a_conversation_header_that_is_not_a_conversation_id_is_400(cold):
    response = cold.get("/v1/sessions/cold", HTTP_X_CONVOSTORE_CONVERSATION="no spaces allowed")
    assert_400(response, "X-ConvoStore-Conversation")


def test_nul_in_the_authorization_header_is_400_before_any_lookup(cold, client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/v1/sessions/cold", HTTP_AUTHORIZATION="Bearer a\x00b")
    assert_400(response, "Authorization")


def test_a_huge_authorization_header_is_refused_cheaply(cold, client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/v1/sessions/cold", HTTP_AUTHORIZATION="Bearer " + "k" * 100_000)
    assert response.status_code in (400, 401)
    assert response.json()["error"]["param"] in (None, "Authorization")


def test_lone_surrogates_are_refused_where_a_server_could_pass_them():
    """WSGI decodes URLs as UTF-8 with replacement, so only another front could pass a surrogate; the edge checks anyway."""
    from convostore.edge import EdgeMiddleware

    middleware = EdgeMiddleware(lambda request: pytest.fail("the view must not run"))
    request = RequestFactory().get("/v1/sessions/x/items")
    request.GET = request.GET.copy()
    request.GET["after"] = "a\ud800"
    response = middleware(request)
    assert response.status_code == 400 and b'"param": "after"' in response.content
    request = RequestFactory().get("/v1/sessions/x/items")
    response = middleware.process_view(request, None, (), {"conversation_id": "x\udfff"})
    assert response.status_code == 400 and b'"param": "conversation_id"' in response.content


# --- every route: path parameters and query parameters ---------------------------------------------


def v1_patterns():
    found = []

    def walk(patterns, prefix):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                found.append(prefix + str(entry.pattern))

    walk(get_resolver().url_patterns, "")
    return sorted(route for route in found if route.startswith("v1/"))


def concrete(route: str, bad_param: str | None = None) -> str:
    def fill(match):
        name = match.group(2)
        return NUL if name == bad_param else {"conversation_id": "cold", "item_id": "msg_x", "response_id": "resp_cold"}.get(name, "k")

    return "/" + re.sub(r"<(\w+):(\w+)>", fill, route)


@pytest.mark.parametrize("route", v1_patterns())
def test_every_route_refuses_nul_in_each_path_and_query_parameter(cold, route):
    for method in ("get", "post", "put", "delete"):
        response = getattr(cold, method)(concrete(route) + f"?after={NUL}&include={NUL}&anything={NUL}")
        if response.status_code != 405:
            assert_400(response, "after")
        for name in re.findall(r"<\w+:(\w+)>", route):
            response = getattr(cold, method)(concrete(route, bad_param=name))
            if response.status_code != 405:
                assert_400(response, name)


# --- the admin -----------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["prefix=a%00b", "q=a%00b", "tenant__id__exact=a%00b", "o=a%00b", "a%00b=1", "q=" + "x" * 5000])
def test_nul_or_overlong_values_in_an_admin_changelist_are_400(client, superuser, query):  # noqa: F811
    client.force_login(superuser)
    for name in ("sessions_app_apikey", "sessions_app_conversation", "sessions_app_tenant"):
        response = client.get(reverse(f"admin:{name}_changelist") + "?" + query)
        assert response.status_code == 400, (name, query, response.status_code)


def test_nul_in_an_admin_object_id_is_400(client, superuser):  # noqa: F811
    client.force_login(superuser)
    response = client.get("/admin/sessions_app/conversation/a%00b/change/")
    assert response.status_code == 400


def test_nul_in_the_session_cookie_is_400_not_500(client):
    client.cookies["sessionid"] = "abcdefgh\x00ijklmnop"
    response = client.get(reverse("admin:index"))
    assert response.status_code == 400


# --- JSON bodies: NUL or a lone surrogate in any string or key of any body ------------------------

VECTOR = [1.0] + [0.0] * 255
BODIES = {
    ("post", "/v1/sessions/cold/append"): {"items": [{"id": "msg_1", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]}],
                                           "metadata": {"k": "v"}},
    ("post", "/v1/sessions/responses"): {"conversation_id": "cold", "response_id": "resp_2", "model": "gpt",
                                         "input": [{"role": "user", "content": "q"}], "output": [{"role": "assistant", "content": "a"}]},
    ("post", "/v1/conversations"): {"items": [{"role": "user", "content": "x"}], "metadata": {"k": "v"}},
    ("post", "/v1/conversations/cold"): {"metadata": {"k": "v"}},
    ("post", "/v1/conversations/cold/items"): {"items": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}]},
    ("post", "/v1/cache/lookup"): {"namespace": "ns", "text": "t", "context": "c"},
    ("post", "/v1/cache/store"): {"namespace": "ns", "embedding": VECTOR, "response": {"k": "v"}, "conversation_id": "cold"},
    ("put", "/v1/cache/embeddings/k"): {"embedding": VECTOR, "model": "m"},
    ("post", "/v1/cache/embeddings:batchGet"): {"keys": ["k"]},
    ("post", "/v1/responses"): {"model": "m", "input": [{"role": "user", "content": "x"}], "conversation": "cold", "metadata": {"k": "v"}},
    ("post", "/v1/chat/completions"): {"model": "m", "messages": [{"role": "user", "content": "x"}], "convostore": {"conversation": "cold"}},
}


def string_positions(value, path=()):
    """Every path to a string value or a key in ``value``: ("k", 0, "content") or ("k", 0, KEY, "content")."""
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, nested in value.items():
            yield path + (KEY, key)
            yield from string_positions(nested, path + (key,))
    elif isinstance(value, list):
        for index, nested in enumerate(value):
            yield from string_positions(nested, path + (index,))


KEY = object()


def poisoned(value, path, bad):
    if not path:
        return bad
    if path[0] is KEY:
        return {(bad if key == path[1] else key): nested for key, nested in value.items()}
    copy = list(value) if isinstance(value, list) else dict(value)
    copy[path[0]] = poisoned(value[path[0]], path[1:], bad)
    return copy


@pytest.mark.parametrize("method, path", list(BODIES))
def test_nul_or_a_lone_surrogate_anywhere_in_a_body_is_400_and_writes_nothing(cold, method, path):
    import json

    from sessions_app.models import Conversation, Item, Response

    before = (Conversation.objects.count(), Item.objects.count(), Response.objects.count())
    body = BODIES[(method, path)]
    for position in string_positions(body):
        for bad in ("x\u0000y", "x\ud800y"):
            payload = json.dumps(poisoned(body, position, bad)).encode()  # ASCII: \u0000 and \ud800 escapes
            response = getattr(cold, method)(path, payload, content_type="application/json")
            assert response.status_code == 400, (position, bad, response.status_code, response.content[:300])
    assert (Conversation.objects.count(), Item.objects.count(), Response.objects.count()) == before


def test_a_body_string_holding_nul_is_named_by_its_json_path(cold):
    response = cold.post("/v1/sessions/cold/append", b'{"items": [{"role": "user", "content": "ok"}, {"role": "user", "content": "a\\u0000"}]}',
                         content_type="application/json")
    assert_400(response, "items[1].content")
