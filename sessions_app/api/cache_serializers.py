"""Input and output serializers for /v1/cache (semantic cache and embedding cache)."""

from __future__ import annotations

import math

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cache_app.embedding_cache import MAX_BATCH, MAX_DIM
from cache_app.semantic import MAX_TTL_S


FLOAT32_MAX = 3.4028234663852886e38  # vectors are stored as float32: a larger magnitude would become inf


@extend_schema_field({"type": "array", "items": {"type": "number", "minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX},
                      "minItems": 1, "maxItems": MAX_DIM})
class EmbeddingField(serializers.Field):
    """A list of 1..MAX_DIM finite numbers within float32's range (booleans and strings are refused), as floats."""

    default_error_messages = {"invalid": f"Must be a list of 1 to {MAX_DIM} finite numbers (float32 range)."}

    def to_internal_value(self, data):
        if not isinstance(data, list) or not 1 <= len(data) <= MAX_DIM:
            self.fail("invalid")
        for value in data:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or abs(value) > FLOAT32_MAX:
                self.fail("invalid")
        return data

    def to_representation(self, value):
        return list(value)


def _text(**kwargs):
    return serializers.CharField(trim_whitespace=False, **kwargs)


class LookupInputSerializer(serializers.Serializer):
    namespace = _text(max_length=256)
    text = _text(required=False, allow_null=True, max_length=100_000)
    embedding = EmbeddingField(required=False, allow_null=True)
    threshold = serializers.FloatField(required=False, allow_null=True, min_value=0.0, max_value=1.0)
    context = _text(required=False, allow_null=True, max_length=256)
    require_exact_text = serializers.BooleanField(required=False, default=False)
    guard = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="A hit also needs the stored text to agree on numbers, units, negations, dates and names "
        "(default: the namespace's calibration, else on).",
    )

    def validate(self, attrs):
        if attrs.get("text") is None and attrs.get("embedding") is None:
            raise serializers.ValidationError({"text": "Send 'text' or 'embedding'."})
        if attrs.get("require_exact_text") and attrs.get("text") is None:
            raise serializers.ValidationError({"text": "'require_exact_text' needs 'text'."})
        return attrs


class StoreInputSerializer(serializers.Serializer):
    namespace = _text(max_length=256)
    text = _text(required=False, allow_null=True, max_length=100_000)
    embedding = EmbeddingField(required=False, allow_null=True)
    response = serializers.JSONField()
    ttl_s = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_TTL_S)
    context = _text(required=False, allow_null=True, max_length=256)
    conversation_id = _text(required=False, allow_null=True, min_length=1, max_length=64)

    def validate(self, attrs):
        if attrs.get("text") is None and attrs.get("embedding") is None:
            raise serializers.ValidationError({"text": "Send 'text' or 'embedding'."})
        if attrs.get("response") is None:
            raise serializers.ValidationError({"response": "This field may not be null."})
        return attrs


class LookupOutputSerializer(serializers.Serializer):
    hit = serializers.BooleanField()
    response = serializers.JSONField(required=False)
    similarity = serializers.FloatField(required=False)
    entry_id = serializers.CharField(required=False)
    age_s = serializers.FloatField(required=False)
    threshold = serializers.FloatField(help_text="The threshold this lookup used: the request's, the namespace's calibrated one, or the tenant's.")


class StoreOutputSerializer(serializers.Serializer):
    entry_id = serializers.CharField()
    namespace = serializers.CharField()
    expires_in_s = serializers.IntegerField()
    dimensions = serializers.IntegerField()
    evicted = serializers.IntegerField()


class EntryDeleteOutputSerializer(serializers.Serializer):
    id = serializers.CharField()
    deleted = serializers.BooleanField()


class NamespaceDeleteOutputSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    deleted = serializers.IntegerField()


class EmbeddingPutInputSerializer(serializers.Serializer):
    embedding = EmbeddingField()
    model = _text(min_length=1, max_length=128)
    ttl_s = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_TTL_S)


class EmbeddingOutputSerializer(serializers.Serializer):
    key = serializers.CharField()
    found = serializers.BooleanField(required=False)
    model = serializers.CharField(required=False)
    dimensions = serializers.IntegerField(required=False)
    embedding = serializers.ListField(child=serializers.FloatField(), required=False)
    expires_in_s = serializers.IntegerField(required=False, allow_null=True)


class EmbeddingBatchGetInputSerializer(serializers.Serializer):
    keys = serializers.ListField(child=_text(min_length=1, max_length=512), min_length=1, max_length=MAX_BATCH)


class EmbeddingBatchGetOutputSerializer(serializers.Serializer):
    object = serializers.CharField()
    data = EmbeddingOutputSerializer(many=True)
