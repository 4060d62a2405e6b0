"""Input serializers (they validate) and output shapes of the native API."""

from __future__ import annotations

import json

from rest_framework import serializers

from .fields import InputSerializer, ItemsField, MetadataField, StrictCharField, StrictIntegerField


class AppendInputSerializer(InputSerializer):
    """``{"items": [...], "expected_version"?, "metadata"?, "ttl_seconds"?}`` (or one bare item, see the view).

    At most CONVOSTORE_MAX_ITEMS_PER_APPEND items (20 by default), each checked by the append service.
    """

    items = ItemsField()
    expected_version = StrictIntegerField(required=False, allow_null=True, min_value=0)
    metadata = MetadataField(required=False, allow_null=True)
    ttl_seconds = StrictIntegerField(required=False, allow_null=True, min_value=1)


class AppendedItemSerializer(serializers.Serializer):
    id = serializers.CharField()
    seq = serializers.IntegerField()


class AppendOutputSerializer(serializers.Serializer):
    conversation_id = serializers.CharField()
    version = serializers.IntegerField()
    items = AppendedItemSerializer(many=True)


class ResponseStoreInputSerializer(InputSerializer):
    """A model response to store: its input and output items, where it continues (or forks), model and usage."""

    response_id = StrictCharField(required=False, allow_null=True, max_length=96)
    previous_response_id = StrictCharField(required=False, allow_null=True, max_length=96)
    conversation_id = StrictCharField(required=False, allow_null=True, max_length=64)
    input = ItemsField(required=False, allow_null=True)
    output = ItemsField(required=False, allow_null=True)
    model = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=200)
    usage = serializers.DictField(required=False, allow_null=True)


class ResolveQuerySerializer(serializers.Serializer):
    previous_response_id = serializers.CharField()


class ResponseStoreOutputSerializer(serializers.Serializer):
    response_id = serializers.CharField()
    conversation_id = serializers.CharField()
    version = serializers.IntegerField()
    forked = serializers.BooleanField()


class ResolveOutputSerializer(serializers.Serializer):
    conversation_id = serializers.CharField()
    response_id = serializers.CharField()
    items = serializers.ListField(child=serializers.DictField())
    version = serializers.IntegerField()
    estimated_input_tokens = serializers.IntegerField()


class ConversationOutputSerializer(serializers.Serializer):
    id = serializers.CharField()
    version = serializers.IntegerField()
    last_seq = serializers.IntegerField()
    tier = serializers.CharField()
    items = serializers.IntegerField()
    bytes = serializers.IntegerField()
    estimated_tokens = serializers.IntegerField()
    metadata = serializers.DictField()
    parent = serializers.CharField(allow_null=True)
    fork_seq = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    last_active_at = serializers.DateTimeField()


class ItemListOutputSerializer(serializers.Serializer):
    object = serializers.CharField()
    data = serializers.ListField(child=serializers.DictField())
    first_id = serializers.CharField(allow_null=True)
    last_id = serializers.CharField(allow_null=True)
    has_more = serializers.BooleanField()


def conversation_body(conversation) -> dict:
    return {
        "id": conversation.conversation_id,
        "version": conversation.version,
        "last_seq": conversation.last_seq,
        "tier": conversation.tier,
        "items": conversation.item_count,
        "bytes": conversation.byte_count,
        "estimated_tokens": conversation.token_count,
        "metadata": conversation.metadata,
        "parent": conversation.parent.conversation_id if conversation.parent_id else None,
        "fork_seq": conversation.fork_seq,
        "created_at": conversation.created_at.isoformat().replace("+00:00", "Z"),
        "last_active_at": conversation.last_active_at.isoformat().replace("+00:00", "Z"),
    }


def item_body(entry) -> dict:
    item = json.loads(entry.raw)
    item["seq"] = entry.seq
    return item


def item_page_body(page) -> dict:
    data = [item_body(entry) for entry in page.entries]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": page.has_more,
    }
