"""convostore.bridge on its own: body limits, the body deadline, header aliasing and a reader that never reads."""

from __future__ import annotations

import asyncio
import json

from convostore.bridge import BufferedWSGI


def wsgi_echo(environ, start_response):
    body = environ["wsgi.input"].read()
    headers = sorted(k for k in environ if k.startswith("HTTP_"))
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"body": body.decode(), "headers": headers}).encode()]


class Stream:
    """A streaming WSGI answer (Django's StreamingHttpResponse is one: .streaming is True) that records close()."""

    streaming = True

    def __init__(self):
        self.closed = False

    def __iter__(self):
        while True:
            yield b"x" * 1024

    def close(self):
        self.closed = True


def bridge(app=wsgi_echo, **limits) -> BufferedWSGI:
    options = {"threads": 2, "max_body_bytes": 100, "body_timeout": 5.0, "send_timeout": 5.0, **limits}
    return BufferedWSGI(app, **options)


def call(app: BufferedWSGI, messages: list[dict], *, headers=(), send_blocks_after: int | None = None) -> list[dict]:
    """Run one HTTP request through the ASGI app; receive() yields `messages` then waits forever."""
    scope = {"type": "http", "method": "POST", "path": "/x", "query_string": b"", "http_version": "1.1",
             "headers": list(headers), "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5000)}
    sent: list[dict] = []

    async def run():
        queue = list(messages)

        async def receive():
            if queue:
                return queue.pop(0)
            await asyncio.Event().wait()

        async def send(message):
            if send_blocks_after is not None and len(sent) >= send_blocks_after:
                await asyncio.Event().wait()  # a reader that accepts nothing more
            sent.append(message)

        await app(scope, receive, send)

    asyncio.run(run())
    return sent


def test_a_whole_body_reaches_the_app():
    sent = call(bridge(), [{"type": "http.request", "body": b"ab", "more_body": True}, {"type": "http.request", "body": b"c"}])
    assert sent[0]["status"] == 200 and json.loads(sent[1]["body"])["body"] == "abc"


def test_a_declared_oversize_body_is_refused_before_it_is_read():
    sent = call(bridge(), [], headers=[(b"content-length", b"101")])
    assert sent[0]["status"] == 413 and json.loads(sent[1]["body"])["error"]["code"] == "payload_too_large"


def test_an_oversize_body_without_a_length_is_refused():
    sent = call(bridge(), [{"type": "http.request", "body": b"x" * 60, "more_body": True},
                           {"type": "http.request", "body": b"x" * 60}])
    assert sent[0]["status"] == 413


def test_a_body_that_never_finishes_gets_408():
    sent = call(bridge(body_timeout=0.05), [{"type": "http.request", "body": b"x", "more_body": True}])
    assert sent[0]["status"] == 408 and json.loads(sent[1]["body"])["error"]["code"] == "request_timeout"


def test_header_names_with_underscores_are_dropped():
    sent = call(bridge(), [{"type": "http.request", "body": b""}],
                headers=[(b"x-forwarded-proto", b"https"), (b"x_forwarded_proto", b"http")])
    assert json.loads(sent[1]["body"])["headers"] == ["HTTP_X_FORWARDED_PROTO"]


def test_a_reader_that_accepts_nothing_is_dropped_and_the_answer_closed():
    stream = Stream()

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/event-stream")])
        return stream

    sent = call(bridge(app, send_timeout=0.05), [{"type": "http.request", "body": b""}], send_blocks_after=3)
    assert sent[0]["status"] == 200 and len(sent) == 3 and stream.closed
