"""OpenAI stored-response reads (/v1/responses/{id}, /input_items) and delete, for responses stored natively."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from convostore.errors import Unprocessable

from .. import selectors
from ..services import conversations
from . import openai_shapes as shapes
from .fields import page_query
from .openai_conversations import INCLUDE, PAGING
from .openai_views import OpenAIApi, include_values

TRUE_WORDS = ("true", "1", "yes")


class ResponseApi(OpenAIApi):
    @extend_schema(
        operation_id="openai_responses_retrieve",
        parameters=[INCLUDE, OpenApiParameter("stream", bool), OpenApiParameter("include_obfuscation", bool)],
        responses={200: dict},
    )
    def get(self, request, response_id: str):
        include_values(request)
        if (request.query_params.get("stream") or "").lower() in TRUE_WORDS:
            raise Unprocessable(
                "Stored responses cannot be replayed as a stream; retrieve them without 'stream'.", param="stream", code="stream_unsupported"
            )
        response, output = selectors.response_output_get(tenant=request.user.tenant, response_id=response_id)
        return Response(shapes.response_shape(response, output))

    @extend_schema(operation_id="openai_responses_delete", responses={200: dict})
    def delete(self, request, response_id: str):
        conversations.response_delete(tenant=request.user.tenant, response_id=response_id)
        return Response(shapes.response_deleted_shape(response_id))


class ResponseInputItemsApi(OpenAIApi):
    @extend_schema(operation_id="openai_responses_input_items_list", parameters=PAGING, responses={200: dict})
    def get(self, request, response_id: str):
        include_values(request)
        paging = page_query(request, default_order="desc")
        response = selectors.response_get(tenant=request.user.tenant, response_id=response_id)
        input_entries, _ = selectors.response_items(response)
        return Response(shapes.page(input_entries, **paging))
