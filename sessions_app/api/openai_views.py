"""What every OpenAI-compatible view shares: the base view, `include`, ids in URLs."""

from __future__ import annotations

from rest_framework.views import APIView

from convostore import canonical
from convostore.errors import ValidationFailed

from .fields import InputSerializer, ItemsField, MetadataField

# The documented values of OpenAI's `include`; none adds anything here (items are returned as stored).
INCLUDABLE = frozenset(
    {
        "file_search_call.results",
        "web_search_call.results",
        "web_search_call.action.sources",
        "message.input_image.image_url",
        "computer_call_output.output.image_url",
        "code_interpreter_call.outputs",
        "reasoning.encrypted_content",
        "message.output_text.logprobs",
    }
)


class OpenAIApi(APIView):
    """Base of the OpenAI-compatible views (authentication and the per-key rate limit are the project defaults)."""


def include_values(request) -> list[str]:
    """``include`` (the SDK sends ``include[]=…``): documented values are accepted and ignored, others are 400."""
    values = request.query_params.getlist("include") + request.query_params.getlist("include[]")
    for value in values:
        if value not in INCLUDABLE:
            raise ValidationFailed(
                f"Unknown 'include' value {value!r}; supported: {', '.join(sorted(INCLUDABLE))}.", param="include", code="invalid_value"
            )
    return values


def conversation_id_param(conversation_id: str) -> str:
    return canonical.validate_conversation_id(conversation_id)


def item_id_param(item_id: str) -> str:
    if not canonical.ITEM_ID_RE.match(item_id):
        raise ValidationFailed("Item ids are 1–96 characters of [A-Za-z0-9_.:-].", param="item_id", code="invalid_value")
    return item_id


def response_id_param(response_id: str) -> str:
    return canonical.validate_response_id(response_id, "response_id")


def body_or_empty(request) -> dict:
    """The body as sent; an absent body counts as ``{}`` (create with no arguments)."""
    if request.META.get("CONTENT_LENGTH") in (None, "", "0"):
        return {}
    return request.data


class ConversationCreateInputSerializer(InputSerializer):
    """OpenAI's ``conversations.create``: optional initial ``items`` and ``metadata``."""

    items = ItemsField(required=False, allow_null=True)
    metadata = MetadataField(required=False, allow_null=True)


class ConversationUpdateInputSerializer(InputSerializer):
    """OpenAI's ``conversations.update``: ``metadata`` replaces the conversation's."""

    metadata = MetadataField(allow_null=True)


class ItemsCreateInputSerializer(InputSerializer):
    """OpenAI's ``conversations.items.create``: ``items`` to append (each checked by the service)."""

    items = ItemsField()
