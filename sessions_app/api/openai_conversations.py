"""OpenAI Conversations API (/v1/conversations…) over the same services as the native API."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from .. import selectors
from ..services import conversations
from ..services.deletion import conversation_delete
from . import openai_shapes as shapes
from .fields import page_query, validated
from .openai_views import (
    ConversationCreateInputSerializer,
    ConversationUpdateInputSerializer,
    ItemsCreateInputSerializer,
    OpenAIApi,
    body_or_empty,
    include_values,
)

INCLUDE = OpenApiParameter("include", str, many=True)
PAGING = [
    OpenApiParameter("after", str),
    OpenApiParameter("limit", int),
    OpenApiParameter("order", str, enum=["asc", "desc"]),
    INCLUDE,
]


class ConversationsApi(OpenAIApi):
    @extend_schema(operation_id="openai_conversations_create", request=ConversationCreateInputSerializer, responses={200: dict})
    def post(self, request):
        data = validated(ConversationCreateInputSerializer, body_or_empty(request))
        conversation = conversations.conversation_create(
            tenant=request.user.tenant, items=data.get("items") or [], metadata=data.get("metadata")
        )
        return Response(shapes.conversation_shape(conversation))


class ConversationApi(OpenAIApi):
    @extend_schema(operation_id="openai_conversations_retrieve", responses={200: dict})
    def get(self, request, conversation_id: str):
        conversation = selectors.conversation_get(tenant=request.user.tenant, conversation_id=conversation_id)
        return Response(shapes.conversation_shape(conversation))

    @extend_schema(operation_id="openai_conversations_update", request=ConversationUpdateInputSerializer, responses={200: dict})
    def post(self, request, conversation_id: str):
        data = validated(ConversationUpdateInputSerializer, request.data)
        conversation = conversations.conversation_update_metadata(
            tenant=request.user.tenant, conversation_id=conversation_id, metadata=data["metadata"] or {}
        )
        return Response(shapes.conversation_shape(conversation))

    @extend_schema(operation_id="openai_conversations_delete", responses={200: dict})
    def delete(self, request, conversation_id: str):
        conversation_delete(tenant=request.user.tenant, conversation_id=conversation_id)
        return Response(shapes.conversation_deleted_shape(conversation_id))


class ConversationItemsApi(OpenAIApi):
    def prefetch(self, request, tenant_id: int) -> list:
        """The window, read in the API key's round trip (sessions_app.auth; the edge checked the id)."""
        return selectors.items_page_queries(tenant_id=tenant_id, conversation_id=self.kwargs["conversation_id"])

    @extend_schema(operation_id="openai_conversation_items_create", request=ItemsCreateInputSerializer, parameters=[INCLUDE], responses={200: dict})
    def post(self, request, conversation_id: str):
        include_values(request)
        data = validated(ItemsCreateInputSerializer, request.data)
        entries = conversations.conversation_items_create(
            tenant=request.user.tenant, conversation_id=conversation_id, items=data["items"]
        )
        return Response(shapes.list_body(entries, has_more=False))

    @extend_schema(operation_id="openai_conversation_items_list", parameters=PAGING, responses={200: dict})
    def get(self, request, conversation_id: str):
        include_values(request)
        paging = page_query(request, default_order="desc")
        page = selectors.conversation_items_page(tenant=request.user.tenant, conversation_id=conversation_id,
                                                 prefetched=request.user.prefetched, **paging)
        return Response(shapes.list_body(page.entries, has_more=page.has_more))


class ConversationItemApi(OpenAIApi):
    @extend_schema(operation_id="openai_conversation_items_retrieve", parameters=[INCLUDE], responses={200: dict})
    def get(self, request, conversation_id: str, item_id: str):
        include_values(request)
        entry = selectors.conversation_item_get(tenant=request.user.tenant, conversation_id=conversation_id, item_id=item_id)
        return Response(shapes.item_shape(entry.raw))

    @extend_schema(operation_id="openai_conversation_items_delete", responses={200: dict})
    def delete(self, request, conversation_id: str, item_id: str):
        conversation = conversations.item_delete(tenant=request.user.tenant, conversation_id=conversation_id, item_id=item_id)
        return Response(shapes.conversation_shape(conversation))
