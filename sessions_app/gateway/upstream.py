"""Calling the upstream model server through the openai SDK, and mapping its failures to ConvoStore's answers.

Both API kinds come back in one form: output items in the Responses shape (without ids), Responses usage,
a status. Streams are read as a sequence of small operations (see :class:`Op`) that events.py renders as
Responses streaming events, whatever the upstream spoke.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import openai

from convostore import metrics
from convostore.errors import ApplicationError
from convostore.openai_client import request_headers

from . import translate
from convostore.upstream_hosts import RouteNotAllowed, address_check
from .routes import Route

logger = logging.getLogger(__name__)

RELAYED = (400, 404, 409, 422, 429)  # the client's own mistake or limit: same status, upstream's message


class UpstreamFailed(ApplicationError):
    """An upstream failure in OpenAI's error shape; the status is the one the client gets (see docs/gateway.md)."""

    def __init__(self, status: int, message: str, *, error_type: str = "server_error", code: str | None = "upstream_error",
                 param: str | None = None):
        super().__init__(message, param=param, code=code)
        self.status_code = status
        self.error_type = error_type


def failure_of(exc: Exception) -> UpstreamFailed:
    """The answer for an SDK exception: relayed 4xx, 502 for credentials/5xx/unreachable, 504 for a timeout."""
    if isinstance(exc, UpstreamFailed):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return UpstreamFailed(504, "The upstream model server did not answer in time.", code="upstream_timeout")
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        error = body.get("error") if isinstance(body.get("error"), dict) else body
        message = str(error.get("message") or exc.message or f"upstream answered {exc.status_code}")
        if exc.status_code in RELAYED:
            default_type = "rate_limit_error" if exc.status_code == 429 else "invalid_request_error"
            return UpstreamFailed(exc.status_code, message, error_type=str(error.get("type") or default_type),
                                  code=error.get("code"), param=error.get("param"))
        if exc.status_code in (401, 403):
            # ConvoStore's own credentials upstream are wrong: never let the client think its key is bad.
            return UpstreamFailed(502, f"The upstream model server refused ConvoStore's credentials ({exc.status_code}).")
        return UpstreamFailed(502, f"The upstream model server failed ({exc.status_code}): {message}")
    if isinstance(exc, openai.APIError):  # unreachable, a cut connection, an error event in a stream
        return UpstreamFailed(502, "The upstream model server could not be reached.")
    logger.exception("unexpected upstream failure")
    return UpstreamFailed(502, "The upstream model server failed.")


@dataclass
class Answer:
    """A whole upstream answer: output items (Responses shape, ids not yet assigned), usage, status."""

    output: list[dict]
    usage: dict | None
    status: str = "completed"
    incomplete_details: dict | None = None


def _client(route: Route):
    try:
        address_check(route.base_url)
    except RouteNotAllowed as exc:
        logger.warning("upstream refused by the allow-list: %s", exc)
        raise UpstreamFailed(502, "The upstream for this model is not allowed by CONVOSTORE_UPSTREAM_ALLOWED_HOSTS.",
                             code="upstream_not_allowed") from None
    return route.client()


def _body(route: Route, request, items: list[dict], stream: bool) -> tuple[str, dict]:
    """(API path, JSON body) of the upstream call."""
    if route.api == "responses":
        params = {"instructions": request.instructions, "tools": request.tools or None, "tool_choice": request.tool_choice,
                  "parallel_tool_calls": request.parallel_tool_calls, "temperature": request.temperature, "top_p": request.top_p,
                  "max_output_tokens": request.max_output_tokens, "include": request.include, "text": request.text,
                  "reasoning": request.reasoning, "user": request.user, "safety_identifier": request.safety_identifier,
                  "prompt_cache_key": request.prompt_cache_key, "metadata": request.metadata or None}
        params = {key: value for key, value in params.items() if value is not None}
        return "/responses", {**request.passthrough, **params, "model": route.upstream_model,
                              "input": translate.items_for_responses(items), "store": False, "stream": stream}
    params = translate.chat_params(request)
    if stream:
        params["stream_options"] = {"include_usage": True}
    return "/chat/completions", {**request.chat_extra, **params, "model": route.upstream_model, "stream": stream,
                                 "messages": translate.items_to_messages(items, instructions=request.instructions)}


def _post(client, path: str, body: dict, *, stream: bool):
    """The SDK's generic request (its retries, timeouts and error classes) with a plain JSON body: the typed
    methods re-validate every message of a long context, which costs more than the rest of the request."""
    options = {"headers": request_headers(client)}
    if stream:
        return client.post(path, cast_to=object, body=body, options=options, stream=True, stream_cls=openai.Stream[object])
    return client.post(path, cast_to=object, body=body, options=options)


def call(route: Route, request, items: list[dict]) -> Answer:
    """One non-streaming upstream call with the whole context; raises UpstreamFailed."""
    client = _client(route)
    path, body = _body(route, request, items, stream=False)
    started = time.perf_counter()
    try:
        result = _post(client, path, body, stream=False)
        if not isinstance(result, dict):
            raise UpstreamFailed(502, "The upstream model server answered something other than a JSON object.")
        if route.api == "responses":
            answer = Answer(result.get("output") or [], result.get("usage"), result.get("status") or "completed",
                            result.get("incomplete_details"))
            if answer.status == "failed":
                raise UpstreamFailed(502, f"The upstream model failed: {(result.get('error') or {}).get('message', '')}")
        else:
            choice = (result.get("choices") or [{}])[0]
            status, incomplete = translate.status_of(choice.get("finish_reason"))
            answer = Answer(translate.chat_output(choice.get("message") or {}, choice.get("finish_reason")),
                            translate.chat_usage(result.get("usage")), status, incomplete)
    except Exception as exc:
        failure = failure_of(exc)
        metrics.gateway_upstream_calls.labels(api=route.api, outcome=str(failure.status_code)).inc()
        raise failure from None
    metrics.gateway_upstream_calls.labels(api=route.api, outcome="ok").inc()
    metrics.gateway_upstream_latency.labels(api=route.api).observe((time.perf_counter() - started) * 1000)
    return answer


# --- streams -----------------------------------------------------------------------------------------


@dataclass
class Op:
    """One step of an upstream stream, whatever the API kind.

    kind: "open" (a new output item; ``item_type``, ``key``, ``item`` = its fields so far), "text", "args" or
    "reasoning" (``delta`` for item ``key``), "close" (``item`` = the upstream's final item, optional),
    "end" (``status``, ``usage``, ``incomplete_details``).
    """

    kind: str
    key: object = None
    item_type: str = ""
    delta: str = ""
    item: dict | None = None
    status: str = "completed"
    usage: dict | None = None
    incomplete_details: dict | None = None


def open_stream(route: Route, request, items: list[dict]):
    """Start a streaming upstream call: HTTP errors raise UpstreamFailed here, before anything is sent to the client.

    Returns (SDK stream, iterator of Op). The iterator raises UpstreamFailed when the stream fails or ends
    without its terminal event (the SDK ends a cut stream silently).
    """
    client = _client(route)
    path, body = _body(route, request, items, stream=True)
    try:
        stream = _post(client, path, body, stream=True)
        return stream, _guarded(route, _responses_ops(stream) if route.api == "responses" else _chat_ops(stream))
    except Exception as exc:
        failure = failure_of(exc)
        metrics.gateway_upstream_calls.labels(api=route.api, outcome=str(failure.status_code)).inc()
        raise failure from None


def _guarded(route: Route, ops):
    try:
        yield from ops
    except Exception as exc:
        failure = failure_of(exc)
        metrics.gateway_upstream_calls.labels(api=route.api, outcome="stream_" + str(failure.status_code)).inc()
        raise failure from None
    metrics.gateway_upstream_calls.labels(api=route.api, outcome="ok").inc()


def _responses_ops(stream):
    """Ops from Responses streaming events (JSON objects with ``type``)."""
    for event in stream:
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "response.output_item.added":
            item = event.get("item") or {}
            yield Op("open", key=event.get("output_index"), item_type=item.get("type", ""), item=item)
        elif kind == "response.output_text.delta":
            yield Op("text", key=event.get("output_index"), delta=event.get("delta") or "")
        elif kind == "response.function_call_arguments.delta":
            yield Op("args", key=event.get("output_index"), delta=event.get("delta") or "")
        elif kind == "response.reasoning_summary_text.delta":
            yield Op("reasoning", key=event.get("output_index"), delta=event.get("delta") or "")
        elif kind == "response.output_item.done":
            yield Op("close", key=event.get("output_index"), item=event.get("item"))
        elif kind in ("response.completed", "response.incomplete"):
            response = event.get("response") or {}
            yield Op("end", status=response.get("status") or "completed", usage=response.get("usage"),
                     incomplete_details=response.get("incomplete_details"))
            return
        elif kind in ("response.failed", "error"):
            error = (event.get("response") or {}).get("error") or event
            raise UpstreamFailed(502, f"The upstream model failed: {error.get('message') or ''}")
    raise UpstreamFailed(502, "The upstream stream ended before the response completed.")


def _chat_ops(stream):
    opened: set = set()
    finish, usage = None, None
    for data in stream:
        if not isinstance(data, dict):
            continue
        if data.get("usage"):
            usage = data["usage"]
        for choice in data.get("choices") or []:
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning:
                if "r" not in opened:
                    opened.add("r")
                    yield Op("open", key="r", item_type="reasoning", item=translate.reasoning_item(""))
                yield Op("reasoning", key="r", delta=reasoning)
            if delta.get("content"):
                if "m" not in opened:
                    opened.add("m")
                    yield Op("open", key="m", item_type="message", item=translate.message_item(""))
                yield Op("text", key="m", delta=delta["content"])
            for call in delta.get("tool_calls") or []:
                key, function = f"t{call.get('index', 0)}", call.get("function") or {}
                if key not in opened:
                    opened.add(key)
                    item = translate.function_call_item(call.get("id", ""), function.get("name", ""), "")
                    yield Op("open", key=key, item_type="function_call", item=item)
                if function.get("arguments"):
                    yield Op("args", key=key, delta=function["arguments"])
            finish = choice.get("finish_reason") or finish
    if finish is None:
        raise UpstreamFailed(502, "The upstream stream ended before the response completed.")
    status, incomplete = translate.status_of(finish)
    yield Op("end", status=status, usage=translate.chat_usage(usage), incomplete_details=incomplete)
