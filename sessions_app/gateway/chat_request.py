"""The body of POST /v1/chat/completions (OpenAI's CompletionCreateParams) as a GatewayRequest, validated before any upstream call."""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework import serializers

from convostore import canonical
from convostore.errors import ValidationFailed

from ..api.fields import InputSerializer, MetadataField
from . import translate
from .request import GatewayRequest

CONVERSATION_HEADER = "X-ConvoStore-Conversation"


class ChatCreateInputSerializer(InputSerializer):
    """Typed fields; fields not named here go to a chat_completions upstream unchanged (``seed``, ``stop``, ``n``, …)."""

    model = serializers.CharField(max_length=200)
    messages = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=10000)
    stream = serializers.BooleanField(required=False, allow_null=True)
    stream_options = serializers.DictField(required=False, allow_null=True)
    tools = serializers.ListField(child=serializers.DictField(), required=False, allow_null=True, max_length=128)
    tool_choice = serializers.JSONField(required=False, allow_null=True)
    parallel_tool_calls = serializers.BooleanField(required=False, allow_null=True)
    temperature = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=2)
    top_p = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=1)
    max_tokens = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    max_completion_tokens = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    response_format = serializers.DictField(required=False, allow_null=True)
    reasoning_effort = serializers.CharField(required=False, allow_null=True, max_length=32)
    metadata = MetadataField(required=False, allow_null=True)
    user = serializers.CharField(required=False, allow_null=True, max_length=512)
    store = serializers.BooleanField(required=False, allow_null=True)  # OpenAI's own flag: ignored, the conversation decides
    convostore = serializers.DictField(required=False, allow_null=True)


KNOWN_FIELDS = frozenset(ChatCreateInputSerializer._declared_fields)


@dataclass
class ChatRequest:
    """A validated chat create: the GatewayRequest it runs as, plus what only the chat answer needs."""

    gateway: GatewayRequest
    conversation_id: str | None  # None: a plain pass-through, nothing stored
    include_usage: bool  # stream_options.include_usage: a last chunk with usage and no choices


def parse(data: dict, *, header_conversation: str | None) -> ChatRequest:
    """Validate a chat create body; every problem is a 400 naming its ``param``.

    Leading system/developer messages become the instructions (sent first every time, never stored as items);
    the other messages are the new input items. The conversation comes from ``convostore.conversation`` or the
    X-ConvoStore-Conversation header (both: they must agree).
    """
    serializer = ChatCreateInputSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    values = serializer.validated_data
    extensions = dict(values.get("convostore") or {})
    conversation_id = _conversation_id(extensions.pop("conversation", None), header_conversation)
    leading, rest = _split_leading(values["messages"])
    if not rest:
        raise ValidationFailed("'messages' needs at least one message after the system messages.", param="messages",
                               code="invalid_value")
    text = _text_format(values.get("response_format"))
    gateway = GatewayRequest(
        model=values["model"], input_items=translate.messages_to_items(rest),
        instructions="\n\n".join(leading) or None, conversation_id=conversation_id, store=conversation_id is not None,
        stream=bool(values.get("stream")), tools=_tools(values.get("tools") or []), tool_choice=_tool_choice(values.get("tool_choice")),
        parallel_tool_calls=values.get("parallel_tool_calls"), temperature=values.get("temperature"), top_p=values.get("top_p"),
        max_output_tokens=values.get("max_completion_tokens") or values.get("max_tokens"), metadata=values.get("metadata") or {},
        truncation="auto", text=text, reasoning={"effort": values["reasoning_effort"]} if values.get("reasoning_effort") else None,
        user=values.get("user"), extensions=extensions,
        chat_extra={key: value for key, value in data.items() if key not in KNOWN_FIELDS},
        request_hash=canonical.digest({**data, "convostore": {**extensions, "conversation": conversation_id}}),
    )
    return ChatRequest(gateway, conversation_id, bool((values.get("stream_options") or {}).get("include_usage")))


def _conversation_id(body_value, header_value) -> str | None:
    if body_value is not None and header_value and body_value != header_value:
        raise ValidationFailed(f"convostore.conversation and the {CONVERSATION_HEADER} header name different conversations.",
                               param="convostore.conversation", code="invalid_value")
    value = body_value if body_value is not None else header_value or None
    return None if value is None else canonical.validate_conversation_id(value, "convostore.conversation")


def _split_leading(messages: list[dict]) -> tuple[list[str], list[dict]]:
    leading = []
    for index, message in enumerate(messages):
        if message.get("role") not in ("system", "developer"):
            return leading, messages[index:]
        leading.append(translate._text(message.get("content")))
    return leading, []


def _tools(tools: list[dict]) -> list[dict]:
    """Chat tools as Responses function tools (the gateway's form; upstream.py turns them back for chat upstreams)."""
    converted = []
    for index, tool in enumerate(tools):
        function = tool.get("function")
        if tool.get("type") != "function" or not isinstance(function, dict) or not function.get("name"):
            raise ValidationFailed("Only function tools with a name are supported.", param=f"tools[{index}]", code="unsupported_value")
        converted.append({"type": "function", **{k: function[k] for k in ("name", "description", "parameters", "strict") if k in function}})
    return converted


def _tool_choice(value):
    if value is None or value in ("auto", "none", "required"):
        return value
    if isinstance(value, dict) and value.get("type") == "function" and (value.get("function") or {}).get("name"):
        return {"type": "function", "name": value["function"]["name"]}
    raise ValidationFailed("'tool_choice' must be 'auto', 'none', 'required' or a function.", param="tool_choice", code="invalid_value")


def _text_format(value: dict | None) -> dict | None:
    if not value or value.get("type") == "text":
        return None
    if value.get("type") == "json_object":
        return {"format": {"type": "json_object"}}
    if value.get("type") == "json_schema" and isinstance(value.get("json_schema"), dict):
        return {"format": {"type": "json_schema", **value["json_schema"]}}
    raise ValidationFailed("'response_format' must be text, json_object or json_schema.", param="response_format", code="invalid_value")
