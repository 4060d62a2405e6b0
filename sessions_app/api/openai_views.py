"""What every OpenAI-compatible view shares: the base view, `include`, the input serializers.

Ids in URLs are checked at the edge (convostore.edge.PATH_RULES) before any view runs."""

from __future__ import annotations

from rest_framework.views import APIView

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
