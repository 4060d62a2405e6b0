"""An ASGI front for the WSGI app: slow clients cost a coroutine, never one of the threads that run views."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from tempfile import SpooledTemporaryFile

from asgiref.wsgi import WsgiToAsgiInstance

from convostore.memory import release_memory

logger = logging.getLogger(__name__)

SPOOL_BYTES = 1024 * 1024  # a body past this waits in a temporary file, not in memory
# After a request whose body passed this, its thread drops its connections (after_large_request) and a pool
# thread frees cycles and trims the heap (convostore.memory.release_memory) once the answer is written: RSS
# returns to near its level before. That costs ~60-100 ms (a full collection, a reconnect) on top of a
# request of ~1 s at this size (bench/abuse.py); smaller requests grow a worker by tens of MB at most.
RELEASE_AFTER_BYTES = 8 * 1024 * 1024
_TOO_LARGE = (b'{"error": {"message": "Request body too large.", "type": "invalid_request_error", "param": null, '
              b'"code": "payload_too_large"}}')
_TOO_SLOW = (b'{"error": {"message": "The request body did not arrive in time.", "type": "invalid_request_error", '
             b'"param": null, "code": "request_timeout"}}')


class _Disconnected(Exception):
    pass


class BufferedWSGI:
    """ASGI application that serves a WSGI application on a pool of `threads` threads.

    The event loop reads the whole request body first (at most max_body_bytes, within body_timeout
    seconds: else 413 or 408 JSON without calling the app), then one pool thread runs the app and renders a
    non-streaming answer to bytes; the event loop writes it. After a body of more than RELEASE_AFTER_BYTES
    the thread that ran it calls after_large_request (convostore-serve: close its Postgres connections, whose
    client buffers keep the size of the largest statement) and a pool thread returns the request's memory
    to the OS (convostore.memory.release_memory) once the answer is written. A streaming answer is pulled
    one chunk at a time on the pool and each chunk is written by the event loop: a reader that accepts
    nothing for send_timeout seconds is dropped. So a client that trickles its headers (the server's
    business) or its body, or stops reading, holds no pool thread. Request headers whose name contains "_"
    are dropped (they would alias the "-" spelling in environ). Lifespan events are acknowledged; other
    scopes are refused.
    """

    def __init__(self, wsgi_app, *, threads: int, max_body_bytes: int, body_timeout: float, send_timeout: float,
                 after_large_request: Callable[[], object] | None = None):
        self.app = wsgi_app
        self.after_large_request = after_large_request
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="wsgi")
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.send_timeout = send_timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                kind = (await receive())["type"].rsplit(".", 1)[-1]  # startup, then shutdown
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        if scope["type"] != "http":
            raise ValueError(f"unsupported ASGI scope {scope['type']!r}")
        scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if b"_" not in k]}
        with SpooledTemporaryFile(max_size=SPOOL_BYTES) as body:
            try:
                complete = await asyncio.wait_for(self._read_body(scope, receive, body), self.body_timeout)
            except asyncio.TimeoutError:
                return await self._answer(send, 408, _TOO_SLOW)
            except _Disconnected:
                return
            if not complete:
                return await self._answer(send, 413, _TOO_LARGE)
            large = body.tell() > RELEASE_AFTER_BYTES
            body.seek(0)
            await self._respond(scope, body, send, large=large)
        if large:
            await asyncio.get_running_loop().run_in_executor(self.pool, release_memory)

    async def _respond(self, scope, body, send, *, large: bool) -> None:
        loop = asyncio.get_running_loop()
        status, headers, content, streaming = await loop.run_in_executor(self.pool, self._run_app, scope, body, large)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if streaming is None:
            await send({"type": "http.response.body", "body": content})
            return
        await self._stream(loop, send, streaming)

    async def _read_body(self, scope, receive, body) -> bool:
        """Write the whole request body into `body`: False past max_body_bytes; _Disconnected if the client leaves."""
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body_bytes:
                return False
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return False
            body.write(chunk)
            if not message.get("more_body"):
                return True

    def _run_app(self, scope, body, large: bool = False):
        """On a pool thread: (status, ASGI headers, whole body, None), or (…, b"", the WSGI iterable) when streaming.
        After a large request, after_large_request runs on this thread (the one whose connections served it)."""
        adapter = WsgiToAsgiInstance(self.app)
        adapter.scope = scope
        environ = adapter.build_environ(scope, body)
        started = {}

        def start_response(status, headers, exc_info=None):
            started["status"] = int(status.split(" ", 1)[0])
            started["headers"] = [(k.lower().encode("latin1"), v.encode("latin1")) for k, v in headers]

        result = self.app(environ, start_response)
        if getattr(result, "streaming", False):
            return started["status"], started["headers"], b"", result
        try:
            content = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()  # Django's request_finished: connection upkeep, on the thread that served the request
            if large and self.after_large_request is not None:
                self.after_large_request()
        return started["status"], started["headers"], content, None

    async def _stream(self, loop, send, result) -> None:
        done = object()
        iterator = iter(result)
        try:
            while (chunk := await loop.run_in_executor(self.pool, next, iterator, done)) is not done:
                if chunk:
                    await asyncio.wait_for(send({"type": "http.response.body", "body": chunk, "more_body": True}),
                                           self.send_timeout)
            await send({"type": "http.response.body", "body": b""})
        except (asyncio.TimeoutError, OSError, RuntimeError) as exc:
            logger.info("streaming answer abandoned: %s", exc.__class__.__name__)
        finally:
            if hasattr(result, "close"):
                await loop.run_in_executor(self.pool, result.close)

    @staticmethod
    async def _answer(send, status: int, body: bytes) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
