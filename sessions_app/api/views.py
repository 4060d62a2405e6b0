"""Native /v1/sessions API: views only validate, call one service or selector, and serialise."""

from __future__ import annotations

import time

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from convostore import canonical, metrics

from .. import selectors, services
from .fields import idempotency_key, page_query, validated
from .serializers import (
    AppendInputSerializer,
    AppendOutputSerializer,
    ConversationOutputSerializer,
    ItemListOutputSerializer,
    ResolveOutputSerializer,
    ResolveQuerySerializer,
    ResponseStoreInputSerializer,
    ResponseStoreOutputSerializer,
    conversation_body,
    item_page_body,
)

IDEMPOTENCY_HEADER = OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)


def outcome_response(outcome: services.Outcome) -> HttpResponse:
    """Canonical JSON, so a replay's bytes equal the original answer's (the record keeps canonical JSON)."""
    response = HttpResponse(canonical.dumps(outcome.body), status=outcome.status, content_type="application/json")
    if outcome.replayed:
        metrics.idempotent_replays.inc()
        response["Idempotent-Replayed"] = "true"
    return response


class SessionAppendApi(APIView):
    @extend_schema(
        operation_id="sessions_append",
        request=AppendInputSerializer,
        responses={201: AppendOutputSerializer},
        parameters=[IDEMPOTENCY_HEADER],
    )
    def post(self, request, conversation_id: str):
        started = time.perf_counter()
        if isinstance(request.data, dict) and "items" not in request.data:
            data = {"items": [request.data]}  # one bare item: the append service checks it as items[0]
        else:
            data = validated(AppendInputSerializer, request.data)
        outcome = services.conversation_append(
            tenant=request.user.tenant,
            conversation_id=conversation_id,
            items=data["items"],
            expected_version=data.get("expected_version"),
            idempotency_key=idempotency_key(request),
            request_hash=canonical.digest(request.data),
            metadata=data.get("metadata"),
            ttl_seconds=data.get("ttl_seconds"),
        )
        metrics.append_latency.observe((time.perf_counter() - started) * 1000)
        return outcome_response(outcome)


class ResponseStoreApi(APIView):
    @extend_schema(
        operation_id="sessions_responses_store",
        request=ResponseStoreInputSerializer,
        responses={201: ResponseStoreOutputSerializer},
        parameters=[IDEMPOTENCY_HEADER],
    )
    def post(self, request):
        data = validated(ResponseStoreInputSerializer, request.data)
        outcome = services.response_store(
            tenant=request.user.tenant,
            input_items=data.get("input") or [],
            output_items=data.get("output") or [],
            response_id=data.get("response_id"),
            previous_response_id=data.get("previous_response_id"),
            conversation_id=data.get("conversation_id"),
            model=data.get("model") or "",
            usage=data.get("usage"),
            idempotency_key=idempotency_key(request),
            request_hash=canonical.digest(request.data),
        )
        return outcome_response(outcome)


class ResponseResolveApi(APIView):
    def prefetch(self, request, tenant_id: int) -> list:
        """Resolve's Redis reads, made in the API key's round trip (sessions_app.auth). The edge
        (convostore.edge) already refused a malformed id; an absent one reads nothing (the view answers 400)."""
        response_id = request.query_params.get("previous_response_id")
        if not response_id:
            return []
        return selectors.response_resolve_queries(tenant_id=tenant_id, response_id=response_id)

    @extend_schema(
        operation_id="sessions_resolve",
        parameters=[OpenApiParameter("previous_response_id", str, required=True)],
        responses={200: ResolveOutputSerializer},
    )
    def get(self, request):
        started = time.perf_counter()
        response_id = validated(ResolveQuerySerializer, request.query_params)["previous_response_id"]
        resolved = selectors.response_resolve(
            tenant=request.user.tenant, response_id=response_id, prefetched=request.user.prefetched
        )
        body = resolved.body_json()
        metrics.resolve_latency.observe((time.perf_counter() - started) * 1000)
        metrics.estimated_input_tokens.observe(resolved.estimated_input_tokens)
        return HttpResponse(body, content_type="application/json")


class ConversationDetailApi(APIView):
    @extend_schema(operation_id="sessions_retrieve", responses={200: ConversationOutputSerializer})
    def get(self, request, conversation_id: str):
        conversation = selectors.conversation_get(tenant=request.user.tenant, conversation_id=conversation_id)
        return Response(conversation_body(conversation))

    @extend_schema(
        operation_id="sessions_delete",
        responses={200: inline_serializer("SessionDeleted", {"id": serializers.CharField(), "deleted": serializers.BooleanField()})},
    )
    def delete(self, request, conversation_id: str):
        services.conversation_delete(tenant=request.user.tenant, conversation_id=conversation_id)
        return Response({"id": conversation_id, "deleted": True})


class ConversationItemsApi(APIView):
    def prefetch(self, request, tenant_id: int) -> list:
        """The window, read in the API key's round trip (sessions_app.auth; the edge checked the id)."""
        return selectors.items_page_queries(tenant_id=tenant_id, conversation_id=self.kwargs["conversation_id"])

    @extend_schema(
        operation_id="sessions_items_list",
        parameters=[
            OpenApiParameter("after", str),
            OpenApiParameter("limit", int),
            OpenApiParameter("order", str, enum=["asc", "desc"]),
        ],
        responses={200: ItemListOutputSerializer},
    )
    def get(self, request, conversation_id: str):
        paging = page_query(request, default_order="asc")
        page = selectors.conversation_items_page(tenant=request.user.tenant, conversation_id=conversation_id,
                                                 prefetched=request.user.prefetched, **paging)
        return Response(item_page_body(page))
