"""OpenAI Conversations API (/v1/conversations…) over the same services as the native API."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from convostore.errors import ValidationFailed

from .. import selectors
from ..services import conversations
from ..services.deletion import conversation_delete
from . import inputs, openai_shapes as shapes
from .openai_views import OpenAIApi, body_or_empty, conversation_id_param, include_values, item_id_param

INCLUDE = OpenApiParameter("include", str, many=True)
PAGING = [
    OpenApiParameter("after", str),
    OpenApiParameter("limit", int),
    OpenApiParameter("order", str, enum=["asc", "desc"]),
    INCLUDE,
]


def _items(data: dict, *, required: bool):
    items = data.get("items")
    if items is None:
        if required:
            raise ValidationFailed("'items' is required.", param="items", code="missing_required_parameter")
        return []
    if not isinstance(items, list):
        raise ValidationFailed("'items' must be a list of items.", param="items", code="invalid_type")
    return items


class ConversationsApi(OpenAIApi):
    @extend_schema(operation_id="openai_conversations_create", request=None, responses={200: dict})
    def post(self, request):
        data = body_or_empty(request)
        conversation = conversations.conversation_create(
            tenant=request.user.tenant, items=_items(data, required=False), metadata=inputs.metadata(data)
        )
        return Response(shapes.conversation_shape(conversation))


class ConversationApi(OpenAIApi):
    @extend_schema(operation_id="openai_conversations_retrieve", responses={200: dict})
    def get(self, request, conversation_id: str):
        conversation_id_param(conversation_id)
        conversation = selectors.conversation_get(tenant=request.user.tenant, conversation_id=conversation_id)
        return Response(shapes.conversation_shape(conversation))

    @extend_schema(operation_id="openai_conversations_update", request=None, responses={200: dict})
    def post(self, request, conversation_id: str):
        conversation_id_param(conversation_id)
        data = inputs.body_object(request)
        if "metadata" not in data:
            raise ValidationFailed("'metadata' is required.", param="metadata", code="missing_required_parameter")
        conversation = conversations.conversation_update_metadata(
            tenant=request.user.tenant, conversation_id=conversation_id, metadata=inputs.metadata(data) or {}
        )
        return Response(shapes.conversation_shape(conversation))

    @extend_schema(operation_id="openai_conversations_delete", responses={200: dict})
    def delete(self, request, conversation_id: str):
        conversation_id_param(conversation_id)
        conversation_delete(tenant=request.user.tenant, conversation_id=conversation_id)
        return Response(shapes.conversation_deleted_shape(conversation_id))


class ConversationItemsApi(OpenAIApi):
    @extend_schema(operation_id="openai_conversation_items_create", request=None, parameters=[INCLUDE], responses={200: dict})
    def post(self, request, conversation_id: str):
        conversation_id_param(conversation_id)
        include_values(request)
        data = inputs.body_object(request)
        entries = conversations.conversation_items_create(
            tenant=request.user.tenant, conversation_id=conversation_id, items=_items(data, required=True)
        )
        return Response(shapes.list_body(entries, has_more=False))

    @extend_schema(operation_id="openai_conversation_items_list", parameters=PAGING, responses={200: dict})
    def get(self, request, conversation_id: str):
        conversation_id_param(conversation_id)
        include_values(request)
        limit = inputs.query_int(request, "limit", default=20, minimum=1, maximum=100)
        order = inputs.query_order(request, default="desc")
        after = request.query_params.get("after") or None
        tenant = request.user.tenant
        conversation = selectors.conversation_get(tenant=tenant, conversation_id=conversation_id)
        page = selectors.items_page(tenant=tenant, conversation=conversation, after=after, limit=limit, order=order)
        return Response(shapes.list_body(page.entries, has_more=page.has_more))


class ConversationItemApi(OpenAIApi):
    @extend_schema(operation_id="openai_conversation_items_retrieve", parameters=[INCLUDE], responses={200: dict})
    def get(self, request, conversation_id: str, item_id: str):
        conversation_id_param(conversation_id)
        item_id_param(item_id)
        include_values(request)
        tenant = request.user.tenant
        conversation = selectors.conversation_get(tenant=tenant, conversation_id=conversation_id)
        entry = selectors.conversation_item_get(tenant=tenant, conversation=conversation, item_id=item_id)
        return Response(shapes.item_shape(entry.raw))

    @extend_schema(operation_id="openai_conversation_items_delete", responses={200: dict})
    def delete(self, request, conversation_id: str, item_id: str):
        conversation_id_param(conversation_id)
        item_id_param(item_id)
        conversation = conversations.item_delete(tenant=request.user.tenant, conversation_id=conversation_id, item_id=item_id)
        return Response(shapes.conversation_shape(conversation))
