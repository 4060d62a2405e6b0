"""`make run` on a machine without redis-server falls back to fakeredis's TcpFakeServer: the API must work on it.

Everything else in the suite runs on a real redis-server; this test covers only that fallback.
"""

import socket
import threading

import pytest

from cache_app import redis_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_redis(settings):
    fakeredis = pytest.importorskip("fakeredis")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = fakeredis.TcpFakeServer(("127.0.0.1", port), server_type="redis")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.CACHES = {alias: {**config, "LOCATION": f"redis://127.0.0.1:{port}/0"} for alias, config in settings.CACHES.items()}
    redis_client._scripts.clear()
    redis_client.reset_breaker()
    yield server
    redis_client._scripts.clear()
    server.shutdown()


def test_append_resolve_context_and_cache_work_on_fakeredis(fake_redis, api):
    assert api.post("/v1/sessions/f1/append", {"role": "user", "content": "hi"}, format="json").status_code == 201
    stored = api.post("/v1/sessions/responses", {"conversation_id": "f1", "input": [],
                                                 "output": [{"role": "assistant", "content": "yo"}]}, format="json")
    assert stored.status_code == 201
    response_id = stored.json()["response_id"]
    for _ in range(2):  # the second read comes from the (fake) Redis window
        resolved = api.get("/v1/sessions/resolve", {"previous_response_id": response_id})
        assert [item["content"] for item in resolved.json()["items"]] == ["hi", "yo"]
    from cache_app import hot_window

    window = hot_window.window_read(tenant_id=api.tenant.pk, conversation_id="f1")
    assert window is not None and window.version == 2 and window.full  # the hot window lives in fakeredis
    assert api.get("/v1/sessions/f1/context").status_code == 200
    assert api.post("/v1/cache/store", {"namespace": "n", "text": "what is up", "response": {"a": 1}}, format="json").status_code == 201
    assert api.post("/v1/cache/lookup", {"namespace": "n", "text": "what is up"}, format="json").json()["hit"] is True
