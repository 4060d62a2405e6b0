"""POST /v1/responses and /v1/chat/completions: stateful APIs in front of a stateless model server (docs/gateway.md)."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from ..api.fields import idempotency_key
from ..api.openai_views import OpenAIApi
from . import chat as chat_flow, chat_request, events, request as create_request, services

IDEMPOTENCY_HEADER = OpenApiParameter("Idempotency-Key", str, location=OpenApiParameter.HEADER, required=False)
CONVERSATION_HEADER = OpenApiParameter(chat_request.CONVERSATION_HEADER, str, location=OpenApiParameter.HEADER, required=False)


def sse_response(body) -> StreamingHttpResponse:
    """A Server-Sent Events answer; proxies are asked not to buffer it."""
    response = StreamingHttpResponse(body, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


class ResponsesCreateApi(OpenAIApi):
    @extend_schema(operation_id="openai_responses_create", request=create_request.ResponseCreateInputSerializer,
                   parameters=[IDEMPOTENCY_HEADER], responses={200: dict})
    def post(self, request):
        """Create a model response (OpenAI's Responses API): JSON, or SSE with ``stream: true``.

        Errors (OpenAI's shape): 400 bad input (with ``param``) or ``context_length_exceeded``; 404 unknown model,
        previous_response_id or conversation; 409 Idempotency-Key reused with another body; 429 ``insufficient_quota``
        or a relayed upstream 429; 502 ``upstream_error``; 504 ``upstream_timeout``.
        """
        create = create_request.parse(request.data)
        prepared = services.response_prepare(tenant=request.user.tenant, api_key_id=request.user.key_id, request=create,
                                             idempotency_key=idempotency_key(request))
        if isinstance(prepared, services.Replay):
            answer = sse_response(iter(events.replay(prepared.response))) if create.stream else Response(prepared.response)
            answer["Idempotent-Replayed"] = "true"
            return answer
        if create.stream:
            answer = sse_response(services.response_stream(prepared))
        else:
            answer = Response(services.response_create(prepared))
        for name, value in prepared.headers.items():
            answer[name] = value
        return answer


class ChatCompletionsCreateApi(OpenAIApi):
    @extend_schema(operation_id="openai_chat_completions_create", request=chat_request.ChatCreateInputSerializer,
                   parameters=[IDEMPOTENCY_HEADER, CONVERSATION_HEADER], responses={200: dict})
    def post(self, request):
        """Create a chat completion (OpenAI's Chat Completions API): JSON, or SSE chunks then ``[DONE]`` with ``stream: true``.

        With a conversation (``convostore.conversation`` or the X-ConvoStore-Conversation header) its stored history
        is sent first and the new messages and the answer are stored after the answer; without one nothing is stored.
        Errors: as POST /v1/responses (400 with ``param``, 404, 409, 429, 502, 504), all before any upstream call
        except the upstream's own.
        """
        chat = chat_request.parse(request.data, header_conversation=request.headers.get(chat_request.CONVERSATION_HEADER))
        prepared = chat_flow.chat_prepare(tenant=request.user.tenant, api_key_id=request.user.key_id, chat=chat,
                                     idempotency_key=idempotency_key(request))
        if isinstance(prepared, services.Replay):
            if chat.gateway.stream:
                answer = sse_response(chat_flow.chat_replay(prepared.response, chat))
            else:
                answer = Response(chat_flow.completion_shape(prepared.response))
            answer["Idempotent-Replayed"] = "true"
            return answer
        if chat.gateway.stream:
            answer = sse_response(chat_flow.chat_stream(prepared, chat))
        else:
            answer = Response(chat_flow.chat_create(prepared))
        for name, value in prepared.headers.items():
            answer[name] = value
        return answer
