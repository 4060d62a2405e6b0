"""Every /v1 URL pattern, exercised with another tenant's ids and keys, and with a revoked key.

The URLconf is enumerated, so a new endpoint without an entry in PROBES fails this test: nothing
under /v1 can escape the isolation check.
"""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from sessions_app.services import api_key_create, api_key_revoke, conversation_append, response_store

pytestmark = pytest.mark.django_db

VECTOR = [1.0] + [0.0] * 255

# route → [(method, concrete path, body, check)] where check(response, victim) asserts isolation.
# "404" means the foreign tenant must get exactly what a missing id gets.
PROBES = {
    "v1/sessions/resolve": [("get", "/v1/sessions/resolve?previous_response_id=resp_a", None, "404")],
    "v1/sessions/responses": [
        ("post", "/v1/sessions/responses", {"previous_response_id": "resp_a", "input": [], "output": []}, "404"),
    ],
    "v1/sessions/context": [("get", "/v1/sessions/context?previous_response_id=resp_a", None, "404")],
    "v1/sessions/<str:conversation_id>/context": [("get", "/v1/sessions/conv-a/context", None, "404")],
    "v1/sessions/<str:conversation_id>/append": [
        ("post", "/v1/sessions/conv-a/append", {"items": [{"role": "user", "content": "x"}], "expected_version": 2}, "own"),
    ],
    "v1/sessions/<str:conversation_id>/items": [("get", "/v1/sessions/conv-a/items", None, "404")],
    "v1/sessions/<str:conversation_id>": [
        ("get", "/v1/sessions/conv-a", None, "404"),
        ("delete", "/v1/sessions/conv-a", None, "404"),
    ],
    "v1/cache/lookup": [("post", "/v1/cache/lookup", {"namespace": "ns", "embedding": VECTOR}, "miss")],
    "v1/cache/store": [("post", "/v1/cache/store", {"namespace": "ns", "embedding": VECTOR, "response": {"mine": 1}}, "own")],
    "v1/cache/entries/<str:entry_id>": [("delete", "/v1/cache/entries/{entry_id}", None, "404")],
    "v1/cache/namespaces/<path:namespace>": [("delete", "/v1/cache/namespaces/ns", None, "no-effect")],
    "v1/cache/embeddings:batchGet": [("post", "/v1/cache/embeddings:batchGet", {"keys": ["emb-a"]}, "none-found")],
    "v1/cache/embeddings/<path:key>": [
        ("get", "/v1/cache/embeddings/emb-a", None, "404"),
        ("put", "/v1/cache/embeddings/emb-a", {"embedding": [0.0, 1.0] + [0.0] * 254, "model": "m"}, "own"),
        ("delete", "/v1/cache/embeddings/emb-a", None, "no-effect"),
    ],
    "v1/conversations": [("post", "/v1/conversations", {"items": []}, "own")],
    "v1/conversations/<str:conversation_id>": [
        ("get", "/v1/conversations/conv-a", None, "404"),
        ("post", "/v1/conversations/conv-a", {"metadata": {"k": "v"}}, "404"),
        ("delete", "/v1/conversations/conv-a", None, "404"),
    ],
    "v1/conversations/<str:conversation_id>/items": [
        ("get", "/v1/conversations/conv-a/items", None, "404"),
        ("post", "/v1/conversations/conv-a/items", {"items": [{"role": "user", "content": "x"}]}, "404"),
    ],
    "v1/conversations/<str:conversation_id>/items/<str:item_id>": [
        ("get", "/v1/conversations/conv-a/items/msg_a", None, "404"),
        ("delete", "/v1/conversations/conv-a/items/msg_a", None, "404"),
    ],
    "v1/responses/<str:response_id>": [
        ("get", "/v1/responses/resp_a", None, "404"),
        ("delete", "/v1/responses/resp_a", None, "404"),
    ],
    "v1/responses/<str:response_id>/input_items": [("get", "/v1/responses/resp_a/input_items", None, "404")],
    # gateway mode; with a route to a model server: tests/gateway/test_gateway_create.py (foreign ids are 404s)
    "v1/responses": [
        ("post", "/v1/responses", {"model": "m", "input": "x", "previous_response_id": "resp_a"}, "404"),
        ("post", "/v1/responses", {"model": "m", "input": "x", "conversation": "conv-a"}, "404"),
    ],
}


def _routes(patterns=None, prefix=""):
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern


def _methods(pattern) -> set[str]:
    view = getattr(pattern.callback, "view_class", None)
    return {m for m in ("get", "post", "put", "patch", "delete") if view is not None and hasattr(view, m)}


@pytest.fixture
def victim(tenant):
    """Tenant A's rows and cache entries, under the ids the probes use."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(tenant=tenant).raw_key}")
    conversation_append(tenant=tenant, conversation_id="conv-a", items=[{"id": "msg_a", "role": "user", "content": "secret"}])
    response_store(tenant=tenant, conversation_id="conv-a", response_id="resp_a", input_items=[],
                   output_items=[{"role": "assistant", "content": "secret answer"}])
    stored = client.post("/v1/cache/store", {"namespace": "ns", "embedding": VECTOR, "response": {"secret": 1}}, format="json")
    assert stored.status_code == 201, stored.content
    assert client.put("/v1/cache/embeddings/emb-a", {"embedding": VECTOR, "model": "m"}, format="json").status_code in (200, 201)
    client.entry_id = stored.json()["entry_id"]
    return client


def _state(victim):
    """What tenant A can see; no foreign call may change it."""
    return (
        victim.get("/v1/sessions/conv-a").json(),
        victim.get("/v1/sessions/conv-a/items").json(),
        victim.post("/v1/cache/lookup", {"namespace": "ns", "embedding": VECTOR}, format="json").json().get("response"),
        {k: v for k, v in victim.get("/v1/cache/embeddings/emb-a").json().items() if k != "expires_in_s"},  # the TTL ticks
    )


def test_every_v1_route_has_an_isolation_probe():
    routes = {route: pattern for route, pattern in _routes() if route.startswith("v1/")}
    missing = sorted(set(routes) - set(PROBES))
    assert not missing, f"add isolation probes for: {missing}"
    for route, pattern in routes.items():
        probed = {method for method, *_ in PROBES[route]}
        assert _methods(pattern) <= probed, f"{route}: methods {sorted(_methods(pattern) - probed)} are not probed"


@pytest.mark.parametrize("route", sorted(PROBES))
def test_another_tenants_key_never_reaches_this_tenants_data(route, victim, other_api, settings):
    settings.CONVOSTORE = {**settings.CONVOSTORE, "RATE_LIMIT_PER_MINUTE": 0}
    before = _state(victim)
    for method, path, body, check in PROBES[route]:
        path = path.format(entry_id=victim.entry_id)
        response = getattr(other_api, method)(path, body, format="json") if body is not None else getattr(other_api, method)(path)
        assert response.status_code < 500, (method, path, response.content)
        text = response.content.decode()
        assert "secret" not in text, (method, path, text)
        if check == "404":
            assert response.status_code == 404, (method, path, response.status_code, text)
            assert response.json()["error"]["type"] == "invalid_request_error"
        elif check == "miss":
            assert response.json().get("hit") is False
        elif check == "none-found":
            assert all(v in (None, {}) or (isinstance(v, dict) and not v.get("embedding")) for v in _batch_values(response.json()))
    assert _state(victim) == before


def _batch_values(body):
    data = body.get("embeddings", body.get("data", body))
    if isinstance(data, dict):
        return list(data.values())
    return list(data)


@pytest.mark.parametrize("route", sorted(PROBES))
def test_a_revoked_key_is_refused_everywhere(route, api, settings):
    settings.CONVOSTORE = {**settings.CONVOSTORE, "RATE_LIMIT_PER_MINUTE": 0}
    api.get("/v1/sessions/warm-the-key-cache")
    from sessions_app.models import ApiKey

    api_key_revoke(prefix=ApiKey.objects.get(tenant=api.tenant).prefix)
    for method, path, body, _ in PROBES[route]:
        path = path.format(entry_id="sem_x")
        response = getattr(api, method)(path, body, format="json") if body is not None else getattr(api, method)(path)
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.json()["error"]["code"] == "invalid_api_key"
