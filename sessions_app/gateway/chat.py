"""POST /v1/chat/completions: the gateway's flow (routes, context, upstream, extensions, one store transaction)
answered in the Chat Completions shape, JSON or SSE chunks (docs/gateway.md, "Chat Completions")."""

from __future__ import annotations

import dataclasses
import json
import logging
import time

from convostore.errors import ApplicationError

from .. import models
from . import services, translate, upstream
from .chat_request import ChatRequest
from .events import StreamRenderer

logger = logging.getLogger(__name__)


def chat_prepare(*, tenant, api_key_id: int | None, chat: ChatRequest, idempotency_key: str | None):
    """services.response_prepare for a chat create: a conversation that does not exist yet has no history and is
    created by the store. Returns services.Replay or services.Prepared (every 4xx happens here)."""
    request = chat.gateway
    exists = chat.conversation_id is not None and models.Conversation.objects.filter(
        tenant=tenant, conversation_id=chat.conversation_id).exists()
    prepared = services.response_prepare(tenant=tenant, api_key_id=api_key_id, idempotency_key=idempotency_key,
                                         request=request if exists else dataclasses.replace(request, conversation_id=None))
    if isinstance(prepared, services.Prepared):
        prepared.request = request
        if chat.conversation_id:
            prepared.headers["X-ConvoStore-Conversation"] = chat.conversation_id
        prepared.headers["X-ConvoStore-Response-Id"] = prepared.response_id
    return prepared


def completion_shape(response: dict) -> dict:
    """A Responses object (services' answer) as a ``chat.completion`` object; ``id`` is the stored response id."""
    message, calls = translate.chat_message(response.get("output") or [])
    return {"id": response["id"], "object": "chat.completion", "created": response.get("created_at") or 0,
            "model": response.get("model", ""),
            "choices": [{"index": 0, "message": message, "finish_reason": translate.finish_reason_of(response, bool(calls)),
                         "logprobs": None}],
            "usage": translate.usage_for_chat(response.get("usage"))}


def chat_create(prepared: services.Prepared) -> dict:
    """The non-streaming chat create: services.response_create (upstream, then the store) in the chat shape."""
    return completion_shape(services.response_create(prepared))


# --- streaming: chat.completion.chunk objects, then [DONE] ---------------------------------------------

DONE = b"data: [DONE]\n\n"


def _sse(payload: dict) -> bytes:
    return f"data: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


class ChunkWriter:
    """Upstream Ops as chat chunk bytes: role first, then content / reasoning_content / tool_calls deltas."""

    def __init__(self, *, chunk_id: str, model: str, created: int):
        self.base = {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model}
        self.tools: dict = {}  # op key -> tool_calls index

    def chunk(self, delta: dict, finish_reason=None) -> bytes:
        return _sse({**self.base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}]})

    def first(self) -> bytes:
        return self.chunk({"role": "assistant", "content": ""})

    def apply(self, op) -> list[bytes]:
        if op.kind == "text" and op.delta:
            return [self.chunk({"content": op.delta})]
        if op.kind == "reasoning" and op.delta:
            return [self.chunk({"reasoning_content": op.delta})]
        if op.kind == "open" and op.item_type == "function_call":
            index = self.tools[op.key] = len(self.tools)
            item = op.item or {}
            return [self.chunk({"tool_calls": [{"index": index, "id": item.get("call_id", ""), "type": "function",
                                                "function": {"name": item.get("name", ""), "arguments": ""}}]})]
        if op.kind == "args" and op.delta and op.key in self.tools:
            return [self.chunk({"tool_calls": [{"index": self.tools[op.key], "function": {"arguments": op.delta}}]})]
        return []

    def last(self, response: dict, *, include_usage: bool) -> list[bytes]:
        has_calls = any(i.get("type") == "function_call" for i in response.get("output") or [])
        chunks = [self.chunk({}, translate.finish_reason_of(response, has_calls))]
        if include_usage:
            chunks.append(_sse({**self.base, "choices": [], "usage": translate.usage_for_chat(response.get("usage"))}))
        return chunks + [DONE]


def chat_stream(prepared: services.Prepared, chat: ChatRequest):
    """The SSE body for ``stream: true``. An upstream refusal raises here (an HTTP status); later failures end the
    stream with ``data: {"error": …}`` (the SDK raises it) and store nothing; the finish_reason chunk follows the commit."""
    writer = ChunkWriter(chunk_id=prepared.response_id, model=prepared.request.model, created=int(time.time()))
    if prepared.cached is not None:
        return _cached(prepared, chat, writer)
    stream, ops = upstream.open_stream(prepared.route, prepared.request, prepared.context.items)
    return _body(prepared, chat, writer, stream, ops)


def _cached(prepared, chat, writer):
    response = services.response_finish(prepared, services.extensions.hit_output(prepared.cached), usage=None,
                                         status="completed", incomplete_details=None)
    yield from _whole(response, chat, writer)


def chat_replay(response: dict, chat: ChatRequest):
    """The SSE body of a streamed retry (same Idempotency-Key): the stored response as chunks then ``[DONE]``, with
    its stored id, so a streaming client is answered in the format it asked for (no upstream call)."""
    writer = ChunkWriter(chunk_id=response["id"], model=response.get("model", ""), created=response.get("created_at") or 0)
    return _whole(response, chat, writer)


def _whole(response: dict, chat: ChatRequest, writer: ChunkWriter):
    message, _ = translate.chat_message(response["output"])
    yield writer.first()
    if message.get("content"):
        yield writer.chunk({"content": message["content"]})
    for index, call in enumerate(message.get("tool_calls") or []):
        yield writer.chunk({"tool_calls": [{"index": index, **call}]})
    yield from writer.last(response, include_usage=chat.include_usage)


def _body(prepared, chat, writer, stream, ops):
    renderer = StreamRenderer(services.response_skeleton(prepared))  # builds the output items that are stored
    state = {"end": None, "finished": False}
    try:
        yield writer.first()
        for op in ops:
            if op.kind == "end":
                state["end"] = op
                break
            renderer.apply(op)
            yield from writer.apply(op)
        renderer.close_all()
        response = services.stream_finish(prepared, renderer, state)
        yield from writer.last(response, include_usage=chat.include_usage)
    except GeneratorExit:
        services.stream_drain(prepared, renderer, ops, state)
        raise
    except Exception as exc:  # headers are sent: a failure can only end the stream
        if isinstance(exc, ApplicationError):
            logger.warning("chat stream failed: %s", exc.message)
            error = {"message": exc.message, "type": "server_error", "param": None, "code": exc.code or "upstream_error"}
        else:
            logger.exception("chat stream failed")
            error = {"message": "The response could not be completed.", "type": "server_error", "param": None, "code": "server_error"}
        yield _sse({"error": error})
    finally:
        stream.close()
