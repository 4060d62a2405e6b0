"""convostore.client against a live ConvoStore: every native endpoint, typed errors, the retry policy."""

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from convostore import client as cs


@pytest.fixture
def native(live_server, api):
    with cs.Client(f"{live_server.url}", api.raw_key, max_retries=0) as native:
        yield native


def test_every_native_endpoint(native):
    appended = native.append("c1", [{"role": "user", "content": "Hi"}], metadata={"user": "u1"}, idempotency_key="k1")
    assert appended["conversation_id"] == "c1"
    stored = native.store_response(conversation_id="c1", input=[{"role": "user", "content": "Weather?"}],
                                   output=[{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Sun"}]}],
                                   model="m")
    resolved = native.resolve(stored["response_id"])
    assert json.dumps(resolved).count("Weather?") == 1 and "Sun" in json.dumps(resolved)
    assert native.get("c1")["id"] == "c1"
    page = native.items("c1", order="asc")
    assert [i["role"] for i in page["data"]] == ["user", "user", "assistant"]
    assert "Hi" in json.dumps(native.context("c1", max_tokens=1000))
    assert "Sun" in json.dumps(native.context(previous_response_id=stored["response_id"]))
    entry = native.cache_store(namespace="ns", text="Book 2 seats for the 7pm show.", response="booked")
    assert entry["namespace"] == "ns"
    assert native.cache_lookup(namespace="ns", text="Book 2 seats for the 7pm show.")["hit"] is True
    assert native.delete("c1") == {"id": "c1", "deleted": True}


def test_errors_are_typed_from_the_openai_shape(native, live_server):
    with pytest.raises(cs.NotFound) as missing:
        native.get("nope")
    assert missing.value.status == 404 and missing.value.type and missing.value.message
    with pytest.raises(cs.BadRequest) as bad:
        native.append("c2", [], metadata={"user": "u"})
    assert bad.value.status == 400 and bad.value.param
    native.append("c2", [{"role": "user", "content": "a"}], idempotency_key="same")
    with pytest.raises(cs.Conflict):
        native.append("c2", [{"role": "user", "content": "b"}], idempotency_key="same")
    with pytest.raises(cs.AuthenticationFailed):
        cs.Client(live_server.url, "wrong", max_retries=0).get("c2")


def test_the_async_client_speaks_the_same_endpoints(live_server, api):
    async def run():
        async with cs.AsyncClient(live_server.url, api.raw_key, max_retries=0) as native:
            await native.append("a1", [{"role": "user", "content": "Hi"}])
            with pytest.raises(cs.NotFound):
                await native.get("missing")
            return await native.items("a1")
    assert [i["role"] for i in asyncio.run(run())["data"]] == ["user"]


class _Unavailable(BaseHTTPRequestHandler):
    """Answers every request 503 and counts them (a server that is down, for the retry policy)."""

    def log_message(self, *args):
        pass

    def _answer(self):
        self.server.hits += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"error": {"message": "down", "type": "server_error", "param": null, "code": null}}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer


@pytest.fixture
def unavailable():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    server.hits = 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_retries_only_idempotent_calls_or_keyed_writes(unavailable):
    waits = []
    native = cs.Client(f"http://127.0.0.1:{unavailable.server_address[1]}", "k", max_retries=2, sleep=waits.append)
    calls = [(lambda: native.get("c"), 3), (lambda: native.delete("c"), 3), (lambda: native.append("c", [{}]), 1),
             (lambda: native.append("c", [{}], idempotency_key="x"), 3), (lambda: native.cache_store(namespace="n", text="t", response=1), 1),
             (lambda: native.cache_lookup(namespace="n", text="t"), 3)]
    for call, attempts in calls:
        unavailable.hits = 0
        with pytest.raises(cs.ServerError) as failed:
            call()
        assert failed.value.status == 503 and unavailable.hits == attempts
    assert waits == [0.25, 0.5] * 4  # backoff doubles; sleep is injected, nothing waits here
    with pytest.raises(cs.ConnectionFailed):
        cs.Client("http://127.0.0.1:9", "k", max_retries=1, sleep=waits.append).get("c")


def test_the_async_client_retries_as_the_sync_one(unavailable):
    waits = []

    async def sleep(seconds):
        waits.append(seconds)

    async def attempts_of(call) -> int:
        unavailable.hits = 0
        with pytest.raises(cs.ServerError) as failed:
            await call()
        assert failed.value.status == 503
        return unavailable.hits

    async def scenario():
        async with cs.AsyncClient(f"http://127.0.0.1:{unavailable.server_address[1]}", "k", max_retries=2, sleep=sleep) as native:
            assert await attempts_of(lambda: native.get("c")) == 3
            assert await attempts_of(lambda: native.append("c", [{}])) == 1
            assert await attempts_of(lambda: native.append("c", [{}], idempotency_key="x")) == 3
        async with cs.AsyncClient("http://127.0.0.1:9", "k", max_retries=1, sleep=sleep) as down:
            with pytest.raises(cs.ConnectionFailed):
                await down.get("c")

    asyncio.run(scenario())
    assert waits == [0.25, 0.5, 0.25, 0.5, 0.25]
