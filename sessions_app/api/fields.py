"""What every API's input serializers share: strict JSON fields, metadata, paging, the Idempotency-Key header.

Bodies and query strings are validated by DRF serializers (``validated(SerializerClass, data)``);
the project's exception handler turns their errors into the OpenAI error shape with ``param`` naming the
field (``metadata.key`` for a nested one). Items themselves are validated by the service that writes them
(sessions_app.services.items.prepare_items), which names ``items[i].field``.
"""

from __future__ import annotations

import threading

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.settings import api_settings

from convostore import edge
from convostore.errors import ValidationFailed

METADATA_MAX_KEYS = 16
METADATA_KEY_CHARS = 64
METADATA_VALUE_CHARS = 512
PAGE_MAX = 100


class StrictCharField(serializers.CharField):
    """A JSON string (numbers and booleans are refused, not turned into text); whitespace kept."""

    default_error_messages = {"invalid": "Must be a string."}

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer (strings, floats and booleans are refused)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field({"type": "object", "additionalProperties": True, "description": "An OpenAI item (message, function_call, …)."})
class ItemField(serializers.Field):
    """One item as parsed from the JSON body, passed on untouched (DRF's JSONField re-encodes, which deep nesting breaks)."""

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value


class ItemsField(serializers.ListField):
    """A JSON list of items; each item is checked by the service that writes it (it names ``items[i]``)."""

    def __init__(self, **kwargs):
        super().__init__(child=ItemField(), **kwargs)


class MetadataField(serializers.DictField):
    """At most 16 keys of at most 64 characters, each a string value of at most 512 characters."""

    def __init__(self, **kwargs):
        super().__init__(child=StrictCharField(max_length=METADATA_VALUE_CHARS, allow_blank=True), **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if len(value) > METADATA_MAX_KEYS:
            raise serializers.ValidationError(f"'metadata' may hold at most {METADATA_MAX_KEYS} keys.")
        if any(len(key) > METADATA_KEY_CHARS for key in value):
            raise serializers.ValidationError(f"Metadata keys are at most {METADATA_KEY_CHARS} characters.")
        return value


class InputSerializer(serializers.Serializer):
    """Base of every body serializer: the body must be a JSON object.

    Its strings and numbers are not walked again here: convostore.parsers.StrictJSONParser, which every body
    passes, refused NUL, lone surrogates and non-finite numbers at any depth, naming the JSON path.
    """

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise ValidationFailed("The request body must be a JSON object.", code="invalid_type")
        return super().to_internal_value(data)


class PageQuerySerializer(serializers.Serializer):
    """``after`` (an item id), ``limit`` 1..100 (default 20), ``order`` asc|desc (the default is the API's)."""

    after = serializers.CharField(required=False, allow_blank=True, default="")
    limit = serializers.IntegerField(required=False, default=20, min_value=1, max_value=PAGE_MAX)
    order = serializers.ChoiceField(choices=["asc", "desc"], required=False, allow_blank=True)


_BOUND: dict[type, serializers.Serializer] = {}
_BOUND_LOCK = threading.Lock()


def _bound(serializer_class) -> serializers.Serializer:
    """One instance per serializer class, its fields built once: DRF deep-copies every declared field for each new
    instance, which cost more than validating a query string (bench/api_latency.py). Validation keeps no state
    on the instance, so threads share it."""
    serializer = _BOUND.get(serializer_class)
    if serializer is None:
        with _BOUND_LOCK:
            serializer = _BOUND.get(serializer_class) or serializer_class()
            _ = serializer.fields  # built before any thread shares it
            _BOUND[serializer_class] = serializer
    return serializer


def validated(serializer_class, data) -> dict:
    """``data`` validated by ``serializer_class`` (400 with the field as ``param`` on failure).

    DRF's own validation (``run_validation``) with the errors ``is_valid(raise_exception=True)`` raises,
    on a shared instance of the class (see _bound).
    """
    try:
        return _bound(serializer_class).run_validation(data)
    except serializers.ValidationError as exc:
        detail = exc.detail
        if isinstance(detail, list) and len(detail) == 1 and getattr(detail[0], "code", None) == "null":
            detail = {api_settings.NON_FIELD_ERRORS_KEY: [ErrorDetail("No data provided", code="null")]}
        raise serializers.ValidationError(detail) from None


def page_query(request, *, default_order: str) -> dict:
    """The validated paging query of ``request``: ``{"after": id or None, "limit", "order"}``."""
    page = validated(PageQuerySerializer, request.query_params)
    return {"after": page["after"] or None, "limit": page["limit"], "order": page.get("order") or default_order}


def idempotency_key(request) -> str | None:
    """The ``Idempotency-Key`` header: 1–255 printable characters (convostore.edge's rule), or None when absent."""
    value = request.headers.get("Idempotency-Key")
    return None if value is None else edge.idempotency_key(value)
