"""Context assembly endpoints (token budget, summary, recall, prefix fingerprint)."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.views import APIView

from cache_app import hot_window, keys
from convostore.errors import ValidationFailed

from convostore import canonical
from ..auth import ResolveAuthentication
from ..context.build import ContextRequest, context_build
from ..context.targets import context_target, context_target_hot
from . import inputs

MAX_INSTRUCTIONS_BYTES = 64 * 1024
MAX_QUERY_BYTES = 64 * 1024
SCOPES = ("conversation", "user", "tenant")

CONTEXT_PARAMETERS = [
    OpenApiParameter("max_tokens", int, description="Token budget, 1..1000000 (default: the tenant's token_budget)."),
    OpenApiParameter("recent_k", int, description="At most this many verbatim items, 0..1000."),
    OpenApiParameter("instructions", str, description="Frozen system prefix, at most 64 KB."),
    OpenApiParameter("recall_k", int, description="Recalled spans from older history, 0..50 (default 0)."),
    OpenApiParameter("query", str, description="The new user message, for recall (default: the last user message)."),
    OpenApiParameter("recall_scope", str, enum=list(SCOPES), description="conversation (default), user or tenant."),
    OpenApiParameter("user_key", str, description="Metadata key naming the end user for recall_scope=user (default 'user')."),
]


def _optional_text(request, name: str, max_bytes: int) -> str | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if len(value.encode("utf-8", "surrogatepass")) > max_bytes:
        raise ValidationFailed(f"'{name}' may hold at most {max_bytes} bytes.", param=name, code="invalid_value")
    canonical.check_text(value, name)
    return value


def context_request(request, tenant) -> ContextRequest:
    """Validate the query string (400 with the parameter named) into a ContextRequest."""
    recent_k = None
    if request.query_params.get("recent_k") not in (None, ""):
        recent_k = inputs.query_int(request, "recent_k", default=0, minimum=0, maximum=1000)
    scope = request.query_params.get("recall_scope") or "conversation"
    if scope not in SCOPES:
        raise ValidationFailed("'recall_scope' must be one of conversation, user, tenant.", param="recall_scope", code="invalid_value")
    user_key = request.query_params.get("user_key") or "user"
    if len(user_key) > 64:
        raise ValidationFailed("'user_key' names a metadata key of at most 64 characters.", param="user_key", code="invalid_value")
    return ContextRequest(
        max_tokens=inputs.query_int(request, "max_tokens", default=tenant.token_budget, minimum=1, maximum=1_000_000),
        recent_k=recent_k,
        instructions=_optional_text(request, "instructions", MAX_INSTRUCTIONS_BYTES),
        recall_k=inputs.query_int(request, "recall_k", default=0, minimum=0, maximum=50),
        query=_optional_text(request, "query", MAX_QUERY_BYTES),
        recall_scope=scope,
        user_key=user_key,
    )


def json_response(body: str) -> HttpResponse:
    return HttpResponse(body.encode("utf-8"), content_type="application/json")


class ConversationContextApi(APIView):
    @extend_schema(operation_id="sessions_context", parameters=CONTEXT_PARAMETERS, responses={200: dict})
    def get(self, request, conversation_id: str):
        canonical.validate_conversation_id(conversation_id)
        tenant = request.user.tenant
        params = context_request(request, tenant)
        target = None
        if params.recall_k == 0:  # recall needs the full row (metadata, lineage): Postgres
            target = context_target_hot(tenant=tenant, conversation_id=conversation_id)
        if target is None:
            target = context_target(tenant=tenant, conversation_id=conversation_id)
        return json_response(context_build(tenant=tenant, target=target, request=params))


class ResponseContextApi(APIView):
    authentication_classes = [ResolveAuthentication]

    @extend_schema(
        operation_id="sessions_response_context",
        parameters=[OpenApiParameter("previous_response_id", str, required=True), *CONTEXT_PARAMETERS],
        responses={200: dict},
    )
    def get(self, request):
        response_id = request.query_params.get("previous_response_id")
        if not response_id:
            raise ValidationFailed("'previous_response_id' is required.", param="previous_response_id", code="missing_required_parameter")
        canonical.validate_response_id(response_id, "previous_response_id")
        tenant = request.user.tenant
        params = context_request(request, tenant)
        target = None
        if params.recall_k == 0:
            target = _hot_response_target(request, tenant, response_id)
        if target is None:
            target = context_target(tenant=tenant, response_id=response_id)
        return json_response(context_build(tenant=tenant, target=target, request=params))


def _hot_response_target(request, tenant, response_id: str):
    """The response index came with the API key (same round trip); then window + header in one more."""
    index_key = keys.response_index(tenant.pk, response_id)
    prefetched = getattr(request.user, "prefetched", {})
    if index_key not in prefetched:
        return None
    hit = hot_window.response_index_parse(prefetched[index_key])
    if hit is None:
        return None
    conversation_id, last_seq = hit
    return context_target_hot(tenant=tenant, conversation_id=conversation_id, upto_seq=last_seq, response_id=response_id)
