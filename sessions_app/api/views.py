"""Native /v1/sessions API: views only validate, call one service or selector, and serialise."""

from __future__ import annotations

import time

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from convostore import metrics
from convostore.errors import ValidationFailed

from convostore import canonical

from .. import selectors, services
from ..auth import ResolveAuthentication
from . import inputs
from .serializers import (
    AppendInputSerializer,
    AppendOutputSerializer,
    ConversationOutputSerializer,
    ItemListOutputSerializer,
    ResolveOutputSerializer,
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
        canonical.validate_conversation_id(conversation_id)
        data = inputs.body_object(request)
        if "items" in data:
            items = data["items"]
            expected_version = inputs.optional_int(data, "expected_version")
        else:
            items, expected_version = [data], None
        outcome = services.conversation_append(
            tenant=request.user.tenant,
            conversation_id=conversation_id,
            items=items,
            expected_version=expected_version,
            idempotency_key=inputs.idempotency_key(request),
            request_hash=canonical.digest(data),
            metadata=inputs.metadata(data) if "items" in data else None,
            ttl_seconds=inputs.optional_int(data, "ttl_seconds", minimum=1) if "items" in data else None,
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
        data = inputs.body_object(request)
        for name in ("input", "output"):
            if name in data and not isinstance(data[name], list):
                raise ValidationFailed(f"'{name}' must be a list of items.", param=name, code="invalid_type")
        usage = data.get("usage")
        if usage is not None and not isinstance(usage, dict):
            raise ValidationFailed("'usage' must be an object.", param="usage", code="invalid_type")
        outcome = services.response_store(
            tenant=request.user.tenant,
            input_items=data.get("input") or [],
            output_items=data.get("output") or [],
            response_id=inputs.optional_str(data, "response_id", max_length=96),
            previous_response_id=inputs.optional_str(data, "previous_response_id", max_length=96),
            conversation_id=inputs.optional_str(data, "conversation_id", max_length=64),
            model=inputs.optional_str(data, "model") or "",
            usage=usage,
            idempotency_key=inputs.idempotency_key(request),
            request_hash=canonical.digest(data),
        )
        return outcome_response(outcome)


class ResponseResolveApi(APIView):
    authentication_classes = [ResolveAuthentication]

    @extend_schema(
        operation_id="sessions_resolve",
        parameters=[OpenApiParameter("previous_response_id", str, required=True)],
        responses={200: ResolveOutputSerializer},
    )
    def get(self, request):
        started = time.perf_counter()
        response_id = request.query_params.get("previous_response_id")
        if not response_id:
            raise ValidationFailed("'previous_response_id' is required.", param="previous_response_id", code="missing_required_parameter")
        canonical.validate_response_id(response_id, "previous_response_id")
        resolved = selectors.response_resolve(
            tenant=request.user.tenant, response_id=response_id, prefetched=request.user.prefetched
        )
        body = resolved.body_json()
        metrics.resolve_latency.observe((time.perf_counter() - started) * 1000)
        return HttpResponse(body, content_type="application/json")


class ConversationDetailApi(APIView):
    @extend_schema(operation_id="sessions_retrieve", responses={200: ConversationOutputSerializer})
    def get(self, request, conversation_id: str):
        canonical.validate_conversation_id(conversation_id)
        conversation = selectors.conversation_get(tenant=request.user.tenant, conversation_id=conversation_id)
        return Response(conversation_body(conversation))

    @extend_schema(
        operation_id="sessions_delete",
        responses={200: inline_serializer("SessionDeleted", {"id": serializers.CharField(), "deleted": serializers.BooleanField()})},
    )
    def delete(self, request, conversation_id: str):
        canonical.validate_conversation_id(conversation_id)
        services.conversation_delete(tenant=request.user.tenant, conversation_id=conversation_id)
        return Response({"id": conversation_id, "deleted": True})


class ConversationItemsApi(APIView):
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
        canonical.validate_conversation_id(conversation_id)
        limit = inputs.query_int(request, "limit", default=20, minimum=1, maximum=100)
        order = inputs.query_order(request, default="asc")
        after = request.query_params.get("after") or None
        tenant = request.user.tenant
        conversation = selectors.conversation_get(tenant=tenant, conversation_id=conversation_id)
        page = selectors.items_page(tenant=tenant, conversation=conversation, after=after, limit=limit, order=order)
        return Response(item_page_body(page))
