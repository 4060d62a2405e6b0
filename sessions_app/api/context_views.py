"""Context assembly endpoints (token budget, summary, recall, prefix fingerprint)."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from cache_app import hot_window
from cache_app.context_cache import context_read_query
from cache_app.redis_client import RedisUnavailable
from cache_app.response_places import place_remember

from .. import selectors
from ..context.build import ContextRequest, context_build
from ..context.targets import context_target, context_target_hot
from .fields import validated
from .serializers import ResolveQuerySerializer

MAX_INSTRUCTIONS_BYTES = 64 * 1024
MAX_QUERY_BYTES = 64 * 1024
SCOPES = ("conversation", "user", "tenant")


class TextQueryField(serializers.CharField):
    """A query-string text of at most ``max_bytes`` UTF-8 bytes; "" means absent. (NUL, lone surrogates and the
    character bound were refused at the edge, convostore.edge.QUERY_RULES, which does not count bytes.)"""

    def __init__(self, *, max_bytes: int, **kwargs):
        self.max_bytes = max_bytes
        super().__init__(required=False, allow_blank=True, trim_whitespace=False, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if len(value.encode("utf-8", "surrogatepass")) > self.max_bytes:
            raise serializers.ValidationError(f"May hold at most {self.max_bytes} bytes.")
        return value or None


class ContextQuerySerializer(serializers.Serializer):
    """The context endpoints' query string (the token budget defaults to the tenant's ``token_budget``)."""

    max_tokens = serializers.IntegerField(required=False, min_value=1, max_value=1_000_000,
                                          help_text="Token budget, 1..1000000 (default: the tenant's token_budget).")
    recent_k = serializers.IntegerField(required=False, min_value=0, max_value=1000, help_text="At most this many verbatim items.")
    instructions = TextQueryField(max_bytes=MAX_INSTRUCTIONS_BYTES, help_text="Frozen system prefix, at most 64 KB.")
    recall_k = serializers.IntegerField(required=False, default=0, min_value=0, max_value=50, help_text="Recalled spans, 0..50.")
    query = TextQueryField(max_bytes=MAX_QUERY_BYTES, help_text="The new user message, for recall (default: the last user message).")
    recall_scope = serializers.ChoiceField(choices=SCOPES, required=False, allow_blank=True, help_text="conversation (default), user or tenant.")
    user_key = serializers.CharField(required=False, allow_blank=True, max_length=64,
                                     help_text="Metadata key naming the end user for recall_scope=user (default 'user').")


def context_request(request, tenant) -> ContextRequest:
    """Validate the query string (400 with the parameter named) into a ContextRequest."""
    data = validated(ContextQuerySerializer, request.query_params)
    return ContextRequest(
        max_tokens=data.get("max_tokens") or tenant.token_budget,
        recent_k=data.get("recent_k"),
        instructions=data.get("instructions"),
        recall_k=data["recall_k"],
        query=data.get("query"),
        recall_scope=data.get("recall_scope") or "conversation",
        user_key=data.get("user_key") or "user",
    )


def json_response(body: str) -> HttpResponse:
    return HttpResponse(body.encode("utf-8"), content_type="application/json")


def _hot_only(request) -> bool:
    """Whether the hot path may answer (no recall asked): only then are its Redis reads worth prefetching."""
    return request.query_params.get("recall_k") in (None, "", "0")


class ConversationContextApi(APIView):
    def prefetch(self, request, tenant_id: int) -> list:
        """The window and context header, read in the API key's round trip (sessions_app.auth; the edge checked
        the id)."""
        if not _hot_only(request):
            return []
        return [context_read_query(tenant_id=tenant_id, conversation_id=self.kwargs["conversation_id"])]

    @extend_schema(operation_id="sessions_context", parameters=[ContextQuerySerializer], responses={200: dict})
    def get(self, request, conversation_id: str):
        tenant = request.user.tenant
        params = context_request(request, tenant)
        target = None
        if params.recall_k == 0:  # recall needs the full row (metadata, lineage): Postgres
            target = context_target_hot(tenant=tenant, conversation_id=conversation_id, prefetched=request.user.prefetched)
        if target is None:
            target = context_target(tenant=tenant, conversation_id=conversation_id)
        return json_response(context_build(tenant=tenant, target=target, request=params))


class ResponseContextApi(APIView):
    def prefetch(self, request, tenant_id: int) -> list:
        """The response index and, when this process knows where the response lives, that conversation's window
        and header, read in the API key's round trip (sessions_app.auth; the index read there decides). The edge
        already refused a malformed id; an absent one reads nothing (the view answers 400)."""
        response_id = request.query_params.get("previous_response_id")
        if not response_id or not _hot_only(request):
            return []
        return selectors.response_resolve_queries(tenant_id=tenant_id, response_id=response_id, window_query=context_read_query)

    @extend_schema(
        operation_id="sessions_response_context",
        parameters=[ResolveQuerySerializer, ContextQuerySerializer],
        responses={200: dict},
    )
    def get(self, request):
        response_id = validated(ResolveQuerySerializer, request.query_params)["previous_response_id"]
        tenant = request.user.tenant
        params = context_request(request, tenant)
        target = None
        if params.recall_k == 0:
            target = _hot_response_target(request, tenant, response_id)
        if target is None:
            target = context_target(tenant=tenant, response_id=response_id)
        return json_response(context_build(tenant=tenant, target=target, request=params))


def _hot_response_target(request, tenant, response_id: str):
    """From the response index and the window + header it names (both read with the API key when this process
    knew where the response lives), or None when Postgres must answer."""
    prefetched = request.user.prefetched
    try:
        hit = hot_window.response_lookup(tenant_id=tenant.pk, response_id=response_id, prefetched=prefetched)
    except RedisUnavailable:
        return None
    if hit is None:
        return None
    conversation_id, last_seq = hit
    place_remember(tenant.pk, response_id, conversation_id, last_seq)
    return context_target_hot(tenant=tenant, conversation_id=conversation_id, upto_seq=last_seq, response_id=response_id,
                              prefetched=prefetched)
