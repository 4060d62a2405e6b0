"""The body of POST /v1/responses (OpenAI's ResponseCreateParams, as the SDK sends it), validated before any upstream call."""

from __future__ import annotations

from dataclasses import dataclass, field

from rest_framework import serializers

from convostore import canonical
from convostore.errors import ValidationFailed

from ..api.fields import InputSerializer, MetadataField

MAX_INSTRUCTIONS_CHARS = 256 * 1024


class ResponseCreateInputSerializer(InputSerializer):
    """Typed fields; ``input`` and ``conversation`` are checked by hand (they take two shapes)."""

    model = serializers.CharField(max_length=200)
    input = serializers.JSONField()
    instructions = serializers.CharField(required=False, allow_null=True, allow_blank=True, trim_whitespace=False,
                                         max_length=MAX_INSTRUCTIONS_CHARS)
    previous_response_id = serializers.CharField(required=False, allow_null=True, max_length=96)
    conversation = serializers.JSONField(required=False, allow_null=True)
    store = serializers.BooleanField(required=False, allow_null=True)
    stream = serializers.BooleanField(required=False, allow_null=True)
    background = serializers.BooleanField(required=False, allow_null=True)
    tools = serializers.ListField(child=serializers.DictField(), required=False, allow_null=True, max_length=128)
    tool_choice = serializers.JSONField(required=False, allow_null=True)
    parallel_tool_calls = serializers.BooleanField(required=False, allow_null=True)
    temperature = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=2)
    top_p = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=1)
    max_output_tokens = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    metadata = MetadataField(required=False, allow_null=True)
    truncation = serializers.ChoiceField(["auto", "disabled"], required=False, allow_null=True)
    include = serializers.ListField(child=serializers.CharField(max_length=200), required=False, allow_null=True, max_length=32)
    text = serializers.DictField(required=False, allow_null=True)
    reasoning = serializers.DictField(required=False, allow_null=True)
    user = serializers.CharField(required=False, allow_null=True, max_length=512)
    safety_identifier = serializers.CharField(required=False, allow_null=True, max_length=512)
    prompt_cache_key = serializers.CharField(required=False, allow_null=True, max_length=512)
    convostore = serializers.DictField(required=False, allow_null=True)


KNOWN_FIELDS = frozenset(ResponseCreateInputSerializer._declared_fields)


@dataclass
class GatewayRequest:
    """One validated create. ``input_items`` are the new items (a string input is one user message)."""

    model: str
    input_items: list[dict]
    instructions: str | None = None
    previous_response_id: str | None = None
    conversation_id: str | None = None
    store: bool = True
    stream: bool = False
    tools: list = field(default_factory=list)
    tool_choice: object = None
    parallel_tool_calls: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    metadata: dict = field(default_factory=dict)
    truncation: str = "disabled"
    include: list | None = None
    text: dict | None = None
    reasoning: dict | None = None
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    extensions: dict = field(default_factory=dict)  # the "convostore" object
    passthrough: dict = field(default_factory=dict)  # fields ConvoStore does not know: sent to responses upstreams only
    chat_extra: dict = field(default_factory=dict)  # the same for /v1/chat/completions: sent to chat_completions upstreams only
    request_hash: str = ""

    def echo(self) -> dict:
        """What the Responses object echoes besides instructions, tools and metadata (kept in Response.params)."""
        params = {"tool_choice": self.tool_choice if self.tool_choice is not None else "auto",
                  "parallel_tool_calls": True if self.parallel_tool_calls is None else self.parallel_tool_calls,
                  "temperature": self.temperature, "top_p": self.top_p, "max_output_tokens": self.max_output_tokens,
                  "truncation": self.truncation, "store": self.store, "conversation": self.conversation_id,
                  "text": self.text or {"format": {"type": "text"}}, "reasoning": self.reasoning,
                  "user": self.user, "safety_identifier": self.safety_identifier, "prompt_cache_key": self.prompt_cache_key}
        return params


def parse(data: dict) -> GatewayRequest:
    """Validate a create body; every problem is a 400 naming its ``param``."""
    serializer = ResponseCreateInputSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    values = serializer.validated_data
    if values.get("background"):
        raise ValidationFailed("Background responses are not supported here.", param="background", code="unsupported_value")
    previous, conversation = values.get("previous_response_id"), _conversation_id(values.get("conversation"))
    if previous is not None:
        canonical.validate_response_id(previous, "previous_response_id")
    if previous is not None and conversation is not None:
        raise ValidationFailed("Send either 'previous_response_id' or 'conversation', not both.", param="conversation",
                               code="invalid_value")
    return GatewayRequest(
        model=values["model"],
        input_items=_input_items(values["input"]),
        instructions=values.get("instructions") or None,
        previous_response_id=previous,
        conversation_id=conversation,
        store=values.get("store") is not False,
        stream=bool(values.get("stream")),
        tools=values.get("tools") or [],
        tool_choice=_tool_choice(values.get("tool_choice")),
        parallel_tool_calls=values.get("parallel_tool_calls"),
        temperature=values.get("temperature"),
        top_p=values.get("top_p"),
        max_output_tokens=values.get("max_output_tokens"),
        metadata=values.get("metadata") or {},
        truncation=values.get("truncation") or "disabled",
        include=values.get("include"),
        text=values.get("text"),
        reasoning=values.get("reasoning"),
        user=values.get("user"),
        safety_identifier=values.get("safety_identifier"),
        prompt_cache_key=values.get("prompt_cache_key"),
        extensions=values.get("convostore") or {},
        passthrough={key: value for key, value in data.items() if key not in KNOWN_FIELDS},
        request_hash=canonical.digest(data),
    )


def _conversation_id(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("id")
    return canonical.validate_conversation_id(value, "conversation")


def _input_items(value) -> list[dict]:
    if isinstance(value, str):
        if not value:
            raise ValidationFailed("'input' may not be empty.", param="input", code="invalid_value")
        return [{"type": "message", "role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise ValidationFailed("'input' must be a string or a non-empty list of items.", param="input", code="invalid_type")
    for index, item in enumerate(value):
        if isinstance(item, dict) and item.get("type") == "item_reference":
            raise ValidationFailed("Item references are not supported; send the item itself.", param=f"input[{index}]",
                                   code="unsupported_value")
    return value


def _tool_choice(value):
    if value is None or value in ("auto", "none", "required"):
        return value
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        return value
    raise ValidationFailed("'tool_choice' must be 'auto', 'none', 'required' or an object.", param="tool_choice", code="invalid_value")
