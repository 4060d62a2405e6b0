"""POST /v1/responses: route, context, upstream call, then one transaction storing input + output as one response.

Nothing is written before the upstream answered, and nothing at all when it fails; ``store: false`` writes no
conversation, item or response (its tokens still count toward the daily quota).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import django.dispatch
from django.utils import timezone

from cache_app.hot_window import Entry
from convostore import metrics
from convostore.errors import ApplicationError, ValidationFailed

from convostore import canonical

from .. import selectors
from ..api.openai_shapes import response_shape
from ..models import Response, Tenant
from ..services import prepare_items, response_store
from ..services.idempotency import idempotency_replay
from . import extensions, upstream
from .context import Context, context_build
from .events import StreamRenderer, output_with_ids, replay
from .request import GatewayRequest
from .routes import Route, route_for
from .usage import quota_check, usage_record

logger = logging.getLogger(__name__)

# Its own idempotency scope: "/" is outside the conversation-id alphabet, so no conversation's scope can equal it.
IDEMPOTENCY_SCOPE = "v1/responses"

# Sent after a gateway response is committed (sender: the Response row): the stream path stores after the
# client may have gone, and tests and integrations can wait for it.
response_stored = django.dispatch.Signal()


@dataclass
class Prepared:
    """Everything decided before the upstream call."""

    tenant: Tenant
    api_key_id: int | None
    request: GatewayRequest
    route: Route
    response_id: str
    prepared_input: list
    context: Context
    idempotency_key: str | None
    cached: dict | None = None  # the semantic-cache hit, when one answers instead of the upstream
    semantic: dict | None = None  # the semantic_cache extension's options, when sent
    headers: dict = field(default_factory=dict)


@dataclass
class Replay:
    """A retried create answered from what was stored (no upstream call)."""

    response: dict


def response_prepare(*, tenant: Tenant, api_key_id: int | None, request: GatewayRequest, idempotency_key: str | None):
    """Validate, route, replay-check, check the quota and assemble the context: every 4xx happens here.

    Returns Replay for a retried Idempotency-Key, else Prepared.
    """
    if idempotency_key and not request.store:
        raise ValidationFailed("Idempotency-Key needs a stored response; it cannot be used with store: false.",
                               param="Idempotency-Key", code="invalid_value")
    wanted = extensions.parse(request.extensions)
    route = route_for(tenant=tenant, model=request.model)
    if idempotency_key:
        outcome = idempotency_replay(tenant=tenant, scope=IDEMPOTENCY_SCOPE, key=idempotency_key, request_hash=request.request_hash)
        if outcome is not None:
            metrics.idempotent_replays.inc()
            return Replay(stored_response(tenant=tenant, response_id=outcome.body["response_id"]))
    quota_check(tenant=tenant)
    prepared_input = prepare_items(request.input_items, encoding=tenant.encoding, param="input")
    context = context_build(tenant=tenant, request=request, route=route, prepared_input=prepared_input, recall=wanted.recall)
    prepared = Prepared(tenant, api_key_id, request, route, canonical.new_id("resp"), prepared_input, context, idempotency_key)
    prepared.headers = {"X-ConvoStore-Prefix-Fingerprint": context.prefix_fingerprint,
                        "X-ConvoStore-Estimated-Input-Tokens": str(context.estimated_input_tokens)}
    if wanted.semantic_cache is not None:
        prepared.cached = extensions.cache_lookup(prepared, wanted.semantic_cache)
        prepared.headers["X-ConvoStore-Cache"] = "hit" if prepared.cached else "miss"
    prepared.semantic = wanted.semantic_cache
    return prepared


def response_create(prepared: Prepared) -> dict:
    """The non-streaming create: one upstream call (or the cache hit), then the store; the Responses object."""
    if prepared.cached is not None:
        output, usage, status, incomplete = extensions.hit_output(prepared.cached), None, "completed", None
    else:
        answer = upstream.call(prepared.route, prepared.request, prepared.context.items)
        output, usage, status, incomplete = [output_with_ids(i) for i in answer.output], answer.usage, answer.status, answer.incomplete_details
    return response_finish(prepared, output, usage=usage, status=status, incomplete_details=incomplete)


def response_finish(prepared: Prepared, output: list[dict], *, usage, status: str, incomplete_details) -> dict:
    """Count the usage, store input + output as one response in one transaction (unless store: false), answer it."""
    request, tenant = prepared.request, prepared.tenant

    def count_usage():
        if prepared.cached is None:  # a cache hit spent no upstream tokens
            usage_record(tenant=tenant, api_key_id=prepared.api_key_id, usage=usage)
    fields = {"status": status, "instructions": request.instructions, "tools": request.tools, "metadata": request.metadata,
              "params": {**request.echo(), "incomplete_details": incomplete_details}}
    entries = [Entry(0, 0, canonical.dumps(item)) for item in output]
    if not request.store:
        row = Response(response_id=prepared.response_id, model=request.model, usage=usage, created_at=timezone.now(),
                       previous_response_id=request.previous_response_id or "", **fields)
        count_usage()
        _remember(prepared, output, status, conversation_id=None)
        return response_shape(row, entries)
    conversation_id = request.conversation_id or (None if request.previous_response_id else canonical.new_id("conv"))
    # The input as the client sent it: ids ConvoStore made up while validating are not kept (nothing saw them),
    # so only ids the client chose are checked against the conversation.
    outcome = response_store(
        tenant=tenant, input_items=request.input_items, output_items=output, response_id=prepared.response_id,
        previous_response_id=request.previous_response_id, conversation_id=conversation_id, model=request.model, usage=usage,
        idempotency_key=prepared.idempotency_key, request_hash=request.request_hash, idempotency_scope=IDEMPOTENCY_SCOPE,
        fields=fields, also=count_usage,  # usage commits with the response: one commit, not two
    )
    if outcome.replayed:  # a concurrent retry with the same key stored first (ours rolled back): answer that one
        count_usage()
        return stored_response(tenant=tenant, response_id=outcome.body["response_id"])
    row = Response.objects.select_related("conversation").get(tenant=tenant, response_id=prepared.response_id)
    _remember(prepared, output, status, conversation_id=row.conversation.conversation_id)
    response_stored.send(sender=Response, response=row)
    return response_shape(row, entries)


def _remember(prepared: Prepared, output, status: str, *, conversation_id) -> None:
    """A semantic-cache miss stores the completed answer, after the response is committed."""
    if prepared.cached is None and prepared.semantic is not None and status == "completed":
        extensions.cache_store(prepared, output, conversation_id=conversation_id)


def stored_response(*, tenant: Tenant, response_id: str) -> dict:
    """GET /v1/responses/{id}'s answer (an Idempotency-Key replay answers it): the same one-statement read
    (selectors.response_output_get) unless some output items may be archived."""
    row, output = selectors.response_output_get(tenant=tenant, response_id=response_id)
    return response_shape(row, output)


def response_skeleton(prepared: Prepared) -> dict:
    """The response object (OpenAI's shape: id, model, status ``in_progress``, echoed parameters, empty ``output``) that
    a stream's events snapshot and the stored output items are built on; shared by /v1/responses and chat streaming."""
    request = prepared.request
    row = Response(response_id=prepared.response_id, model=request.model, status="in_progress", created_at=timezone.now(),
                   previous_response_id=request.previous_response_id or "", instructions=request.instructions, tools=request.tools,
                   metadata=request.metadata, params=request.echo())
    return response_shape(row, [])


# --- streaming ---------------------------------------------------------------------------------------


def response_stream(prepared: Prepared):
    """The SSE body (an iterator of bytes) for ``stream: true``.

    The upstream call starts here, before the first byte goes out, so an upstream that refuses the request
    answers with an HTTP status like the non-streaming path. After that, failures end the stream with
    ``response.failed`` and store nothing; ``response.completed`` is sent only after the commit.
    """
    if prepared.cached is not None:
        return _cached_stream(prepared)
    stream, ops = upstream.open_stream(prepared.route, prepared.request, prepared.context.items)
    return _stream_body(prepared, stream, ops)


def _cached_stream(prepared: Prepared):
    response = response_finish(prepared, extensions.hit_output(prepared.cached), usage=None, status="completed", incomplete_details=None)
    yield from replay(response)


def _stream_body(prepared: Prepared, stream, ops):
    renderer = StreamRenderer(response_skeleton(prepared))
    state = {"end": None, "finished": False}
    try:
        yield from renderer.start()
        for op in ops:
            if op.kind == "end":
                state["end"] = op
                break
            yield from renderer.apply(op)
        yield from renderer.close_all()
        response = stream_finish(prepared, renderer, state)
        yield renderer.finished(response)
    except GeneratorExit:
        stream_drain(prepared, renderer, ops, state)
        raise
    except Exception as exc:  # headers are sent: a failure can only end the stream, with response.failed
        if isinstance(exc, ApplicationError):
            logger.warning("gateway stream failed: %s", exc.message)
            error = {"code": exc.code or "upstream_error", "message": exc.message}
        else:
            logger.exception("gateway stream failed")
            error = {"code": "server_error", "message": "The response could not be completed."}
        yield renderer.failed(error)
    finally:
        stream.close()


def stream_finish(prepared: Prepared, renderer: StreamRenderer, state: dict) -> dict:
    """Store a stream that reached its end op (``state["end"]``): the renderer's output items, usage and status, in one
    commit; marks ``state["finished"]`` so :func:`stream_drain` does not store it twice. Returns the stored response dict.
    Raises what ``response_finish`` raises (nothing has been written then)."""
    end = state["end"]
    state["finished"] = True
    return response_finish(prepared, renderer.output(), usage=end.usage, status=end.status, incomplete_details=end.incomplete_details)


def stream_drain(prepared: Prepared, renderer: StreamRenderer, ops, state: dict) -> None:
    """The client went away (``GeneratorExit``): read the rest of the upstream ``ops`` to the end op and store the whole
    response anyway, as :func:`stream_finish` would have; a stream already finished is left alone, and an upstream that
    fails or breaks off stores nothing (logged). Never raises.

    This keeps the worker (thread) busy until the upstream finishes, bounded by the route's read timeout.
    """
    if state["finished"]:
        return
    try:
        if state["end"] is None:
            for op in ops:
                if op.kind == "end":
                    state["end"] = op
                    break
                renderer.apply(op)
        renderer.close_all()
        stream_finish(prepared, renderer, state)
    except Exception:  # nothing can be sent any more; an upstream failure stores nothing
        logger.warning("gateway stream for %s not stored after the client left", prepared.response_id, exc_info=True)
